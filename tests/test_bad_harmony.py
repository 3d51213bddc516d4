"""Bad harmony and form input (issue 14, point 8) through every door: `melodex brief`, `melodex generate`,
`melodex rechord` and the HTTP API. Each case is a clear error naming the problem, or a documented reading
with a note saying what was played; never a traceback, and a refused rechord leaves the project as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from melodex.cli import app
from melodex.errors import MelodexError

PROMPT = "lo-fi piano and bass, 100 BPM, C minor, intro 1 bar, verse 2 bars, chorus 2 bars"  # conftest's `song`
runner = CliRunner()

ERROR, NOTE = "error", "note"
# (prompt, extra options, what it is, the message or note it must show)
PROMPTS = {
    "unknown chord": ("pop, 100 BPM, chords Am Fx C G", [], ERROR, "unknown chord 'Fx'"),
    "unknown root": ("pop, 100 BPM, chords H Am F", [], ERROR, "unknown chord 'H'"),
    "unknown numeral": ("pop, 100 BPM, G major, chords I V xi IV", [], ERROR, "unknown chord 'xi'"),
    "crowded bar": ("pop, 100 BPM, chords Am F C G E | C", [], ERROR, "5 chords in one bar"),
    "outside the key": ("pop, 100 BPM, C major, 2 bars, chords F# Bb", [], NOTE, "F#, Bb are outside C major"),
    "more chords than bars": ("pop, 100 BPM, 2 bars, chords Am F C G", [], NOTE,
                              "4 bars of chords for the piece, which has 2: the first 2 play (Am | F)"),
    "more chords than a section": ("pop, 100 BPM, verse 1 bar, chorus 1 bar, chorus chords C G Am", [], NOTE,
                                   "3 bars of chords for the chorus, which has 1"),
    "chords for a missing section": ("pop, 100 BPM, verse 2 bars, bridge chords C G", [], NOTE,
                                     "the chords given for the bridge play nowhere"),
    "form longer than the length": ("pop, 100 BPM, verse 1 bar, chorus 2 bars, 1 bar", [], NOTE,
                                    "the form is 3 bars"),
    "form longer than --bars": ("pop, 100 BPM, verse 1 bar, chorus 2 bars", ["--bars", "1"], NOTE,
                                "it wins over --bars 1"),
    "blues longer than the length": ("12-bar blues in A, 160 BPM, 4 bars", [], NOTE, "a 12-bar blues is 12 bars"),
    "form longer than any song": ("pop, verse 300 bars, chorus 300 bars", [], ERROR, "at most 512"),
    "--chords with words": ("pop, 100 BPM, 2 bars", ["--chords", "hello world"], ERROR, "unknown chord 'hello'"),
    "--chords unknown chord": ("pop, 100 BPM, 2 bars", ["--chords", "Am Fx"], ERROR, "unknown chord 'Fx'"),
    "--chords empty": ("pop, 100 BPM, 2 bars", ["--chords", " | "], ERROR, "no chords"),
    "--chords crowded bar": ("pop, 100 BPM, 2 bars", ["--chords", "Am F C G E | C"], ERROR, "5 chords in one bar"),
    "--chords numerals, no key": ("pop, 100 BPM, 2 bars", ["--chords", "vi IV"], ERROR, "the key is not known"),
    "--chords outside the key": ("pop, 100 BPM, C major, 2 bars", ["--chords", "F# Bb"], NOTE,
                                 "F#, Bb are outside C major"),
    "--chords longer than the piece": ("pop, 100 BPM, 2 bars", ["--chords", "Am F C G"], NOTE,
                                       "4 bars of --chords for the piece, which has 2"),
    "--chords over the prompt's": ("pop, 100 BPM, 2 bars, chords C G", ["--chords", "Am F"], NOTE,
                                   "--chords wins over the prompt's chords"),
}
FAST = ["--renderer", "soundfont", "--sample-rate", "16000", "--stems", "none"]


def _no_traceback(result) -> None:
    """A failure is a MelodexError (main prints it as one line) or a usage error; anything else escaped."""
    escaped = result.exception is not None and not isinstance(result.exception, (MelodexError, SystemExit))
    assert not escaped, "".join(__import__("traceback").format_exception(result.exception))


def _shown(result) -> str:
    return " ".join((result.output + str(result.exception or "")).split())


@pytest.mark.parametrize("case", PROMPTS, ids=list(PROMPTS))
def test_brief_says_what_it_did_with_bad_harmony(case: str) -> None:
    prompt, extra, kind, said = PROMPTS[case]
    result = runner.invoke(app, ["brief", prompt, *extra], env={"COLUMNS": "300"})
    _no_traceback(result)
    assert (result.exit_code != 0) == (kind == ERROR), result.output
    assert said in _shown(result), _shown(result)


@pytest.mark.parametrize("case", PROMPTS, ids=list(PROMPTS))
def test_generate_says_what_it_did_with_bad_harmony(case: str, tiny_models, tmp_path: Path) -> None:
    prompt, extra, kind, said = PROMPTS[case]
    result = runner.invoke(app, ["generate", prompt, "-o", str(tmp_path / "out"), *FAST, *extra],
                           env={"COLUMNS": "300"})
    _no_traceback(result)
    assert (result.exit_code != 0) == (kind == ERROR), _shown(result)
    assert said in _shown(result), _shown(result)
    assert (tmp_path / "out" / "song.melodex").exists() == (kind == NOTE)  # a refused prompt writes no project


def _project_digest(folder: Path) -> str:
    """Every file of the project (not the lock), so a refused edit is seen to change nothing at all."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith((".lock", ".writer"))):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


