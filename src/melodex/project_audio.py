"""A version's audio stored as content-addressed blocks that versions share.

An edit keeps most of the song's samples (every sample outside the rewritten bars stays exactly as it
was), but each stem and the mix are whole files, so a file-level link shares only the stems an edit did
not touch at all. Here a signal is cut into blocks of BLOCK_FRAMES frames, counted from the song's start;
each block is a FLAC file named by the SHA-256 of its bytes (libsndfile encodes the same samples to the
same bytes), in the version's own `audio/` folder. A block another version already holds is hard-linked
from it instead of written, so each version folder stays complete on its own (pruning or deleting one
never breaks another) while the disk holds each distinct block once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from melodex.files import temp_name

BLOCK_FRAMES = 1 << 16  # 1.49 s at 44.1 kHz: an edit of a few bars re-stores a few blocks, a minute is ~40 files
AUDIO_DIR = "audio"


def storage_scale(audio: np.ndarray) -> float:
    """The power of two audio louder than full scale is divided by to be stored as PCM.

    A power of two, so an edit that changes the peak a little keeps the same scale and the untouched
    samples stay bit-identical across versions (and so their blocks shared).
    """
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return 1.0 if peak < 1.0 else float(2.0 ** np.ceil(np.log2(peak * 1.0001)))


def known_blocks(versions: Path) -> dict[str, Path]:
    """Every block the project's version folders hold, by name (a listing of folders: no file is read)."""
    known: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for folder in versions.iterdir():
            blocks = folder / AUDIO_DIR
            if folder.name.startswith(".") or folder.is_symlink() or blocks.is_symlink() or not blocks.is_dir():
                continue
            for block in blocks.iterdir():
                if block.suffix == ".flac" and not block.name.startswith(".") and block.is_file() \
                        and not block.is_symlink():
                    known.setdefault(block.stem, block)
    return known


def place_block(folder: Path, name: str, known: dict[str, Path]) -> bool:
    """Hard-link block `name` into folder/audio from another version; False when no version has it."""
    target = folder / AUDIO_DIR / f"{name}.flac"
    if target.exists():
        return True
    source = known.get(name)
    if source is None:
        return False
    try:
        os.link(source, target)
    except FileExistsError:  # another thread of this writer placed it first
        pass
    except OSError:  # e.g. the source was pruned meanwhile (not under this lock) or links are unsupported
        return False
    return True


def store_signal(folder: Path, audio: np.ndarray, sample_rate: int, known: dict[str, Path]) -> tuple[float, list[str]]:
    """Store `audio` (frames, channels) as blocks in folder/audio; returns its storage scale and block names."""
    audio = np.asarray(audio, dtype=np.float32)
    scale = storage_scale(audio)
    names = []
    for start in range(0, len(audio), BLOCK_FRAMES):
        buffer = io.BytesIO()
        sf.write(buffer, audio[start:start + BLOCK_FRAMES] / scale, sample_rate, format="FLAC", subtype="PCM_24")
        data = buffer.getvalue()
        name = hashlib.sha256(data).hexdigest()
        if not place_block(folder, name, known):
            target = folder / AUDIO_DIR / f"{name}.flac"
            tmp = temp_name(target)
            tmp.write_bytes(data)
            os.replace(tmp, target)  # two threads writing one block write the same bytes
        names.append(name)
    return scale, names


def read_signal(folder: Path, names: list[str], scale: float, channels: int = 2) -> np.ndarray:
    """The signal stored as `names` in folder/audio, at its real level."""
    parts = [sf.read(folder / AUDIO_DIR / f"{name}.flac", dtype="float32", always_2d=True)[0] for name in names]
    if not parts:
        return np.zeros((0, channels), dtype=np.float32)
    return np.concatenate(parts) * np.float32(scale)
