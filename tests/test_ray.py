"""`--ray`: batch, eval and data build as Ray tasks on a local Ray instance give what one process gives.

One small Ray instance (2 CPUs) serves the whole module: starting Ray costs seconds and memory. Its
workers import melodex afresh, so they use the shipped weights (the SoundFont renders, 2 bars).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import melodex

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow
GOOD = "calm piano with drums, 90 BPM, C major, 2 bars"
BAD = "a march at 500 BPM"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    src = str(Path(melodex.__file__).parents[1])  # the workers import this checkout's melodex
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": src, "OMP_NUM_THREADS": "1"}})
    yield "local"  # already connected: `fanout.connect` reuses it
    ray.shutdown()


def test_batch_on_ray_gives_generates_audio_and_records_a_failure(local_ray: str, tmp_path: Path) -> None:
    from melodex.batch import BatchItem, run_batch
    from melodex.pipeline import GenerateOptions, generate

    options = GenerateOptions(renderer="soundfont", sample_rate=22050)
    results = run_batch([GOOD, BAD], tmp_path / "cues", options, seeds=(1,), ray=local_ray)
    assert results[0].error is None and "500 BPM" in (results[1].error or "")
    generate(GOOD, tmp_path / "alone", GenerateOptions(renderer="soundfont", sample_rate=22050, seed=1))
    made = tmp_path / "cues" / BatchItem(0, GOOD, 1).name
    assert (made / "mix.wav").read_bytes() == (tmp_path / "alone" / "mix.wav").read_bytes()
    assert (made / "song.melodex" / "project.json").is_file()


def test_eval_on_ray_measures_as_one_process_does(local_ray: str, tmp_path: Path) -> None:
    pytest.importorskip("librosa")
    from melodex.evaluate.listen import EvalOptions, evaluate_prompt, run_eval

    options = EvalOptions(bars=2, renderer="soundfont", real=4, sample_rate=22050)
    results = run_eval([GOOD, BAD], tmp_path, options, keep_audio=True, ray=local_ray)
    assert "error" in results[1] and "error" not in results[0]
    here = json.loads(json.dumps(evaluate_prompt(GOOD, options)))
    for name in ("generate_seconds", "stage_seconds"):
        del here[name], results[0][name]
    # The same notes and audio; the analysers' floats move in the last digits with the thread count.
    ray_leaves, here_leaves = _leaves(results[0]), _leaves(here)
    assert ray_leaves.keys() == here_leaves.keys()
    numbers = [k for k, v in here_leaves.items() if isinstance(v, float)]
    assert [ray_leaves[k] for k in numbers] == pytest.approx([here_leaves[k] for k in numbers], rel=1e-4, abs=1e-6)
    assert {k: v for k, v in ray_leaves.items() if k not in numbers} == \
        {k: v for k, v in here_leaves.items() if k not in numbers}
    assert len(list((tmp_path / "audio").glob("*.wav"))) == 1


def _leaves(value: object, path: str = "") -> dict[str, object]:
    """Nested dicts and lists as {path: leaf}, for comparing numbers with a tolerance."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()}
    return {path: value}


def test_data_build_on_ray_writes_the_same_dataset(local_ray: str, tmp_path: Path) -> None:
    pytest.importorskip("music21")
    from melodex.data.build import BuildOptions, build_corpus

    digests = []
    for name, ray_address in (("here", None), ("ray", local_ray)):
        options = BuildOptions(out_dir=tmp_path / name / "corpus", cache_dir=tmp_path / name / "cache", jobs=1,
                               limit=1, collections=("bach", "hydrogen"), ray=ray_address)
        result = build_corpus(options)
        assert result.tasks_run >= 2
        digests.append(hashlib.sha256((options.out_dir / "works.jsonl.gz").read_bytes()).hexdigest())
        digests.append(hashlib.sha256((options.out_dir / "notes.npz").read_bytes()).hexdigest())
    assert digests[:2] == digests[2:]
