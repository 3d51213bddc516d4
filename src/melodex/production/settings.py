"""The sound of a mix: `MixSettings` chosen from the prompt's texture words, and how each track role sits in it.

Plain data with no audio code, so the brief and the CLI can read the texture words without loading pedalboard."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass(frozen=True)
class MixSettings:
    """The sound of the mix. Amounts are 0-1 unless noted; `words` records which prompt words chose them."""

    reverb: float = 0.25  # overall reverb send
    room_size: float = 0.45  # 0 small room .. 1 hall
    warmth: float = 0.15  # low-mid shelf lift and tape-like saturation
    brightness: float = 0.0  # -1 dark .. +1 bright (high shelf)
    punch: float = 0.35  # compression and transient emphasis
    width: float = 0.5  # 0 mono .. 1 wide (panning spread and pseudo-stereo)
    lofi: float = 0.0  # bit depth, sample-rate reduction, band limiting, hiss
    target_lufs: float = -14.0  # integrated loudness of the master
    ceiling_dbtp: float = -1.0  # true-peak ceiling of the master (4x oversampled)
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"{f.name} {getattr(self, f.name):g}" for f in fields(self) if f.name in TEXTURE_FIELDS]
        chosen = f" (from: {', '.join(self.words)})" if self.words else " (defaults)"
        return ", ".join(parts) + chosen


TEXTURE_FIELDS = ("reverb", "room_size", "warmth", "brightness", "punch", "width", "lofi")

# Texture words and the settings each implies. When several words set one field, their values are
# averaged, so "clean but warm" lands between the two; fields no word mentions keep their defaults.
WORD_TABLE: dict[str, dict[str, float]] = {
    # space
    "spacious": {"reverb": 0.6, "room_size": 0.75, "width": 0.8},
    "space": {"reverb": 0.55, "room_size": 0.7, "width": 0.75},
    "reverb": {"reverb": 0.6, "room_size": 0.7},
    "ambient": {"reverb": 0.7, "room_size": 0.85, "width": 0.85, "punch": 0.15},
    "atmospheric": {"reverb": 0.65, "room_size": 0.8, "width": 0.8},
    "ethereal": {"reverb": 0.75, "room_size": 0.9, "width": 0.9, "brightness": 0.3},
    "dreamy": {"reverb": 0.65, "room_size": 0.8, "width": 0.8, "brightness": -0.1},
    "cathedral": {"reverb": 0.85, "room_size": 0.95},
    "hall": {"reverb": 0.6, "room_size": 0.85},
    "lush": {"reverb": 0.5, "room_size": 0.7, "width": 0.85, "warmth": 0.35},
    "dry": {"reverb": 0.05, "room_size": 0.3},
    "intimate": {"reverb": 0.12, "room_size": 0.3, "width": 0.35},
    "close": {"reverb": 0.1, "room_size": 0.25},
    # colour
    "warm": {"warmth": 0.6, "brightness": -0.2},
    "warmth": {"warmth": 0.6, "brightness": -0.2},
    "analog": {"warmth": 0.55, "brightness": -0.15},
    "tape": {"warmth": 0.65, "brightness": -0.25, "lofi": 0.15},
    "vintage": {"warmth": 0.5, "brightness": -0.3, "lofi": 0.25},
    "cozy": {"warmth": 0.5, "brightness": -0.25, "reverb": 0.2},
    "mellow": {"warmth": 0.45, "brightness": -0.35, "punch": 0.2},
    "saturated": {"warmth": 0.85},
    "gritty": {"warmth": 0.9, "brightness": 0.1, "lofi": 0.2},
    "distorted": {"warmth": 1.0, "brightness": 0.15},
    "dirty": {"warmth": 0.85, "lofi": 0.3},
    "bright": {"brightness": 0.6},
    "crisp": {"brightness": 0.5, "punch": 0.5},
    "shiny": {"brightness": 0.6},
    "sparkling": {"brightness": 0.7, "reverb": 0.35},
    "airy": {"brightness": 0.5, "reverb": 0.45, "width": 0.7},
    "dark": {"brightness": -0.6},
    "muffled": {"brightness": -0.8},
    "murky": {"brightness": -0.6, "reverb": 0.4},
    "moody": {"brightness": -0.35, "reverb": 0.4},
    # lo-fi
    "lo-fi": {"lofi": 0.8, "warmth": 0.5, "brightness": -0.4, "width": 0.35},
    "lofi": {"lofi": 0.8, "warmth": 0.5, "brightness": -0.4, "width": 0.35},
    "lo fi": {"lofi": 0.8, "warmth": 0.5, "brightness": -0.4, "width": 0.35},
    "cassette": {"lofi": 0.6, "warmth": 0.55, "brightness": -0.45},
    "vinyl": {"lofi": 0.5, "warmth": 0.45, "brightness": -0.3},
    "dusty": {"lofi": 0.6, "brightness": -0.4},
    "bitcrushed": {"lofi": 1.0},
    "chiptune": {"lofi": 0.7, "reverb": 0.1, "brightness": 0.3},
    # dynamics
    "punchy": {"punch": 0.85},
    "punch": {"punch": 0.85},
    "tight": {"punch": 0.7, "reverb": 0.12},
    "hard": {"punch": 0.8},
    "aggressive": {"punch": 0.9, "warmth": 0.6, "brightness": 0.3},
    "energetic": {"punch": 0.75},
    "driving": {"punch": 0.75},
    "soft": {"punch": 0.15},
    "gentle": {"punch": 0.15, "brightness": -0.15},
    "calm": {"punch": 0.15, "reverb": 0.35},
    # stereo
    "wide": {"width": 0.95},
    "stereo": {"width": 0.85},
    "huge": {"width": 0.95, "reverb": 0.5, "punch": 0.6},
    "cinematic": {"width": 0.9, "reverb": 0.6, "room_size": 0.85},
    "narrow": {"width": 0.15},
    "mono": {"width": 0.0},
    # hygiene
    "clean": {"warmth": 0.0, "lofi": 0.0, "brightness": 0.1, "reverb": 0.2},
    "pristine": {"warmth": 0.0, "lofi": 0.0, "brightness": 0.2},
    "polished": {"lofi": 0.0, "punch": 0.55, "brightness": 0.2},
    "hi-fi": {"lofi": 0.0, "brightness": 0.25},
}
_WORD_PATTERN = re.compile(
    r"(?<![a-z])(" + "|".join(re.escape(w) for w in sorted(WORD_TABLE, key=len, reverse=True)) + r")(?![a-z])"
)


def mix_settings_from_text(text: str | None) -> MixSettings:
    """Choose mix settings from the prompt's texture words (see WORD_TABLE); no words -> defaults."""
    found = _WORD_PATTERN.findall((text or "").lower())
    if not found:
        return MixSettings()
    values: dict[str, list[float]] = {}
    for word in found:
        for name, value in WORD_TABLE[word].items():
            values.setdefault(name, []).append(value)
    chosen = {name: float(np.mean(v)) for name, v in values.items()}
    return replace(MixSettings(), **chosen, words=tuple(dict.fromkeys(found)))


