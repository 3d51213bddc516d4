"""The committed hostile corpus (tests/fixtures/hostile/) through the real CLI in subprocesses: damaged projects,
symlinks, prompts, options, MIDI and reference audio. Every run ends in a result or one clear error, never a
traceback, and a run that fails leaves the project (and everything outside it) exactly as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from melodex import pipeline

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
TINY_CLI = Path(__file__).parent / "helpers" / "tiny_cli.py"
PROMPT = "lo-fi piano, bass and drums, 100 BPM, C minor, intro 1 bar, verse 2 bars, chorus 2 bars"


def run_batch(cases: list[list[str]], tmp: Path) -> list[dict]:
    import melodex

    batch = tmp / f"batch-{len(list(tmp.glob('batch-*')))}.json"
    batch.write_text(json.dumps(cases, ensure_ascii=True))
    src = str(Path(melodex.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "MELODEX_LOCK_WAIT": "1", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, str(TINY_CLI), "--batch", str(batch)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(cases), done.stderr[-3000:]
    return results


def tree(folder: Path) -> dict[str, str]:
    """Every entry under folder: a file's SHA-256, a link's target (links are not followed)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.name.endswith((".lock", ".writer")):  # the write lock's own files, not the project
            continue
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_clear(result: dict, must_fail: bool = True) -> None:
    shown = f"{result['args']}: {result['err'][-500:]}"
    assert not result["traceback"], f"{result['args']}\n{result['traceback']}"
    if must_fail:
        assert result["code"] in (1, 2), shown
    if result["code"] != 0:
        assert "error" in result["err"].lower(), shown


