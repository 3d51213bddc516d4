"""`melodex eval` and `melodex sweep`: analysers on audio with a known tempo and key, distribution distances
on known distributions, the shipped prompt set, argument checks, and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from melodex import brief as brief_mod
from melodex.errors import MelodexError
from melodex.evaluate.analysers import key_score, measure_audio, tempo_hits
from melodex.evaluate.embedding import EMBEDDING, embed, frechet_distance, kernel_inception_distance
from melodex.evaluate.listen import DEFAULT_PROMPTS, EvalOptions, read_prompts, run_eval, score_checks, shorten
from melodex.evaluate.renderer import synthetic_score
from melodex.evaluate.report import distances
from melodex.evaluate.sweep import SweepOptions, parse_grid, word_direction
from melodex.score import Key, Score, Tempo, TimeSignature, Track
from melodex.soundfont import SoundFontSynth

pytest.importorskip("librosa")
ROOT = Path(__file__).resolve().parents[2]
RATE = 22050


# -- analysers ------------------------------------------------------------------------------------------


def click_track(bpm: float, seconds: float = 10.0) -> np.ndarray:
    audio = np.zeros(int(seconds * RATE), dtype=np.float32)
    click = (np.hanning(200) * np.sin(np.arange(200) * 0.5)).astype(np.float32)
    for beat in np.arange(0, seconds - 0.1, 60.0 / bpm):
        start = int(beat * RATE)
        audio[start : start + 200] += click
    return audio


def a_minor_progression() -> Score:
    """i - iv - V - i in A minor, block chords over a bass, eight bars."""
    chords = [(57, 60, 64), (50, 53, 57), (52, 56, 59), (57, 60, 64)]
    notes = []
    for bar, chord in enumerate(chords * 2):
        for pitch in (*chord, chord[0] - 12):
            notes.append((bar * 1920, 1800, pitch, 85))
    return Score(tracks=[Track(0, "harmony", notes=np.array(notes))], tempos=[Tempo(100)], key=Key(9, "minor"))


def test_click_track_tempo_is_heard_within_4_percent() -> None:
    heard = measure_audio(click_track(120), RATE)
    assert tempo_hits(heard.tempo_bpm, 120)["tempo_octave"], heard.tempo_bpm
    assert heard.drums_heard  # clicks are all transient


def test_a_minor_chords_rendered_by_the_soundfont_are_heard_in_a_minor() -> None:
    audio = SoundFontSynth().render(a_minor_progression(), RATE)
    heard = measure_audio(audio, RATE)
    assert heard.key == "A minor", heard
    assert not heard.drums_heard
    assert key_score(Key(9, "minor"), heard.key) == 1.0
    if heard.key_essentia is not None:  # the second analyser, where essentia is installed (the eval extra)
        assert heard.key_essentia == "A minor", heard
        assert tempo_hits(heard.tempo_essentia_bpm or 0.0, 100)["tempo_acc2"], heard


def test_essentia_key_names_are_read_with_their_accidentals() -> None:
    from melodex.evaluate.analysers import AnalysisError, key_from_name

    assert key_from_name("Eb", "major") == Key(3, "major")
    assert key_from_name("F#", "minor") == Key(6, "minor")
    assert key_from_name("B", "major") == Key(11, "major")
    with pytest.raises(AnalysisError, match="cannot read"):
        key_from_name("H", "dorian")


def test_drums_are_heard_only_when_the_band_has_a_kit() -> None:
    with_kit = synthetic_score(seconds=8, bpm=120)
    without = synthetic_score(seconds=8, bpm=120)
    without.tracks = [t for t in without.tracks if not t.is_drum]
    synth = SoundFontSynth()
    assert measure_audio(synth.render(with_kit, RATE), RATE).drums_heard
    assert not measure_audio(synth.render(without, RATE), RATE).drums_heard


def test_loudness_and_peaks_of_a_known_sine() -> None:
    t = np.arange(3 * RATE) / RATE
    sine = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    heard = measure_audio(np.stack([sine, sine], axis=1), RATE)
    assert heard.true_peak_dbtp == pytest.approx(20 * np.log10(0.5), abs=0.1)
    assert heard.clipped_fraction == 0.0
    assert heard.loudness_lufs == pytest.approx(-6.0, abs=0.2)  # BS.1770: 0 dBFS 1 kHz sine in both channels = 0 LUFS
    assert heard.flatness < 0.01


def test_tempo_and_key_scoring_rules() -> None:
    assert tempo_hits(121.0, 120) == {"tempo_exact": True, "tempo_octave": True, "tempo_acc2": True}
    assert tempo_hits(61.0, 120) == {"tempo_exact": False, "tempo_octave": True, "tempo_acc2": True}
    assert tempo_hits(40.5, 120) == {"tempo_exact": False, "tempo_octave": False, "tempo_acc2": True}
    assert not any(tempo_hits(100.0, 120).values())
    assert key_score(Key(9, "minor"), "C major") == pytest.approx(0.3)
    assert key_score(Key(0, "major"), "G major") == pytest.approx(0.5)
    assert key_score(Key(0, "major"), "F# major") == 0.0


# -- distribution distances -------------------------------------------------------------------------------


def test_frechet_and_kid_are_zero_for_one_distribution_and_grow_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    b = rng.normal(size=(400, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    same = frechet_distance(a, b)
    shifted = frechet_distance(a, b + 1.0)
    assert same < 0.5
    assert shifted == pytest.approx(same + 8.0, rel=0.15)  # |mean shift|^2 = 8
    kid_same, _ = kernel_inception_distance(a, b)
    kid_shift, _ = kernel_inception_distance(a, b + 1.0)
    assert abs(kid_same) < 0.05 < kid_shift
    wider, _ = kernel_inception_distance(a, b * 2.0)
    assert wider > 0.05


def test_one_measured_song_reports_no_distance_instead_of_failing() -> None:
    # `melodex eval` with one prompt ended in "KID needs at least two embeddings per set"
    rng = np.random.default_rng(0)
    one, real = distances(rng.normal(size=(1, 8)), rng.normal(size=(20, 8))), rng.normal(size=(20, 8))
    assert one["frechet"] is None and one["kid"] is None and one["n_generated"] == 1
    assert distances(real[:10], real[10:])["kid"] is not None


def test_embedding_is_deterministic_and_finite() -> None:
    audio = SoundFontSynth().render(a_minor_progression(), RATE)
    first, second = embed(audio, RATE), embed(audio, RATE)
    assert first.shape == (86,) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)
    assert EMBEDDING == "stats-v1"


# -- the prompt set ----------------------------------------------------------------------------------------


def test_shipped_prompt_set_is_large_varied_and_parses() -> None:
    prompts = read_prompts(ROOT / DEFAULT_PROMPTS)
    assert len(prompts) >= 150
    assert len(set(prompts)) == len(prompts)
    briefs = [brief_mod.parse(p, use_text_model=False) for p in prompts]
    explicit_meters = {b.meter for b in briefs if b.sources["meter"] == "prompt"}
    assert {(2, 4), (3, 4), (4, 4), (6, 8)} <= explicit_meters
    explicit_bpm = [b.bpm for b in briefs if b.sources["bpm"] == "prompt"]
    assert min(explicit_bpm) == 60 and max(explicit_bpm) == 180
    assert len({bpm // 20 for bpm in explicit_bpm}) >= 7  # every 20-BPM band from 60 to 180
    assert sum(b.sections is not None for b in briefs) >= 30  # explicit forms
    assert sum(b.key is not None for b in briefs) >= 60
    vague = [b for b in briefs if b.sources["bpm"] != "prompt" and b.key is None and b.sections is None]
    assert len(vague) >= 30
    for b in briefs:
        short = shorten(b, 8)
        assert short.n_bars <= 8
        if short.sections:
            assert sum(n for _, n in short.sections) == short.n_bars


def test_read_prompts_skips_comments_and_fails_clearly(tmp_path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("# a comment\n\ncalm piano\n  # indented comment\nfast reel\n")
    assert read_prompts(path) == ["calm piano", "fast reel"]
    with pytest.raises(MelodexError, match="does not exist"):
        read_prompts(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(MelodexError, match="no prompts"):
        read_prompts(tmp_path / "empty.txt")


def test_shorten_keeps_the_form_in_order() -> None:
    brief = brief_mod.parse("intro 4 bars, verse 8, chorus 8, outro 4", use_text_model=False)
    short = shorten(brief, 8)
    assert [name for name, _ in short.sections] == ["intro", "verse", "chorus", "outro"]
    assert short.n_bars == 8 and all(n >= 1 for _, n in short.sections)
    many = brief_mod.parse("verse 2, chorus 2, verse 2, chorus 2, bridge 2, chorus 2", use_text_model=False)
    assert shorten(many, 3).sections == (("verse", 1), ("chorus", 1), ("verse", 1))
    plain = brief_mod.parse("calm piano, 32 bars", use_text_model=False)
    assert shorten(plain, 8).n_bars == 8 and shorten(plain, None).n_bars == 32


def test_score_checks_only_judge_what_the_prompt_gave(tiny_models) -> None:
    from melodex.pipeline import GenerateOptions, StageClock, make_take, read_brief

    options = GenerateOptions(renderer="soundfont", sample_rate=RATE)
    brief = shorten(read_brief("calm piano, 70 BPM, 3/4", options), 2)
    take = make_take(brief, options, StageClock(None))
    checks = score_checks(brief, take.score, take.events)
    assert "key" not in checks and "sections" not in checks
    assert checks["tempo"] and checks["meter"] and checks["bars"]
    assert take.score.meter == TimeSignature(3, 4)


# -- arguments -------------------------------------------------------------------------------------------


def test_sweep_grids_are_validated() -> None:
    assert parse_grid("1,3, 5,3", "--cfg") == (1.0, 3.0, 5.0)
    assert parse_grid("4,8", "--steps", integer=True, low=1, high=200) == (4, 8)
    for bad, match in (("1,x", "not a number"), ("", "empty"), (" , ", "empty"), ("1,25", "outside"),
                       ("nan", "outside")):
        with pytest.raises(MelodexError, match=match):
            parse_grid(bad, "--cfg")
    with pytest.raises(MelodexError, match="whole numbers"):
        parse_grid("4.5", "--steps", integer=True, low=1, high=200)
    with pytest.raises(MelodexError, match="outside"):
        parse_grid("0", "--steps", integer=True, low=1, high=200)
    with pytest.raises(MelodexError, match="cells"):
        SweepOptions(cfgs=tuple(range(15)), steps=tuple(range(1, 16)))
    with pytest.raises(MelodexError, match="--bars"):
        EvalOptions(bars=0)
    assert word_direction(("bright", "plucky")) == 1
    assert word_direction(("warm", "dusty")) == -1
    assert word_direction(("bright", "warm")) == 0


def test_cli_errors_are_one_line(tmp_path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "melodex.cli", *args], capture_output=True, text=True,
                              timeout=120)

    bad_cfg = run("sweep", "calm piano", "-o", str(tmp_path / "s"), "--cfg", "1,loud")
    assert bad_cfg.returncode == 1
    assert bad_cfg.stderr.strip().splitlines() == ["error: --cfg '1,loud': 'loud' is not a number; give numbers "
                                                   "separated by commas, e.g. --cfg 1,3,5"]
    missing = run("eval", "-o", str(tmp_path / "e"), "--prompts", str(tmp_path / "nope.txt"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    helped = run("sweep", "--help")
    assert helped.returncode == 0 and "Examples" in helped.stdout and "--steps" in helped.stdout


# -- end to end ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_eval_end_to_end_resumes_and_reports(tiny_models, tmp_path, monkeypatch) -> None:
    from melodex.evaluate import listen
    from melodex.evaluate.report import write_report

    prompts = ["calm piano with drums, 90 BPM, A minor, verse 1, chorus 1", "a waltz in 3/4 at 150 BPM, no drums"]
    options = EvalOptions(bars=2, renderer="soundfont", real=4, sample_rate=RATE)
    results = run_eval(prompts, tmp_path, options)
    assert [r["prompt"] for r in results] == prompts and not any("error" in r for r in results)
    first = results[0]
    assert first["target"]["bpm"] == 90 and first["target"]["drums"] and first["key_score"] is not None
    assert first["score"]["sections"] and first["score"]["tempo"]
    assert len(first["embedding"]) == len(first["embedding_soundfont"]) == 86
    assert results[1]["key_score"] is None and not results[1]["target"]["drums"]

    def not_again(*args: object, **kwargs: object) -> dict:
        raise AssertionError("a finished prompt was generated again")

    monkeypatch.setattr(listen, "evaluate_prompt", not_again)
    assert run_eval(prompts, tmp_path, options) == results
    with pytest.raises(MelodexError, match="other options"):
        run_eval(prompts, tmp_path, EvalOptions(bars=3, renderer="soundfont", real=4, sample_rate=RATE))

    assert first["song"]["section_similarity"] is None  # verse 1, chorus 1: no name repeats
    assert 0.0 <= first["song"]["chord_tones_pitched"] <= 1.0
    reference = listen.load_or_make_reference(tmp_path, 4, 2)
    songs = listen.load_or_make_song_reference(tmp_path, training=5)
    assert songs["training"]["bass_root_per_bar"]["n"] == 5
    summary = write_report(tmp_path, results, reference, songs)
    assert summary["measured"] == 2 and summary["score_checks"]["tempo"] == 1.0
    assert summary["song"]["n_generated"] == 2
    table = (tmp_path / "table.md").read_text()
    assert "| drum_consistency: " in table and "training accompaniment (5)" in table
    assert np.isfinite(summary["distance_mix"]["frechet"])
    assert json.loads((tmp_path / "summary.json").read_text())["embedding"] == EMBEDDING
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 3
    for name in ("tempo", "key", "loudness", "embedding", "statistics"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000


@pytest.mark.slow
def test_tiny_sweep_end_to_end(tiny_models, tmp_path) -> None:
    from melodex.evaluate.sweep import run_sweep, write_sweep_report

    options = SweepOptions(cfgs=(1.0, 5.0), steps=(2,), bars=1, real=4)
    cells = run_sweep("bright piano, 120 BPM, C major", tmp_path, options)
    assert [(c["cfg"], c["steps"]) for c in cells] == [(1.0, 2), (5.0, 2)]
    for cell in cells:
        assert cell["seconds"] > 0 and cell["real_distance"] > 0
        assert cell["text_shift_octaves"] is not None  # "bright" gives the words a direction
    plots = write_sweep_report(tmp_path, "bright piano, 120 BPM, C major", cells)
    assert [p.name for p in plots] == ["adherence_vs_cfg.png", "quality_vs_cfg.png", "time_vs_steps.png"]
    assert "| default | 1 | 2 |" in (tmp_path / "table.md").read_text()
