"""Drum kits chosen by words (`timbre.drumkit`): captions, Hydrogen kits, the guided choice and the treatments."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from melodex.timbre import drumkit
from melodex.timbre.sampleset import SampleSet


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """The machine's kits and captions, measured into a fresh cache file (not the user's)."""
    return drumkit.catalogue(tmp_path_factory.mktemp("cache") / "drumkits.json")


def test_captions_name_the_kit_and_rank_its_sound() -> None:
    kits = [drumkit.DrumKit(n, "soundfont", "x", p) for p, n in enumerate(("A TR-808", "B Brush", "C Jazz"))]
    described = [{"kick_decay_s": 0.6, "snare_tail_s": 0.1}, {"kick_decay_s": 0.1, "snare_tail_s": 0.2},
                 {"kick_decay_s": 0.2, "snare_tail_s": 0.4}]
    captions = drumkit.captions(kits, described)
    assert "drum machine" in captions[0] and "long boomy kick" in captions[0] and "dry close snare" in captions[0]
    assert "brushes" in captions[1] and "short tight kick" in captions[1]
    assert "roomy reverberant snare" in captions[2] and "brushes" not in captions[2]


def test_hydrogen_kit_layers_map_gm_keys_to_files(tmp_path) -> None:
    (tmp_path / "kick.wav").write_bytes(b"")
    (tmp_path / "kick_soft.wav").write_bytes(b"")
    (tmp_path / "drumkit.xml").write_text(
        '<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit"><instrumentList>'
        "<instrument><name>Kick</name><gain>0.5</gain><volume>1</volume><midiOutNote>36</midiOutNote>"
        "<layer><filename>kick.wav</filename><min>0.5</min><max>1</max><gain>1</gain></layer>"
        "<layer><filename>kick_soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain></layer></instrument>"
        "<instrument><name>Missing</name><midiOutNote>38</midiOutNote>"
        "<layer><filename>gone.wav</filename></layer></instrument>"
        "<instrument><name>Out of range</name><midiOutNote>12</midiOutNote>"
        "<layer><filename>kick.wav</filename></layer></instrument>"
        "</instrumentList></drumkit_info>")
    layers = drumkit.hydrogen_layers(tmp_path / "drumkit.xml")
    assert list(layers) == [36]
    assert [(lo, hi, f.name, g) for lo, hi, f, g in layers[36]] == [(0.0, 0.5, "kick_soft.wav", 0.5),
                                                                      (0.5, 1.0, "kick.wav", 0.5)]
    (tmp_path / "broken.xml").write_text("<drumkit_info>")
    with pytest.raises(drumkit.DrumKitError, match="not a readable Hydrogen"):
        drumkit.hydrogen_layers(tmp_path / "broken.xml")


def test_words_choose_the_kit_and_guidance_makes_them_count(found) -> None:
    def first(text: str, cfg: float, seed: int = 0) -> str:
        return drumkit.rank_kits(f"{text} Drum Kit".strip(), cfg, seed, found)[0].name

    assert first("", 4.0) == drumkit.DEFAULT_KIT  # no words: the GM kit drum tracks always had
    assert all("808" in first("punchy 808", 4.0, seed) for seed in range(4))
    assert all("Brush" in first("brushed jazz kit", 4.0, seed) for seed in range(4))
    assert "Room" in first("big room", 4.0)
    text, bare = drumkit.kit_scores("punchy 808 Drum Kit", 1.0, found), drumkit.kit_scores("Drum Kit", 1.0, found)
    strong = drumkit.kit_scores("punchy 808 Drum Kit", 4.0, found)
    assert np.ptp(strong - bare) > 3.5 * np.ptp(text - bare)  # the words' lead grows with cfg


def test_style_words_alone_choose_a_kit_of_the_style(found) -> None:
    """A prompt without drum words still gets its style's kit (before, one vector per caption gave
    "synthwave happy" the Orchestra kit on a quarter of seeds and "house" the Room kit)."""
    def firsts(text: str) -> set[str]:
        return {drumkit.rank_kits(f"{text} Drum Kit", 4.0, seed, found)[0].name for seed in range(4)}

    assert all("808" in name for name in firsts("synthwave happy"))
    assert all("Electronic" in name for name in firsts("house energetic"))
    assert all("Orchestra" in name for name in firsts("cinematic"))
    assert all("Brush" in name for name in firsts("brushed jazz kit synthwave happy"))  # retimbre's words lead


def test_treatments_follow_the_words_and_grow_with_cfg() -> None:
    assert not any(drumkit.treatments("Drum Kit", 8.0).values())
    low, high = (drumkit.treatments("lo-fi dusty drums Drum Kit", cfg) for cfg in (1.0, 4.0))
    assert 0 < low["lofi"] < high["lofi"] and high["room"] == 0
    assert drumkit.treatments("big room Drum Kit", 4.0)["room"] > 0.5


def test_the_sample_set_carries_its_kit_and_extends_from_it(found, tmp_path) -> None:
    ranked = drumkit.rank_kits("lo-fi dusty drums Drum Kit", 4.0, 0, found)
    keys = (36, 38, 42)
    made = drumkit.drum_sampleset("lo-fi dusty drums Drum Kit", keys, (96,), 4.0, 0, 44100, kits=ranked)
    plain = drumkit.drum_sampleset("Drum Kit", keys, (96,), 4.0, 0, 44100, kits=ranked)
    crushed = drumkit.describe_hits(*[made.notes[(k, 96)].audio for k in keys])
    clean = drumkit.describe_hits(*[plain.notes[(k, 96)].audio for k in keys])
    assert crushed["rolloff_hz"] < 0.5 * clean["rolloff_hz"]  # band-limited: 2,495 vs 7,576 Hz
    made.save(tmp_path / "kit.npz")
    loaded = SampleSet.load(tmp_path / "kit.npz")
    assert loaded.settings["kit"] == ranked[0].name and json.loads(str(loaded.settings["treatments"]))["lofi"] == 1.0
    samples = json.loads(str(loaded.settings["samples"]))  # where each key came from, and what it was
    raw = drumkit.kit_hit(ranked[0], 38, 96, 44100)
    assert raw is not None and samples["38"] == [ranked[0].name, hashlib.sha256(raw.tobytes()).hexdigest()]
    extended = drumkit.extend_kit(loaded, [46])
    assert sorted(json.loads(str(extended.settings["samples"]))) == ["36", "38", "42", "46"]
    assert sorted(extended.pitches) == [36, 38, 42, 46]
    np.testing.assert_array_equal(extended.notes[(38, 96)].audio, made.notes[(38, 96)].audio)
    again = drumkit.drum_sampleset("lo-fi dusty drums Drum Kit", (46,), (96,), 4.0, 0, 44100, kits=ranked)
    np.testing.assert_array_equal(extended.notes[(46, 96)].audio, again.notes[(46, 96)].audio)