BAD_RECHORDS = {
    "unknown chord": ("chorus", "Am Fx", "unknown chord 'Fx'"),
    "unknown root": ("chorus", "H7", "unknown chord 'H7'"),
    "a word": ("chorus", "Am sad", "unknown chord 'sad'"),
    "no chords": ("chorus", " | ", "no chords"),
    "more chords than bars": ("chorus", "Am F C G", "4 bars of chords for chorus, which has 2"),
    "crowded bar": ("chorus", "Am F C G E | C", "5 chords in one bar"),
    "no such section": ("bridge", "Am F", "no section named 'bridge'"),
}


@pytest.mark.parametrize("case", BAD_RECHORDS, ids=list(BAD_RECHORDS))
def test_a_bad_rechord_is_refused_and_the_project_is_unchanged(case: str, song: Path) -> None:
    section, chords, said = BAD_RECHORDS[case]
    before = _project_digest(song)
    result = runner.invoke(app, ["rechord", str(song), section, *chords.split(" ")], env={"COLUMNS": "300"})
    _no_traceback(result)
    assert result.exit_code != 0 and said in _shown(result), _shown(result)
    assert _project_digest(song) == before


def test_rechord_reads_commas_dashes_and_roman_numerals_in_the_songs_key(song: Path) -> None:
    from melodex import edit

    score = edit.open_session(song).score
    assert score.key.tonic == 0 and score.key.mode == "minor"
    as_names = edit.chord_progression("Fm, G7", score, "chorus")
    assert edit.chord_progression("Fm-G7", score, "chorus") == as_names
    assert edit.chord_progression("iv V7", score, "chorus") == as_names  # C minor's iv and V7


@pytest.fixture
def client(tiny_models, tmp_path):
    from melodex.server import ServerOptions, create_app

    with TestClient(create_app(ServerOptions(data_dir=tmp_path / "data", cpu_threads=None)),
                    base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_the_api_refuses_bad_harmony_on_arrival_and_notes_the_rest(client: TestClient) -> None:
    """Every prompt case at once (one server): an error is a 400 with the message; a reading is a queued
    project whose brief notes say what is played (the job itself is not waited for)."""
    for case, (prompt, extra, kind, said) in PROMPTS.items():
        body: dict = {"prompt": prompt, "renderer": "soundfont", "sample_rate": 22050, "steps": 1}
        for option, value in zip(extra[::2], extra[1::2], strict=True):
            body[option.removeprefix("--")] = int(value) if option == "--bars" else value
        response = client.post("/api/projects", json=body)
        if kind == ERROR:
            assert response.status_code == 400 and said in response.json()["detail"], (case, response.text)
            continue
        assert response.status_code == 202, (case, response.text)
        said = said.replace("--", "")  # the API names its fields, not the command's options
        assert any(said in note for note in response.json()["notes"]), (case, response.json()["notes"])


def test_chords_option_is_obeyed_over_the_form_and_sets_the_key() -> None:
    from melodex.brief import parse, with_overrides

    brief = with_overrides(parse("pop, 100 BPM, verse 2 bars, chorus 2 bars, chords C G", use_text_model=False),
                           chords="Am F | Dm E7")
    assert brief.chords == (("Am", "F"), ("Dm", "E7"), ("Am", "F"), ("Dm", "E7"))
    assert brief.sources["chords"] == "option"
    assert str(brief.key) == "A minor" and brief.sources["key"] == "chords"
    stated = with_overrides(parse("pop, 100 BPM, G major, 2 bars", use_text_model=False), chords="vi IV")
    assert stated.chords == (("Em",), ("C",)) and str(stated.key) == "G major"  # numerals in the asked key


def test_the_api_refuses_bad_rechords_on_arrival_and_queues_nothing(client: TestClient) -> None:
    import time

    form = [{"name": "intro", "bars": 1}, {"name": "verse", "bars": 2}, {"name": "chorus", "bars": 2}]
    created = client.post("/api/projects", json={"prompt": "piano and bass, 100 BPM, C minor", "form": form,
                                                 "renderer": "soundfont", "sample_rate": 22050, "steps": 1}).json()
    deadline = time.monotonic() + 300
    while client.get(f"/api/jobs/{created['job']['id']}").json()["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, "the project was not made in 300 s"
        time.sleep(0.2)
    pid = created["project"]
    folder = client.app.state.studio.folder(pid)
    before, jobs = _project_digest(folder), client.get("/api/jobs", params={"project": pid}).json()
    for case, (section, chords, said) in BAD_RECHORDS.items():
        response = client.post(f"/api/projects/{pid}/rechord", json={"section": section, "chords": chords})
        assert response.status_code == 400 and said in response.json()["detail"], (case, response.text)
    assert client.get("/api/jobs", params={"project": pid}).json() == jobs
    assert _project_digest(folder) == before