@dataclass(frozen=True)
class RoleMix:
    """How a track of one role sits in the mix."""

    level_db: float  # loudness relative to the lead part
    pan: float  # -1 left .. +1 right (centre of the role's spread)
    send: float  # reverb send before the mix's `reverb` amount scales it
    highpass_hz: float  # clears rumble the role does not need
    width: float  # how much of the mix's pseudo-stereo width this role takes


ROLE_MIX: dict[str, RoleMix] = {
    "melody": RoleMix(0.0, 0.0, 0.30, 90.0, 0.3),
    "lead": RoleMix(0.0, 0.0, 0.30, 90.0, 0.3),
    "counter": RoleMix(-3.0, -0.35, 0.35, 110.0, 0.5),
    "harmony": RoleMix(-4.0, 0.3, 0.40, 80.0, 0.8),
    "accompaniment": RoleMix(-4.0, -0.3, 0.35, 70.0, 0.7),
    "pad": RoleMix(-7.0, 0.0, 0.55, 120.0, 1.0),
    "bass": RoleMix(-2.0, 0.0, 0.04, 28.0, 0.0),
    "drums": RoleMix(-1.0, 0.0, 0.12, 25.0, 0.35),
}
STEM_LUFS = -20.0  # where each lead-level stem is staged before effects: headroom for the bus
