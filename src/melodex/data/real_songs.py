"""Real multi-track genre songs installed by Debian packages, as `Score`s: the reference for song measures.

- `freedoom` (BSD licence): the music lumps `D_*` of freedoom1.wad and freedoom2.wad, standard MIDI files
  (the Doom engine also plays MUS lumps; none of the shipped ones is MUS, and any that were would be
  skipped and counted) with rock, metal, ambient and electronic band arrangements.
- `openttd-openmsx` (GPL-2): the .mid files of the OpenMSX music set for OpenTTD (jazz, ragtime, big band,
  pop instrumentals).

Both are installed by scripts/setup.sh; their licences are recorded in docs/DATASET.md.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from melodex.errors import MelodexError
from melodex.midi import MidiError, read_midi_bytes
from melodex.score import Score

FREEDOOM_WADS = (Path("/usr/share/games/doom/freedoom1.wad"), Path("/usr/share/games/doom/freedoom2.wad"))
OPENMSX_DIR = Path("/usr/share/games/openttd/baseset/openmsx")
LICENCES = {"freedoom": "BSD-3-Clause", "openmsx": "GPL-2.0"}
INSTALL_HINT = "apt-get install freedoom openttd-openmsx (bash scripts/setup.sh installs them)"


class RealSongsError(MelodexError):
    """The real songs are not installed, or a package file is damaged."""


@dataclass(frozen=True)
class RealSong:
    name: str  # "freedoom2/D_RUNNIN", "openmsx/chuggachugga"
    source: str  # "freedoom" or "openmsx"
    licence: str
    score: Score


def wad_music(path: Path) -> list[tuple[str, bytes]]:
    """The (name, bytes) of every music lump (`D_*`) of a Doom WAD file, in directory order.

    A WAD is a 12-byte header ('IWAD' or 'PWAD', lump count, directory offset) and a directory of 16-byte
    entries (offset, size, 8-byte name)."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] not in (b"IWAD", b"PWAD"):
        raise RealSongsError(f"{path} is not a Doom WAD file (no IWAD/PWAD header): reinstall freedoom")
    count, directory = struct.unpack_from("<ii", data, 4)
    if count < 0 or directory < 12 or directory + 16 * count > len(data):
        raise RealSongsError(f"{path} has a damaged lump directory: reinstall freedoom")
    lumps = []
    for index in range(count):
        offset, size, raw_name = struct.unpack_from("<ii8s", data, directory + 16 * index)
        name = raw_name.split(b"\0", 1)[0].decode("ascii", "replace")
        if name.startswith("D_") and size > 0 and offset + size <= len(data):
            lumps.append((name, data[offset : offset + size]))
    return lumps


def load_real_songs(sources: tuple[str, ...] = ("freedoom", "openmsx")) -> tuple[list[RealSong], dict[str, int]]:
    """Every readable song of the installed packages, each distinct file once, and the skip counts
    ({"mus": lumps in the MUS format, "unreadable": files symusic could not read, "duplicate": ...}).

    Raises RealSongsError when a requested package is not installed."""
    unknown = set(sources) - set(LICENCES)
    if unknown:
        raise RealSongsError(f"unknown real-song source(s) {', '.join(sorted(unknown))}: use freedoom, openmsx")
    files: list[tuple[str, str, bytes]] = []
    if "freedoom" in sources:
        wads = [w for w in FREEDOOM_WADS if w.is_file()]
        if not wads:
            raise RealSongsError(f"the freedoom WAD files are not installed ({FREEDOOM_WADS[0]}): {INSTALL_HINT}")
        for wad in wads:
            files += [("freedoom", f"{wad.stem}/{name}", data) for name, data in wad_music(wad)]
    if "openmsx" in sources:
        paths = sorted(OPENMSX_DIR.glob("*.mid")) if OPENMSX_DIR.is_dir() else []
        if not paths:
            raise RealSongsError(f"the OpenMSX MIDI files are not installed ({OPENMSX_DIR}): {INSTALL_HINT}")
        files += [("openmsx", f"openmsx/{p.stem}", p.read_bytes()) for p in paths]
    songs, skipped, seen = [], {"mus": 0, "unreadable": 0, "duplicate": 0}, set()
    for source, name, data in files:
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(digest)
        if data.startswith(b"MUS\x1a"):
            skipped["mus"] += 1
            continue
        try:
            score = read_midi_bytes(data, name=name)
        except MidiError:
            skipped["unreadable"] += 1
            continue
        songs.append(RealSong(name, source, LICENCES[source], score))
    return songs, skipped
