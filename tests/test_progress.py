"""Progress: generate and every edit report their stages with real fractions (not only 0 and 1)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from melodex import edit, pipeline

PROMPT = "lo-fi piano, bass and drums, 100 BPM, C minor, intro 2 bars, verse 4 bars, chorus 4 bars"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        self.calls.append((stage, fraction))

    def by_stage(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for stage, fraction in self.calls:
            out[stage].append(fraction)
        return out


def check_stages(recorder: Recorder, stages: tuple[str, ...], with_steps: tuple[str, ...], steps: int = 2) -> None:
    seen = recorder.by_stage()
    assert tuple(seen) == stages
    for stage, fractions in seen.items():
        assert fractions[0] == 0.0 and fractions[-1] == 1.0, (stage, fractions)
        assert fractions == sorted(fractions), (stage, fractions)  # never backwards
    for stage in with_steps:
        inside = [f for f in seen[stage] if 0.0 < f < 1.0]
        assert len(inside) >= steps, (stage, seen[stage])


@pytest.fixture(scope="module")
def song(tiny_models_module, tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress") / "song"
    recorder = Recorder()
    pipeline.generate(PROMPT, folder, pipeline.GenerateOptions(seed=1, renderer="soundfont", sample_rate=16000),
                      recorder)
    check_stages(recorder, ("brief", "compose", "timbres", "render", "write"), ("compose", "timbres", "render"))
    return folder


def test_generate_reports_fractions_of_its_stages(song) -> None:
    pass  # checked in the fixture, which generates once for the module


@pytest.mark.parametrize(("change", "stages", "steps"), [
    (lambda s: edit.regen(s, (2, 6), [0, 1], 5, "regen verse"), ("compose", "render", "write"), 2),
    # two new bars: the span's only landmarks are its bar lines
    (lambda s: edit.extend(s, 2, 6), ("compose", "render", "write"), 1),
    (lambda s: edit.set_tempo(s, 90), ("render", "write"), 2),
    (lambda s: edit.retimbre(s, 0, "brighter", 3), ("timbres", "render", "write"), 2),
])
def test_every_edit_reports_its_stages(song, change, stages, steps, tiny_models) -> None:
    session = edit.open_session(song)
    recorder = Recorder()
    session.progress = recorder
    change(session)
    check_stages(recorder, stages, tuple(s for s in stages if s in ("compose", "render")), steps)


def test_render_score_reports_its_stages() -> None:
    """`melodex render --timbre` draws these: the sample sets' share, then the sampler's and production's."""
    from melodex.evaluate.renderer import synthetic_score
    from melodex.production.settings import mix_settings_from_text
    from melodex.render_audio import RenderOptions, render_score

    score = synthetic_score(4.0)
    recorder = Recorder()
    tracks = range(len(score.tracks))
    render_score(score, {i: "warm" for i in tracks}, {i: i for i in tracks}, mix_settings_from_text("warm"),
                 RenderOptions(renderer="soundfont", sample_rate=16000), None, pipeline.StageClock(recorder).stage)
    check_stages(recorder, ("timbres", "render"), ("timbres", "render"))


def test_opening_a_pruned_version_reports_playing_it_again(song, tiny_models, tmp_path) -> None:
    """checkout, undo, redo and export of a pruned version play it again first: a whole song's render."""
    import shutil

    from melodex.project import Project

    copy = shutil.copytree(song, tmp_path / "song")
    edit.set_tempo(edit.open_session(copy), 95)
    project = Project.open(copy / "song.melodex")
    first = project.version_ids()[0]
    assert first in project.prune()[0]
    recorder = Recorder()
    session = edit.open_session(copy, first, recorder)
    assert session.rerendered
    check_stages(recorder, ("render",), ("render",))


def test_batch_reports_the_stages_of_the_track_being_made(tiny_models, tmp_path) -> None:
    from melodex.batch import run_batch

    recorder, finished = Recorder(), []
    run_batch(["piano and bass, 100 BPM, verse 2 bars"], tmp_path / "batch",
              pipeline.GenerateOptions(renderer="soundfont", sample_rate=16000), (0,),
              progress=lambda done, total, _: finished.append((done, total)), stages=recorder)
    assert finished == [(0, 1), (1, 1)]
    check_stages(recorder, ("brief", "compose", "timbres", "render", "write"), ("render",))
