"""Whether vague prompts get the mode their words imply: compose score-only (8 bars, seeds 0 and 1) and
compare the key the model chose with the brief's implied mode.

    PYTHONPATH=src .venv/bin/python scripts/eval_mode.py
"""

from __future__ import annotations

from melodex import pipeline

PROMPTS = ("something sad for a rainy evening", "dark cinematic tension", "melancholic piano at night",
           "happy upbeat summer song", "gloomy ambient drone", "cheerful folk dance", "a mournful cello tune",
           "bright uplifting pop", "sad lo-fi beat", "triumphant brass fanfare")


def main() -> None:
    obeyed = total = 0
    for prompt in PROMPTS:
        for seed in (0, 1):
            options = pipeline.GenerateOptions(seed=seed, bars=8)
            brief = pipeline.read_brief(prompt, options)
            if brief.key is not None or brief.implied_mode is None:
                print(f"{prompt} | the brief implies no mode")
                break
            score, _ = pipeline.compose(brief, options, pipeline.seed_for(seed, "compose"),
                                        pipeline.shipped().structure)
            total += 1
            obeyed += score.key.mode == brief.implied_mode
            print(f"{prompt} | {brief.implied_mode} -> {score.key}")
    print(f"mode as implied: {obeyed}/{total}")


if __name__ == "__main__":
    main()
