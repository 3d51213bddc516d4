"""Whether vague prompts get the mode their words imply: compose score-only (8 bars, seeds 0 and 1) and
compare the key the model chose with the brief's implied mode.

    PYTHONPATH=src .venv/bin/python scripts/eval_mode.py
"""

from melodex import pipeline

prompts = ["something sad for a rainy evening", "dark cinematic tension", "melancholic piano at night",
           "happy upbeat summer song", "gloomy ambient drone", "cheerful folk dance", "a mournful cello tune",
           "bright uplifting pop", "sad lo-fi beat", "triumphant brass fanfare"]
ok = total = implied = 0
for p in prompts:
    for seed in (0, 1):
        o = pipeline.GenerateOptions(seed=seed, bars=8)
        b = pipeline.read_brief(p, o)
        if b.key is not None or b.implied_mode is None:
            print("no implied mode:", p); break
        implied += 1
        s, _ = pipeline.compose(b, o, pipeline.seed_for(seed, "compose"))
        total += 1; ok += s.key.mode == b.implied_mode
        print(p, "|", b.implied_mode, "->", s.key)
print(f"mode as implied: {ok}/{total}")
