"""The committed prompt corpus (tests/fixtures/prompts/*.jsonl): hand-written prompts and the Brief fields each
must give. One line per prompt: {"prompt", "options"? (as for `generate`), "expect": {field: value}}.

Expected fields: bpm, bpm_range, meter ("3/4"), key ("E minor" or null), key_mode, mode, sections,
sections_start, sections_end, n_bars, duration_range, style, genre, mood, mood_not, instruments (exact
programs), instruments_include, instruments_exclude, chords, chords_start, texture_include, ignored,
ignored_include, notes_include (substrings), sources ({field: source}), error (substring of the message).
The text model is off (use_text_model=False) so the corpus runs in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from melodex.brief import Brief, parse, with_overrides
from melodex.errors import MelodexError

CORPUS = Path(__file__).parent / "fixtures" / "prompts"
CASES = [(f"{path.stem}:{i + 1}", json.loads(line)) for path in sorted(CORPUS.glob("*.jsonl"))
         for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()) if line.strip()]


def read(case: dict[str, Any]) -> Brief:
    options = dict(case.get("options", {}))
    return with_overrides(parse(case["prompt"], use_text_model=False), **options)


def check(brief: Brief, expect: dict[str, Any]) -> list[str]:
    """Every way the Brief differs from what the corpus line expects."""
    programs = [p for p, _ in brief.instruments]
    got = {
        "bpm": brief.bpm, "meter": f"{brief.meter[0]}/{brief.meter[1]}",
        "key": str(brief.key) if brief.key else None, "key_mode": brief.key.mode if brief.key else None,
        "mode": brief.mode, "n_bars": brief.n_bars, "style": brief.style, "genre": brief.genre, "mood": brief.mood,
        "sections": [list(s) for s in brief.sections] if brief.sections else None, "instruments": programs,
        "chords": [list(b) for b in brief.chords] if brief.chords is not None else None,
        "ignored": list(brief.ignored),
    }
    wrong = []
    for name, want in expect.items():
        if name in got:
            ok = got[name] == want
        elif name == "bpm_range":
            ok = want[0] <= brief.bpm <= want[1]
        elif name == "duration_range":
            ok = want[0] <= brief.duration_seconds <= want[1]
        elif name == "sections_start":
            ok = brief.sections is not None and [list(s) for s in brief.sections[:len(want)]] == want
        elif name == "sections_end":
            ok = brief.sections is not None and [list(s) for s in brief.sections[-len(want):]] == want
        elif name == "chords_start":
            ok = brief.chords is not None and [list(b) for b in brief.chords[:len(want)]] == want
        elif name == "mood_not":
            ok = brief.mood != want
        elif name == "instruments_include":
            ok = set(want) <= set(programs)
        elif name == "instruments_exclude":
            ok = not set(want) & set(programs)
        elif name == "texture_include":
            ok = set(want) <= set(brief.texture)
        elif name == "ignored_include":
            ok = set(want) <= set(brief.ignored)
        elif name == "notes_include":
            ok = all(any(w in n for n in brief.notes) for w in want)
        elif name == "sources":
            ok = all(brief.sources.get(k) == v for k, v in want.items())
        else:
            raise AssertionError(f"unknown expectation {name!r}")
        if not ok:
            shown = {"notes_include": brief.notes, "sources": brief.sources, "texture_include": brief.texture,
                     "duration_range": round(brief.duration_seconds, 1)}.get(name, got.get(name, got.get(
                         name.rsplit("_", 1)[0])))
            wrong.append(f"{name}: expected {want!r}, got {shown!r}")
    return wrong


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 300
    assert len({c["prompt"] for _, c in CASES}) >= 290
    assert sum(len(c["prompt"]) > 100 for _, c in CASES) >= 25  # long captions
    assert sum("error" in c["expect"] for _, c in CASES) >= 20  # contradictions and impossible asks


@pytest.mark.parametrize(("where", "case"), CASES, ids=[w for w, _ in CASES])
def test_prompt(where: str, case: dict[str, Any]) -> None:
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(MelodexError) as error:
            read(case)
        assert expect["error"] in str(error.value), f"{where}: {error.value}"
        assert "\n" not in str(error.value)
        return
    brief = read(case)
    wrong = check(brief, expect)
    assert not wrong, f"{where} {case['prompt']!r}: " + "; ".join(wrong)
