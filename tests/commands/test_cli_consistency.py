"""The CLI's conventions: --version, choices listed, targets and bounds said clearly, redo, diff of growth."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from melodex import edit, pipeline
from melodex.cli import app
from melodex.errors import MelodexError
from melodex.project import Project
from melodex.score import DRUM_PROGRAM, TPQ, Score, ScoreError, Track

PROMPT = "lo-fi piano and bass, 100 BPM, C minor, intro 1 bar, verse 2 bars, chorus 2 bars"
runner = CliRunner()  # the project: conftest's `song`, generated from PROMPT


def test_version_and_choices() -> None:
    import melodex

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"melodex {melodex.__version__}"
    shown = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).output
    assert "processed|dry|none" in shown and "16|24|32" in shown and "96|128|160|192|224|256|320" in shown
    for command, choices in (("generate", ("film|social|design", "timbre|soundfont")),
                             ("batch", ("film|social|design", "timbre|soundfont")),
                             ("eval", ("tuning|test", "film|social|design", "timbre|soundfont")),
                             ("sweep", ("film|social|design",))):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert all(choice in shown for choice in choices), (command, choices)
    result = runner.invoke(app, ["generate", "x", "-o", "unused", "--preset", "loud"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "'loud' is not one of 'film', 'social', 'design'" in result.output


def test_targets_and_bounds_are_said_clearly(song) -> None:
    result = runner.invoke(app, ["regen", str(song)])
    assert result.exit_code == 2 and "say what to rewrite" in result.output
    result = runner.invoke(app, ["regen", str(song), "chorus", "--bars", "2:3"])
    assert result.exit_code == 2 and "not both" in result.output
    result = runner.invoke(app, ["transpose", str(song), "20"])
    assert result.exit_code == 2 and "less than or equal to 12" in result.output
    assert edit.parse_bars("3", 5) == (2, 3) and edit.parse_bars("2:4", 5) == (1, 4)
    for bad, said in (("6", "bars 1-5"), ("2:7", "bars 1-5"), ("4:2", r"backwards.*\(2:4\)"), ("0", "count from 1"),
                      ("0:2", "count from 1"), ("3:", "like 5:8"), ("x", "like 5:8")):
        with pytest.raises(MelodexError, match=said):
            edit.parse_bars(bad, 5)
    result = runner.invoke(app, ["regen", str(song), "--bars", "3:1"])
    assert result.exit_code == 1 and "backwards" in str(result.exception)


def test_a_one_bar_regen_is_listed_as_one_bar(song) -> None:
    result = runner.invoke(app, ["regen", str(song), "--bars", "2"])
    assert result.exit_code == 0, result.output
    assert Project.open(song / "song.melodex").history[-1]["edit"] == "regen bar 2"  # was "regen bars 2-2"


def test_tracks_are_numbered_from_1_as_their_stem_files_are(song) -> None:
    """`retimbre P 0` named the first track while its stem file is 01-...: people count from 1 everywhere now;
    the project keeps its indices from 0 (version.json's timbres, score), so old projects read as before."""
    stems = sorted(p.name for p in (song / "stems").iterdir())
    first = edit.open_session(song).score.tracks[0]
    result = runner.invoke(app, ["retimbre", str(song), "1", "brighter"])
    assert result.exit_code == 0, result.output
    assert Project.open(song / "song.melodex").history[-1]["edit"] == "retimbre track 1: brighter"
    retimbred = Project.open(song / "song.melodex")
    assert retimbred.load_version(retimbred.current).timbres[0].text.startswith("brighter")  # stored from 0
    assert stems[0].startswith("01-") and first.role in stems[0]
    result = runner.invoke(app, ["retimbre", str(song), "0", "brighter"])
    assert result.exit_code == 1 and "numbered from 1" in str(result.exception)
    assert f"1: {first.role}" in str(result.exception)  # the listing counts from 1 too
    result = runner.invoke(app, ["regen", str(song), "--bars", "2", "--track", "1"])
    assert result.exit_code == 0, result.output
    changes = runner.invoke(app, ["diff", str(song)]).output
    assert f"track 1 ({first.role}): notes changed in bar 2" in changes and "track 0" not in changes, changes
    for command in ("retimbre", "regen"):
        assert "number from 1" in runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output


def test_negative_numbers_are_plain_arguments(song) -> None:
    """click reads "-1" as an option: `transpose P -1` was refused with "No such option: -1"."""
    result = runner.invoke(app, ["transpose", str(song), "-1"])
    assert result.exit_code == 0, result.output
    assert Project.open(song / "song.melodex").history[-1]["edit"] == "transpose -1"
    result = runner.invoke(app, ["transpose", str(song), "-13"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "greater than or equal to -12" in result.output
    result = runner.invoke(app, ["set-tempo", str(song), "-5"])
    assert result.exit_code == 1 and "outside 20-300" in str(result.exception)
    result = runner.invoke(app, ["transpose", str(song), "--bogus"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "Invalid value for 'semitones'" in result.output
    assert len(Project.open(song / "song.melodex").history) == 2


def test_transposing_keeps_notes_in_midi_range() -> None:
    score = Score(tracks=[Track(0, notes=[[0, TPQ, 30, 90], [TPQ, TPQ, 120, 90]]),
                          Track(DRUM_PROGRAM, "drums", notes=[[0, TPQ, 36, 90]])])  # drums never move
    assert score.transposed(7).tracks[0].notes[:, 2].tolist() == [37, 127]
    assert score.transposed(-30).tracks[1].notes[:, 2].tolist() == [36]
    with pytest.raises(ScoreError, match=r"\(30-120\) can move -30 to \+7 semitones"):
        score.transposed(8)


def test_export_refuses_a_bad_format_before_writing(song, tmp_path) -> None:
    result = runner.invoke(app, ["export", str(song), "-o", str(tmp_path / "out"), "--format", "wav,ogg"])
    assert result.exit_code != 0 and "'ogg'" in str(result.exception or result.output)
    assert not (tmp_path / "out").exists()


def test_a_master_quieter_than_asked_is_said(song, tmp_path) -> None:
    """Past what the -1 dBTP ceiling allows the master stops (a -6 LUFS export of this song comes out near -10
    LUFS): the files are written and a note says so; before, nothing did."""
    result = runner.invoke(app, ["export", str(song), "-o", str(tmp_path / "loud"), "--lufs", "-6"],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0 and (tmp_path / "loud" / "mix.wav").is_file()
    assert "note: asked for -6 LUFS; the -1 dBTP ceiling allows -" in result.output
    result = runner.invoke(app, ["export", str(song), "-o", str(tmp_path / "usual"), "--lufs", "-16"],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "note:" not in result.output
    made = pipeline.generate(PROMPT, tmp_path / "generated", pipeline.GenerateOptions(
        seed=1, renderer="soundfont", sample_rate=16000, lufs=-6))
    assert any(note.startswith("asked for -6 LUFS; the -1 dBTP ceiling allows") for note in made.notes)


def test_undo_then_redo_and_diff_counts_growth(song) -> None:
    session = edit.open_session(song)
    edit.extend(session, 1, 5)
    assert runner.invoke(app, ["undo", str(song)]).exit_code == 0
    assert Project.open(song / "song.melodex").current == "0001"
    assert runner.invoke(app, ["redo", str(song)]).exit_code == 0
    opened = Project.open(song / "song.melodex")
    assert opened.current == "0002"
    lines = edit.diff(opened, "0001", "0002")
    changed = next(line for line in lines if line.startswith("audio differs"))
    assert "(0% of samples)" not in changed and "bars 5 -> 6 (+1 bar)" in lines
    assert any(line.startswith("length") and line.endswith(" s)") and "(+" in line for line in lines)
    result = runner.invoke(app, ["redo", str(song)])
    assert result.exit_code == 1 or "nothing to redo" in str(result.exception)


def test_extend_continues_the_last_sections_chords(song) -> None:
    """Bare bar lines after the end read to the shipped model as bars to skip (an `extend --bars 4` once
    came back with three silent bars): the new bars carry the last section's chords, cycled on."""
    session = edit.open_session(song)
    chords = edit.chords_by_bar(session.take.events)
    chorus = session.score.section("chorus")
    assert all(chords) and (chorus.start_bar, chorus.end_bar) == (3, 5)
    edit.extend(session, 3, 5)
    grown = edit.chords_by_bar(Project.open(song / "song.melodex").load_version().events)
    assert grown[:5] == chords and grown[5:] == [chords[3], chords[4], chords[3]]


def test_generate_export_and_the_api_offer_one_list_of_sample_rates() -> None:
    """The CLI's generate offered 22.05-96 kHz and the API's 16-48 kHz: a rate that worked in one was refused
    by the other."""
    from melodex.commands.output import SampleRate
    from melodex.export import SAMPLE_RATES
    from melodex.server.schema import CreateProject, ExportQuery

    cli = [int(rate.value) for rate in SampleRate]
    api = CreateProject.model_json_schema()["properties"]["sample_rate"]["enum"]
    export = ExportQuery.model_json_schema()["properties"]["sample_rate"]["anyOf"][0]["enum"]
    assert cli == api == export == list(SAMPLE_RATES) and {16000, 96000} <= set(cli)


def test_generate_writes_a_click_and_chord_markers_as_export_does(tiny_models, tmp_path) -> None:
    """`export` had `--click` and `--chord-markers`, `generate` neither; the project keeps them, so an edit
    writes the click again over the song's new bars."""
    import soundfile as sf
    import symusic

    out = tmp_path / "song"
    result = runner.invoke(app, ["generate", PROMPT, "-o", str(out), "--renderer", "soundfont", "--sample-rate",
                                 "16000", "--click", "--chord-markers"])
    assert result.exit_code == 0, result.output
    click, rate = sf.read(out / "click.wav")
    assert len(click) == sf.info(out / "mix.wav").frames and rate == 16000
    # only the user's files: the write lock's .song.melodex.lock (and .writer) stayed beside the mix, in a
    # folder a producer drags into a DAW
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    sixth_bar = slice(round(12.0 * rate) + 10, round(14.4 * rate) - 10)  # 2.4 s a bar at 100 BPM
    assert np.abs(click[: 12 * rate]).max() > 0.1 and np.abs(click[sixth_bar]).max() == 0
    sections = {"Intro", "Verse", "Chorus"}
    markers = [m.text for m in symusic.Score.from_midi((out / "song.mid").read_bytes()).markers]
    chords = [m for m in markers if m not in sections]
    assert sections <= set(markers) and len(chords) >= 5, markers  # a chord a bar at least
    assert runner.invoke(app, ["extend", str(out), "--bars", "1"]).exit_code == 0
    click = sf.read(out / "click.wav")[0]
    assert len(click) == sf.info(out / "mix.wav").frames and np.abs(click[sixth_bar]).max() > 0.1
    assert not [p.name for p in out.rglob(".*")], "an edit leaves no hidden files either"
    for command in ("generate", "export"):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "--click" in shown and "--chord-markers" in shown, command


def test_generate_batch_and_export_share_one_set_of_output_options() -> None:
    """Declared once (commands.output.with_output_options): the same flags, choices and help on each command;
    only --sample-rate's meaning differs (the rate a song is made at, or the rate an export resamples to)."""
    import typer.main

    from melodex.commands.output import MAKING_RATE

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    shared = ("--format", "--stems", "--sample-rate", "--bit-depth", "--mp3-kbps", "--lufs", "--no-master",
              "--click", "--chord-markers")

    def options(name: str) -> dict[str, object]:
        return {p.opts[0]: (p.min, p.max) + ((p.default, p.help) if p.opts[0] != "--sample-rate" else ())
                for p in commands[name].params if p.opts and p.opts[0] in shared}

    generate, batch, export = options("generate"), options("batch"), options("export")
    assert list(generate) == list(shared) and generate == batch == export
    rates = {name: next(p for p in commands[name].params if p.opts[0] == "--sample-rate")
             for name in ("generate", "batch", "export")}
    assert rates["generate"].help == rates["batch"].help == MAKING_RATE.help
    assert rates["export"].default is None and rates["generate"].default is not None
