"""`melodex batch` in one process: the same audio as `generate`, failures recorded, finished items skipped."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from melodex import batch as batch_mod
from melodex.batch import BatchItem, read_results, run_batch
from melodex.cli import app
from melodex.pipeline import GenerateOptions, generate

GOOD = "calm piano with drums, 90 BPM, C major, 2 bars"
BAD = "a march at 500 BPM"
OPTIONS = GenerateOptions(renderer="soundfont", sample_rate=22050)


def test_batch_makes_each_prompt_and_seed_as_generate_does_and_resumes(tiny_models, tmp_path: Path,
                                                                       monkeypatch) -> None:
    out = tmp_path / "cues"
    results = run_batch([GOOD, BAD], out, OPTIONS, seeds=(0, 3))
    assert [(r.prompt, r.seed) for r in results] == [(GOOD, 0), (GOOD, 3), (BAD, 0), (BAD, 3)]
    assert [r.error is None for r in results] == [True, True, False, False]
    assert "500 BPM" in (results[2].error or "") and results[2].files == ()
    item = BatchItem(0, GOOD, 3)
    assert f"{item.name}/mix.wav" in results[1].files and f"{item.name}/song.mid" in results[1].files
    generate(GOOD, tmp_path / "alone", GenerateOptions(renderer="soundfont", sample_rate=22050, seed=3))
    assert (out / item.name / "mix.wav").read_bytes() == (tmp_path / "alone" / "mix.wav").read_bytes()
    assert (out / item.name / "mix.wav").read_bytes() != (out / BatchItem(0, GOOD, 0).name / "mix.wav").read_bytes()
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["seed"] for row in rows] == ["0", "3", "0", "3"] and rows[2]["error"].startswith("tempo 500")

    made: list[tuple[str, int]] = []
    real_make_track = batch_mod.make_track

    def counting(prompt: str, seed: int, options: GenerateOptions) -> tuple[dict[str, bytes], float]:
        made.append((prompt, seed))
        return real_make_track(prompt, seed, options)

    monkeypatch.setattr(batch_mod, "make_track", counting)
    again = run_batch([GOOD, BAD], out, OPTIONS, seeds=(0, 3))
    assert made == [(BAD, 0), (BAD, 3)]  # finished items skipped, failed ones tried again
    assert [r.files for r in again[:2]] == [r.files for r in results[:2]]
    assert len(read_results(out)) == 4


def test_batch_command_prints_the_table_and_refuses_bad_seeds(tiny_models, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"# cues\n{GOOD}\n\n{BAD}\n")
    runner = CliRunner()
    result = runner.invoke(app, ["batch", str(prompts), "-o", str(tmp_path / "out"), "--renderer", "soundfont",
                                 "--format", "WAV, .flac"])  # read as generate and export read it
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*/*.flac"))) == 1
    said = " ".join(result.output.split())  # rich wraps the summary at the terminal's width
    assert "1 of 2 tracks" in said and "1 failed" in said, said
    bad = runner.invoke(app, ["batch", str(prompts), "-o", str(tmp_path / "out"), "--seeds", "one"])
    assert bad.exit_code != 0 and "whole numbers" in str(bad.exception)
    bad = runner.invoke(app, ["batch", str(prompts), "-o", str(tmp_path / "new"), "--format", "wav,ogg"])
    assert bad.exit_code != 0 and "'ogg'" in str(bad.exception) and not (tmp_path / "new").exists()


def test_an_interrupted_batch_goes_on_where_it_stopped(tmp_path: Path, monkeypatch) -> None:
    """Crash leftovers (a results line cut short, a half-written item folder, a finished item's file gone) and
    an unexpected exception in one item: the next run remakes exactly the items not whole, keeps the rest."""
    made: list[str] = []

    def fake_track(prompt: str, seed: int, options: GenerateOptions) -> tuple[dict[str, bytes], float]:
        made.append(prompt)
        if prompt == "boom":
            raise RuntimeError("worker ran out of memory\nsecond line")
        return {"mix.wav": f"{prompt} {seed}".encode(), "song.mid": b"MThd"}, 0.5

    monkeypatch.setattr(batch_mod, "make_track", fake_track)
    out = tmp_path / "cues"
    prompts = ["one", "boom", "two", "three"]
    first = run_batch(prompts, out, OPTIONS)
    assert [r.error for r in first] == [None, "RuntimeError: worker ran out of memory", None, None]
    names = [r.item for r in first]
    (out / names[2] / "mix.wav").unlink()  # a finished item lost a file
    (out / (names[3] + ".partial")).mkdir()  # a crash while another attempt at a finished item was written
    with (out / "results.jsonl").open("a") as log:
        log.write('{"item": "' + names[0])  # a line cut short by the crash
    made.clear()
    again = run_batch(prompts, out, OPTIONS)
    assert made == ["boom", "two"]  # the failed item and the one not whole; "one" and "three" are skipped
    assert [r.error is None for r in again] == [True, False, True, True]
    assert (out / names[2] / "mix.wav").read_bytes() == b"two 0"


def test_batch_takes_generates_output_options(tiny_models, tmp_path: Path, monkeypatch) -> None:
    """The output options of generate (formats, stems, sample rate, bit depth, bitrate, loudness, master, click,
    chord markers) reach every track of a batch, read by the same code as generate's."""
    import soundfile

    seen: list[GenerateOptions] = []
    real_make_track = batch_mod.make_track

    def recording(prompt: str, seed: int, options: GenerateOptions, *stages: object) -> tuple[dict[str, bytes], float]:
        seen.append(options)
        return real_make_track(prompt, seed, options, *stages)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_mod, "make_track", recording)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{GOOD}\n")
    result = CliRunner().invoke(app, [
        "batch", str(prompts), "-o", str(tmp_path / "out"), "--renderer", "soundfont", "--format", "flac,mp3",
        "--stems", "dry", "--sample-rate", "22050", "--bit-depth", "16", "--mp3-kbps", "128", "--lufs", "-16",
        "--click", "--chord-markers"])
    assert result.exit_code == 0, result.output
    made = seen[0]
    assert (made.formats, made.stems, made.sample_rate, made.bit_depth, made.mp3_kbps, made.lufs, made.master,
            made.click, made.chord_markers) == (("flac", "mp3"), "dry", 22050, 16, 128, -16.0, True, True, True)
    track = tmp_path / "out" / BatchItem(0, GOOD, 0).name
    assert {p.name for p in track.iterdir()} >= {"mix.flac", "mix.mp3", "dry-mix.flac", "click.flac", "song.mid"}
    stems = sorted((track / "stems").iterdir())
    assert stems and all(p.suffix == ".flac" for p in stems)
    info = soundfile.info(str(track / "mix.flac"))
    assert (info.samplerate, info.subtype) == (22050, "PCM_16")
    for bad, said in ((["--lufs", "-16", "--no-master"], "--lufs -16 needs the master, which --no-master"),
                      (["--format", "flac", "--bit-depth", "32"], "FLAC holds 16 or 24 bits")):
        refused = CliRunner().invoke(app, ["batch", str(prompts), "-o", str(tmp_path / "never"), *bad])
        assert refused.exit_code == 1 and said in str(refused.exception), refused.output
        assert not (tmp_path / "never").exists()  # checked before any folder is made
