"""Whether vague prompts get the mode their words imply: each prompt carries the mode a listener would
expect (labelled by hand); the brief must resolve that mode and the composed score (score-only, 8 bars,
seeds 0 and 1) must be in it.

The first ten prompts are the ones the brief's mood words were written against (tuning); the last ten
were written after, and no word list was changed for them (test).

    PYTHONPATH=src .venv/bin/python scripts/eval_mode.py
"""

from __future__ import annotations

from melodex import pipeline
from melodex.errors import run_script

TUNING = (("something sad for a rainy evening", "minor"), ("dark cinematic tension", "minor"),
          ("melancholic piano at night", "minor"), ("happy upbeat summer song", "major"),
          ("gloomy ambient drone", "minor"), ("cheerful folk dance", "major"), ("a mournful cello tune", "minor"),
          ("bright uplifting pop", "major"), ("sad lo-fi beat", "minor"), ("triumphant brass fanfare", "major"))
TEST = (("a lonely walk in the fog", "minor"), ("sunny morning coffee", "major"), ("a tense chase scene", "minor"),
        ("a joyful celebration", "major"), ("heartbreak at the end of summer", "minor"),
        ("a playful cartoon", "major"), ("an eerie abandoned hospital", "minor"),
        ("a peaceful sunrise over the sea", "major"), ("angry and defiant", "minor"), ("a warm hug", "major"))


def main() -> int:
    for name, prompts in (("tuning", TUNING), ("test", TEST)):
        heard = composed = total = 0
        for prompt, expected in prompts:
            for seed in (0, 1):
                options = pipeline.GenerateOptions(seed=seed, bars=8)
                brief = pipeline.read_brief(prompt, options)
                score, _ = pipeline.compose(brief, options, pipeline.seed_for(seed, "compose"),
                                            pipeline.shipped().structure)
                total += 1
                heard += brief.implied_mode == expected
                composed += score.key.mode == expected
                print(f"{name} | {prompt} | expected {expected} | brief {brief.implied_mode} "
                      f"({brief.sources.get('key', '-')}) | composed {score.key}")
        print(f"{name}: brief mode as the words imply {heard}/{total}, composed in it {composed}/{total}")
    return 0


if __name__ == "__main__":
    run_script(main)
