"""Song form: linked sections, phrase repeats, loops and cadences; the writer that follows them; edits that do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melodex import edit, pipeline
from melodex.errors import MelodexError
from melodex.score import Key
from melodex.structure.form import TONIC, TONIC_OR_DOMINANT, song_form, typical_form
from melodex.structure.generate import DecodingOptions, generate_score
from melodex.structure.harmony import harmony_context
from melodex.structure.model import StructureConfig, StructureModel, with_harmony_heads
from melodex.structure.song import cadence_chords, copy_bars, set_chords, write_song
from melodex.tokens import encode
from melodex.tokens_grammar import Plan, validate
from melodex.tokens_vocabulary import CHORD, CHORD_QUALITIES, F_CHORD, F_KIND, F_POS, F_TRACK, NOTE, SECTION_NAMES

SECTIONS = (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8), ("outro", 4))
TRACKS = ((81, "melody"), (89, "pad"), (38, "bass"), (128, "drums"))


def test_a_repeated_chorus_copies_the_first_but_its_ending() -> None:
    form = song_form(SECTIONS, "synthwave")
    assert form.links == (None, None, None, 1, 2, None)
    chorus, chorus2 = 12, 28
    for j in range(7):
        for layer in ("chords", "bass", "harmony", "melody", "drums"):
            assert form.sources[(chorus2 + j, layer)] in (chorus + j, form.sources.get((chorus + j, layer)))
    assert (chorus2 + 7, "melody") not in form.sources and (chorus2 + 7, "drums") not in form.sources
    # a second verse keeps the chords and the groove under a new melody in its last quarter
    assert (20 + 5, "melody") in form.sources and (20 + 6, "melody") not in form.sources
    assert form.sources[(20 + 5, "chords")] == 4 + 5


def test_cadences_and_the_main_section_coming_from_the_intro() -> None:
    form = song_form(SECTIONS, "pop")
    assert form.cadences[0] == TONIC and form.cadences[39] == TONIC
    # a loop style's sections end where the loop does (I-V-vi-IV ends on IV): only the piece cadences
    # (with every section's end cadencing, a generated pop song sat on the tonic in 0.75 of its bars)
    assert set(form.cadences) == {0, 39}
    assert song_form(SECTIONS, "folk").cadences[11] == TONIC_OR_DOMINANT  # the verse's last bar
    assert form.sources[(12, "chords")] == 0 and (12, "drums") not in form.sources  # chorus opens like the intro
    assert form.sources[(36, "chords")] == 12  # the outro comes back to the chorus
    assert (39, "chords") not in form.sources  # ... and ends on its own tonic


def test_a_last_section_longer_than_its_source_cadences_on_the_last_bar() -> None:
    # the typical forms stretch the last section to fill the length ("A 4" of 11 bars after an 8-bar A): the
    # piece must end on the tonic at its last bar, not three bars before it (8% of test songs did not)
    form = song_form((("A", 8), ("B", 8), ("A", 11)), "folk")
    assert form.cadences[26] == TONIC and 23 not in form.cadences
    assert all((26, layer) not in form.sources for layer in ("chords", "bass", "harmony", "melody"))
    stretched = song_form((("verse", 4), ("chorus", 4), ("verse", 6), ("chorus", 4)), "pop")
    assert stretched.cadences.get(13) != TONIC and 11 not in stretched.cadences


def test_phrases_and_loops_inside_a_section() -> None:
    loop, free = song_form((("verse", 8),), "house"), song_form((("verse", 8),), "classical")
    for form in (loop, free):
        assert form.sources[(4, "melody")] == 0 and form.sources[(5, "chords")] == 1  # a a'
        assert form.sources[(3, "drums")] == 1 and (7, "drums") not in form.sources  # groove, fill
    assert loop.sources[(6, "chords")] == 2 and (6, "chords") not in free.sources  # the loop goes on


@pytest.mark.parametrize("style", ["pop", "house", "jazz", "folk", "blues", "classical", None])
@pytest.mark.parametrize("n_bars", [1, 4, 8, 12, 16, 24, 32, 40, 64])
def test_typical_forms_fill_the_length_with_known_sections(style, n_bars) -> None:
    form = typical_form(style, n_bars)
    assert sum(n for _, n in form) == n_bars
    assert all(name in SECTION_NAMES for name, _ in form)


def test_typical_forms_repeat_sections() -> None:
    assert [n for n, _ in typical_form("jazz", 32)] == ["A", "A", "B", "A"]
    assert [n for n, _ in typical_form("folk", 32)] == ["A", "A", "B", "B"]
    assert "chorus" in dict(typical_form("pop", 40))


def _tiny(harmony: bool = True) -> StructureModel:
    torch.manual_seed(0)
    model = StructureModel(StructureConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.0,
                                           harmony_heads=harmony))
    if harmony:
        with torch.no_grad():
            for parameter in model.harmony.parameters():
                parameter.normal_(0, 0.3)
    return model.eval()


def _bar_rows(events: np.ndarray, bar: int) -> list[tuple[int, ...]]:
    bars = np.cumsum(events[:, F_KIND] == 7) - 1  # BAR
    rows = events[(bars == bar) & np.isin(events[:, F_KIND], (CHORD, NOTE))]
    return [tuple(int(v) for v in r) for r in rows]


def _layer_rows(events: np.ndarray, bar: int, tracks: set[int], chords: bool) -> list[tuple[int, ...]]:
    return [r for r in _bar_rows(events, bar)
            if (r[F_KIND] == CHORD and chords) or (r[F_KIND] == NOTE and r[F_TRACK] in tracks)]


def test_the_writer_follows_the_form_and_copies_cost_no_sampling() -> None:
    model = _tiny()
    key = Key(5, "minor")
    plan = Plan(bpm=100, meter=(4, 4), key=key, tracks=TRACKS, sections=SECTIONS)
    form = song_form(SECTIONS, "synthwave")
    song = write_song(model, "warm synthwave", plan, form, options=DecodingOptions(seed=3), max_events=3000)
    validate(song.events, plan)
    assert song.sampled_events < len(song.events)
    for j in range(7):  # the second chorus is the first again (its last bar may differ)
        assert _bar_rows(song.events, 28 + j) == _bar_rows(song.events, 12 + j)
    def fills(bar: int) -> bool:  # a whole bar of drums: they play into its last quarter (of 48 positions)
        rows = _layer_rows(song.events, bar, {3}, False)
        return bool(rows) and max(r[F_POS] for r in rows) >= 36

    # the verse's drums hold its groove: its second bar, else its first, else the first whole bar since
    groove = next((b for b in (5, 4, 6, 7, 8, 9) if fills(b)), None)
    assert groove is not None and groove < 10
    for bar in range(6, 11):
        if groove is not None and bar > groove:
            assert _layer_rows(song.events, bar, {3}, False) == _layer_rows(song.events, groove, {3}, False)
    tonic = cadence_chords(key, TONIC)
    for bar in (0, 39):
        first_chord = next(r for r in _bar_rows(song.events, bar) if r[F_KIND] == CHORD)
        assert first_chord[F_POS] == 0 and tonic[first_chord[F_CHORD]]
    # the last bar holds its tonic; other cadence bars change only within their cadence's chords
    assert [r[F_CHORD] for r in _bar_rows(song.events, 39) if r[F_KIND] == CHORD] == [first_chord[F_CHORD]]
    for bar, kind in form.cadences.items():
        if bar not in (0, 39):
            allowed = cadence_chords(key, kind)
            assert all(allowed[r[F_CHORD]] for r in _bar_rows(song.events, bar) if r[F_KIND] == CHORD), bar
    assert [s.name for s in song.score.sections] == ["intro", "verse", "chorus", "verse 2", "chorus 2", "outro"]


def test_the_users_chords_are_obeyed_exactly() -> None:
    model = _tiny()
    plan = Plan(bpm=90, meter=(4, 4), key=Key(9, "minor"), tracks=TRACKS, sections=(("verse", 4), ("chorus", 4)))
    values = [9 * 12 + 1, 5 * 12, 0, 7 * 12]  # Am F C G
    asked = {bar: (values[bar % 4],) for bar in range(8)}
    asked[3] = (7 * 12, 4 * 12 + CHORD_QUALITIES.index("7"))  # G E7: two in one bar
    song = write_song(model, "x", plan, song_form(plan.sections, "pop"), options=DecodingOptions(seed=1),
                      chords=asked)
    for bar in range(8):
        got = tuple(r[F_CHORD] for r in _bar_rows(song.events, bar) if r[F_KIND] == CHORD)
        assert got == asked[bar]


def test_bad_chords_and_forms_are_clear() -> None:
    model = _tiny()
    plan = Plan(sections=(("verse", 4),))
    with pytest.raises(MelodexError, match="not chords of the vocabulary"):
        write_song(model, "x", plan, song_form(plan.sections), chords={9: (0,)})
    with pytest.raises(MelodexError, match="form covers"):
        write_song(model, "x", plan, song_form((("verse", 8),)))
    with pytest.raises(MelodexError, match="sections planned"):
        write_song(model, "x", Plan(n_bars=4), song_form((("verse", 4),)))


def test_copy_bars_and_set_chords_keep_the_grammar() -> None:
    model = _tiny()
    plan = Plan(bpm=100, meter=(4, 4), key=Key(0), tracks=TRACKS, sections=(("verse", 4), ("chorus", 4)))
    _, events = generate_score(model, "x", plan, options=DecodingOptions(seed=2), max_events=600)
    copied = copy_bars(events, (0, 2), 4, tracks=[0, 2])
    validate(copied, plan)
    assert _layer_rows(copied, 4, {0, 2}, False) == _layer_rows(events, 0, {0, 2}, False)
    assert _layer_rows(copied, 4, {1, 3}, True) == _layer_rows(events, 4, {1, 3}, True)
    rechorded = set_chords(events, range(4, 8), [(9 * 12 + 1,), (5 * 12, 0)])
    validate(rechorded, plan)
    assert [r[F_CHORD] for r in _bar_rows(rechorded, 5) if r[F_KIND] == CHORD] == [60, 0]
    assert _layer_rows(rechorded, 5, {0, 1, 2, 3}, False) == _layer_rows(events, 5, {0, 1, 2, 3}, False)


def test_zero_harmony_heads_change_nothing_and_trained_ones_steer_pitch() -> None:
    plain = _tiny(harmony=False)
    upgraded = with_harmony_heads(plain)
    plan = Plan(bpm=100, meter=(4, 4), key=Key(0), tracks=TRACKS[:3], n_bars=2)
    a = generate_score(plain, "x", plan, options=DecodingOptions(seed=4), max_events=300)[1]
    b = generate_score(upgraded, "x", plan, options=DecodingOptions(seed=4), max_events=300)[1]
    np.testing.assert_array_equal(a, b)
    with torch.no_grad():  # "the bass plays the root": a large bonus on interval 0 above the chord root
        upgraded.harmony.pitch_chord[3, :, 0] = 30.0
    events = write_song(upgraded, "x", replace_sections(plan), song_form((("verse", 2),)),
                        options=DecodingOptions(seed=4)).events
    chord = None
    for row in events:
        if row[F_KIND] == CHORD:
            chord = int(row[F_CHORD])
        elif row[F_KIND] == NOTE and row[F_TRACK] == 2:
            assert row[3] % 12 == chord // len(CHORD_QUALITIES)


def replace_sections(plan: Plan) -> Plan:
    return Plan(bpm=plan.bpm, meter=plan.meter, key=plan.key, tracks=plan.tracks, sections=(("verse", 2),))


def test_harmony_context_reads_the_sounding_chord_key_and_roles() -> None:
    model = _tiny()
    plan = Plan(bpm=100, meter=(4, 4), key=Key(2, "minor"), tracks=TRACKS, sections=(("verse", 2),))
    events = write_song(model, "x", plan, song_form(plan.sections), options=DecodingOptions(seed=0)).events
    context = harmony_context(torch.from_numpy(events.astype(np.int64))[None])
    assert (context.key[0, 4:] == Key(2, "minor").index).all()
    assert context.track_roles[0, -1, :4].tolist() == [0, 6, 3, 4]
    last = None
    for t, row in enumerate(events):
        if row[F_KIND] == CHORD:
            last = int(row[F_CHORD])
        if last is not None:
            assert int(context.chord[0, t]) == last
    from melodex.structure.conditioning import build_memory, controls_from_plan

    model.train()
    memory = build_memory(model, ["x"], [controls_from_plan(plan)])
    bars = torch.from_numpy((np.cumsum(events[:, F_KIND] == 7) - 1).clip(0))[None]
    loss, _ = model.loss(torch.from_numpy(events.astype(np.int64))[None], bars, memory)
    loss.backward()
    assert model.harmony.pitch_chord.grad is not None and model.harmony.pitch_chord.grad.abs().sum() > 0


# -- edits that follow the form -------------------------------------------------------------------------

PROMPT = "synthwave, only bass and drums, 100 BPM, A minor, verse 2 bars, chorus 2 bars, verse 2 bars, chorus 2 bars"




def _section_notes(session: edit.Session, name: str) -> list[np.ndarray]:
    section = session.score.section(name)
    starts = session.score.bar_starts()
    lo, hi = starts[section.start_bar], starts[section.end_bar]
    return [t.notes[(t.notes[:, 0] >= lo) & (t.notes[:, 0] < hi)] - [lo, 0, 0, 0] for t in session.score.tracks]


def test_a_generated_song_records_its_links_and_repeats_its_chorus(song) -> None:
    session = edit.open_session(song)
    assert edit.section_links(session) == [None, None, 0, 1]
    np.testing.assert_array_equal(encode(session.score), session.take.events)  # the Score holds every event


def test_a_fuller_band_survives_the_score_round_trip(tiny_models) -> None:
    """Songs write no "no chord" events (the Score has no symbol for them, so they were lost on re-encoding)."""
    options = pipeline.GenerateOptions(seed=1)
    brief = pipeline.read_brief("synthwave with bass and drums, 100 BPM, A minor, verse 2 bars, chorus 2 bars, "
                                "verse 2 bars, chorus 2 bars", options)
    score, events = pipeline.compose(brief, options, pipeline.seed_for(1, "compose"), tiny_models)
    np.testing.assert_array_equal(encode(score), events)


def test_regen_chorus_rewrites_its_repeat_and_only_unlinks(song) -> None:
    before = edit.open_session(song)
    tracks = edit.pick_tracks(before.score, None)
    edit.regen_section(before, "chorus", tracks, seed=41, label="regen chorus")
    after = edit.open_session(song)
    first, second = _section_notes(after, "chorus"), _section_notes(after, "chorus 2")
    # a 2-bar repeat keeps its first bar; its last bar is its own ending
    bar = after.score.meter.bar_ticks
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[a[:, 0] < bar], b[b[:, 0] < bar])
    verse_end, _ = edit.sample_span(after.score, (2, 4), after.take.sample_rate)
    np.testing.assert_array_equal(after.take.mix[:verse_end], before.take.mix[:verse_end])  # the verse is untouched
    edit.regen_section(after, "chorus 2", tracks, seed=42, label="regen chorus 2 only", only=True)
    unlinked = edit.open_session(song)
    assert edit.section_links(unlinked) == [None, None, 0, None]
    assert all(np.array_equal(a, b) for a, b in zip(first, _section_notes(unlinked, "chorus"), strict=True))


def test_rechord_sets_the_chords_of_a_section_and_its_repeat(song) -> None:
    session = edit.open_session(song)
    edit.rechord(session, "chorus", "Dm E7", seed=3, label="rechord chorus Dm E7")
    after = edit.open_session(song)
    for name in ("chorus", "chorus 2"):
        section = after.score.section(name)
        starts = after.score.bar_starts()
        chords = [str(c) for c in after.score.chords if starts[section.start_bar] <= c.tick < starts[section.end_bar]]
        assert chords == ["Dmin", "E7"]
    with pytest.raises(MelodexError, match="H"):
        edit.rechord(after, "chorus", "H7", seed=3, label="x")


def test_the_shipped_weights_write_a_song_whose_parts_follow_the_chords() -> None:
    """Real behaviour of the shipped model (not a tiny one): bass on the roots, pads on chord tones, a steady
    groove, a chorus that repeats, the tonic at both ends."""
    from melodex.evaluate.song import song_report
    from melodex.pipeline import WEIGHTS
    from melodex.structure.model import load_model

    model = load_model(WEIGHTS / "structure")
    sections = (("verse", 4), ("chorus", 4), ("verse", 4), ("chorus", 4))
    plan = Plan(bpm=110, meter=(4, 4), key=Key(7), tracks=((0, "melody"), (48, "pad"), (33, "bass"), (128, "drums")),
                sections=sections)
    song = write_song(model, "bright pop song with piano, strings, bass and drums", plan, song_form(sections, "pop"),
                      options=DecodingOptions(seed=0, style="pop"))
    report = song_report(song.score, style="pop")
    assert report["bass_root_per_bar"] >= 0.6
    assert report["chord_tones_harmony"] >= 0.7
    assert report["drum_consistency"] >= 0.6
    assert report["section_similarity"] >= 0.6
    assert report["tonic_start"] == 1.0 and report["tonic_end"] == 1.0