@pytest.fixture(scope="module")
def generated(tiny_models_module, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "song"
    pipeline.generate(PROMPT, folder, pipeline.GenerateOptions(seed=1, renderer="soundfont", sample_rate=16000))
    return folder


EDITS = [["history", "{p}"], ["checkout", "{p}", "1"], ["regen", "{p}", "chorus"], ["transpose", "{p}", "1"],
         ["export", "{p}", "-o", "{x}"], ["diff", "{p}", "1", "1"]]


def project_cases(generated: Path, tmp_path: Path) -> tuple[list[list[str]], list[tuple[str, Path, Path, bool]]]:
    """One copy of the project per damage, and the commands to run on each."""
    cases, copies = [], []
    for damage in sorted((HOSTILE / "project").iterdir()):
        copy = tmp_path / f"project-{damage.stem}"
        shutil.copytree(generated, copy)
        shutil.copyfile(damage, copy / "song.melodex" / "project.json")
        copies.append((damage.name, copy, tmp_path / f"x-{damage.stem}", damage.stem != "brief-wrong-shape"))
    for damage in sorted((HOSTILE / "version").glob("*.json")):
        copy = tmp_path / f"version-{damage.stem}"
        shutil.copytree(generated, copy)
        record_path = copy / "song.melodex" / "versions" / "0001" / "version.json"
        if damage.stem.startswith(("checksums-", "sample-", "timbres-", "options-", "unknown-")):
            record = json.loads(record_path.read_text())
            patch = json.loads(damage.read_text())
            if "settings" in patch:
                record["settings"] = {**record["settings"], **patch.pop("settings")}
            record.update(patch)
            record_path.write_text(json.dumps(record))
        else:
            shutil.copyfile(damage, record_path)
        copies.append((f"version/{damage.name}", copy, tmp_path / f"x-v-{damage.stem}", False))
    for args in ([[c.replace("{p}", str(copy)).replace("{x}", str(x)) for c in edit] for edit in EDITS]
                 for _, copy, x, _ in copies):
        cases += args
    return cases, copies


def test_damaged_projects_are_one_clear_error_and_stay_as_they_were(generated, tmp_path) -> None:
    cases, copies = project_cases(generated, tmp_path)
    before = {name: tree(copy) for name, copy, _, _ in copies}
    results = run_batch(cases, tmp_path)
    for index, (name, copy, _, unreadable) in enumerate(copies):
        mine = results[index * len(EDITS):(index + 1) * len(EDITS)]
        for result in mine:
            assert_clear(result, must_fail=unreadable or result["args"][0] not in ("history", "diff"))
        assert tree(copy) == before[name], f"{name} changed the project"


def test_symlinks_inside_or_beside_a_project_are_refused_or_replaced_never_followed(generated, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    copies = {}
    for name in ("project-json", "versions", "version", "stems", "mix"):
        copy = tmp_path / f"link-{name}"
        shutil.copytree(generated, copy)
        copies[name] = copy
    project = {name: copy / "song.melodex" for name, copy in copies.items()}
    shutil.move(project["project-json"] / "project.json", outside / "project.json")
    (project["project-json"] / "project.json").symlink_to(outside / "project.json")
    shutil.move(project["versions"] / "versions", outside / "versions")
    (project["versions"] / "versions").symlink_to(outside / "versions")
    shutil.move(project["version"] / "versions" / "0001", outside / "0001")
    (project["version"] / "versions" / "0001").symlink_to(outside / "0001")
    shutil.move(copies["stems"] / "stems", outside / "stems")
    (copies["stems"] / "stems").symlink_to(outside / "stems")
    (copies["mix"] / "mix.wav").unlink()
    (copies["mix"] / "mix.wav").symlink_to(outside / "victim.txt")
    before = tree(outside)
    cases = [["checkout", str(copy), "1"] for copy in copies.values()]
    cases += [["transpose", str(copies[name]), "2"] for name in ("project-json", "versions", "version", "stems")]
    results = run_batch(cases, tmp_path)
    for result in results:
        assert_clear(result, must_fail=str(copies["mix"]) not in result["args"])
    assert tree(outside) == before, "something was written outside the project through a link"
    assert not (copies["mix"] / "mix.wav").is_symlink()  # the link was replaced by the exported mix


def test_hostile_prompts_and_options_are_results_or_clear_errors(tmp_path) -> None:
    prompts = json.loads((HOSTILE / "prompts.json").read_text())
    cases = [["brief", prompt] for prompt in prompts]
    out = str(tmp_path / "out")
    bad_options = [["--seed", "-1"], ["--bpm", "0"], ["--meter", "13/7"], ["--key", "H minor"], ["--format", ","],
                   ["--format", "ogg"], ["--steps", "0"], ["--bars", "0"], ["--bars", "100000"], ["--cfg", "nan"],
                   ["--temperature", "0"], ["--renderer", "tape"], ["--preset", "loud"], ["-o", "/dev/null"],
                   ["--instruments", "kazoo-9000"]]
    cases += [["generate", "piano, 4 bars", "-o", out, *opts] for opts in bad_options]
    results = run_batch(cases, tmp_path)
    for result in results[: len(prompts)]:
        assert_clear(result, must_fail=False)
    for result in results[len(prompts):]:
        assert_clear(result)
    assert not (tmp_path / "out" / "song.melodex").exists()


def test_hostile_midi_and_reference_audio_are_refused_quickly(tmp_path) -> None:
    midis = sorted((HOSTILE / "midi").iterdir())
    audio = sorted((HOSTILE / "audio").iterdir())
    cases = [["render", str(m), "-o", str(tmp_path / f"{m.stem}.wav")] for m in midis]
    cases += [["generate", "piano, 4 bars", "-o", str(tmp_path / a.stem), "--renderer", "soundfont", "--reference",
               str(a)] for a in audio]
    results = run_batch(cases, tmp_path)
    for result, midi in zip(results, midis, strict=False):
        assert_clear(result)
        assert result["seconds"] < 10, f"{midi.name} took {result['seconds']} s to refuse"
        assert not (tmp_path / f"{midi.stem}.wav").exists()
    for result, wav in zip(results[len(midis):], audio, strict=True):
        assert_clear(result, must_fail=wav.stem == "text")
