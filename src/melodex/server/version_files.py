"""The files the studio shows and serves of a version: previews, tagged mixes, stems and export zips.

Split from studio.py, which changes projects, along the seam of immutability: a version never changes, so
everything here is exported once into `<data>/cache/<project>/<version>/` and only ever trimmed (least
recently used first), never updated. What a project is and which version a name means stays in `Studio`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import zipfile
from abc import ABC, abstractmethod
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from melodex import edit
from melodex.errors import MelodexError
from melodex.export import ExportOptions, export_take
from melodex.instruments import program_name
from melodex.score import DUR, PITCH, START, VEL, Score
from melodex.server.jobs import Progress
from melodex.tokens import decode

SPECTROGRAM_ROWS = 256
SPECTROGRAM_MAX_COLUMNS = 1600
SPECTROGRAM_RANGE_DB = 80.0
CACHE_BYTES = 256 << 20  # previews and zips kept under <data>/cache/; the least recently used go first


class NotFound(MelodexError):
    """A project, version, job or file that does not exist (HTTP 404)."""


class VersionFiles(ABC):
    """The cache of versions' files. `Studio` says which project folder and version a request means."""

    cache_dir: Path
    cache_bytes: int

    @abstractmethod
    def resolve(self, pid: str, version: str | None) -> str:
        """The version id a name (an id, 'current', ...) means in project `pid`; NotFound if none."""

    @abstractmethod
    def ready_folder(self, pid: str) -> Path:
        """The folder of a project that has music."""

    @abstractmethod
    def session(self, pid: str, version: str | None = None) -> edit.Session:
        """An edit session opened on a version of the project."""

    def version_dir(self, pid: str, version: str | None) -> Path:
        """The exported files of a version (mix.wav, stems/, song.mid, score.json, spectrogram.png)."""
        vid = self.resolve(pid, version)
        target = self.cache_dir / pid / vid
        if (target / "spectrogram.png").is_file():
            with contextlib.suppress(OSError):
                os.utime(target)  # recently used: kept longest
            return target
        return self._preview(pid, vid, None)

    def trim_cache(self, keep: Path | None = None) -> int:
        """Delete the least recently used previews and zips until the cache is under `cache_bytes`; bytes freed.

        Versions never change, so anything deleted is exported again when it is asked for."""
        entries = [p for d in self.cache_dir.iterdir() if d.is_dir() for p in d.iterdir() if not p.name.startswith(".")]

        def size(path: Path) -> int:
            with contextlib.suppress(OSError):
                return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
                    else path.stat().st_size
            return 0

        def used(path: Path) -> float:
            with contextlib.suppress(OSError):
                return path.stat().st_mtime
            return 0.0

        sizes = {p: size(p) for p in entries}
        total, freed = sum(sizes.values()), 0
        for entry in sorted(entries, key=used):
            if total <= self.cache_bytes:
                break
            if keep is not None and (entry == keep or keep.is_relative_to(entry)):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            total -= sizes[entry]
            freed += sizes[entry]
        return freed

    def _preview(self, pid: str, vid: str, progress: Progress | None) -> Path:
        target = self.cache_dir / pid / vid
        if (target / "spectrogram.png").is_file():
            return target
        if progress:
            progress("preview", 0.0)
        target.parent.mkdir(parents=True, exist_ok=True)
        session = edit.open_session(self.ready_folder(pid), vid)
        tmp = Path(tempfile.mkdtemp(prefix=f".{vid}.", dir=target.parent))
        try:
            export_take(session.take, tmp)
            (tmp / "score.json").write_text(json.dumps(score_view(session, vid)))
            spectrogram_png(session.take.mix, session.take.sample_rate, tmp / "spectrogram.png")
            try:
                os.rename(tmp, target)
            except OSError:  # another request exported it first: theirs is the same
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.trim_cache(keep=target)
        if progress:
            progress("preview", 1.0)
        return target

    def stem_file(self, pid: str, version: str | None, number: int) -> Path:
        """Track `number`'s stem (from 1, as the API and the file names count tracks). The number after
        the last track is the reverb return, which the stems need to add up to the mix (the studio's mixer
        plays it under the tracks)."""
        folder = self.version_dir(pid, version) / "stems"
        tracks = len(json.loads((folder.parent / "score.json").read_text())["tracks"])
        found = sorted(folder.glob(f"{number:02d}-*.wav")) if 1 <= number <= tracks + 1 else []
        if not found:
            raise NotFound(f"no stem {number} in this version (tracks 1-{tracks}, {tracks + 1} the reverb return)")
        return found[0]

    def export_folder(self, pid: str, version: str | None, options: ExportOptions) -> Path:
        """A version exported as `melodex export` would with these options (made once per options)."""
        vid = self.resolve(pid, version)
        key = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode()).hexdigest()[:16]
        target = self.cache_dir / pid / f"export-{vid}-{key}"
        if target.is_dir():
            with contextlib.suppress(OSError):
                os.utime(target)  # recently used: kept longest
            return target
        session = self.session(pid, vid)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".export-{vid}.", dir=target.parent) as tmp:
            export_take(session.take, Path(tmp) / "out", options)  # an unknown section: refused, nothing kept
            with contextlib.suppress(OSError):  # another request exported it first: theirs is the same
                os.rename(Path(tmp) / "out", target)
        self.trim_cache(keep=target)
        return target

    def export_zip(self, pid: str, version: str | None, options: ExportOptions) -> Path:
        """The export of `export_folder`, zipped."""
        folder = self.export_folder(pid, version, options)
        target = zip_once(folder.with_name(f"{folder.name}.zip"), folder, f"{pid}-{self.resolve(pid, version)}")
        with contextlib.suppress(OSError):
            os.utime(target)  # recently used: kept longest
        self.trim_cache(keep=target)
        return target

    def export_file(self, pid: str, version: str | None, name: str, options: ExportOptions) -> Path:
        """One file of an export with these options (what the studio's quick links fetch): `mix.<format>` (the
        mix alone), `stems.zip` (the stems, in the first format) or `song.mid`; the rest of `options` apply."""
        if name.startswith("mix."):
            options = replace(options, formats=(name.removeprefix("mix."),), stems="none", click=False)
        elif name == "stems.zip":
            if options.stems == "none":
                raise MelodexError("stems.zip with stems 'none' has nothing in it: ask for processed or dry stems")
            options = replace(options, formats=options.formats[:1], click=False)
        elif name == "song.mid":  # the MIDI file depends only on the section and the chord markers
            options = ExportOptions(section=options.section, chord_markers=options.chord_markers, stems="none")
        else:
            raise NotFound(f"no export file {name!r}: mix.wav, mix.flac, mix.mp3, stems.zip or song.mid")
        folder = self.export_folder(pid, version, options)
        if name != "stems.zip":
            return folder / name
        # beside the folder, not in it: an export.zip of the same options zips the folder
        return zip_once(folder.with_name(f"{folder.name}-stems.zip"), folder / "stems",
                        f"{pid}-{self.resolve(pid, version)}-stems")

    def stems_zip(self, pid: str, version: str | None) -> Path:
        folder = self.version_dir(pid, version)
        return zip_once(folder / "stems.zip", folder / "stems", f"{pid}-{folder.name}-stems")


def zip_once(target: Path, source: Path, root: str) -> Path:
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, f"{root}/{path.relative_to(source)}")
    os.replace(tmp, target)
    return target


def score_view(session: edit.Session, vid: str) -> dict[str, Any]:
    """The notes of a version in seconds, for the piano roll and the section timeline."""
    score: Score = session.score
    bar_ticks = np.array(score.bar_starts(), dtype=np.int64)
    bar_seconds = score.seconds_at(bar_ticks)
    tracks = []
    for index, track in enumerate(score.tracks):
        notes = track.notes
        starts = score.seconds_at(notes[:, START]) if len(notes) else np.zeros(0)
        ends = score.seconds_at(notes[:, START] + notes[:, DUR]) if len(notes) else np.zeros(0)
        rows = np.stack([np.round(starts, 4), np.round(ends - starts, 4), notes[:, PITCH], notes[:, VEL]], axis=1)
        timbre = session.take.timbres.get(index)
        tracks.append({"number": index + 1, "index": index, "role": track.role, "program": track.program,
                       "instrument": program_name(track.program), "is_drum": track.is_drum,
                       "timbre": timbre.text if timbre else "", "renderer": timbre.renderer if timbre else "",
                       "notes": rows.tolist()})
    sections = [{"name": s.name, "start_bar": s.start_bar, "n_bars": s.n_bars,
                 "start": round(float(bar_seconds[min(s.start_bar, len(bar_seconds) - 1)]), 4),
                 "end": round(float(bar_seconds[min(s.end_bar, len(bar_seconds) - 1)]), 4)}
                for s in score.sections]
    return {"version": vid, "bpm": score.bpm, "meter": str(score.meter), "key": str(score.key),
            "n_bars": score.bar_count(), "duration": round(len(session.take.mix) / session.take.sample_rate, 4),
            "sample_rate": session.take.sample_rate, "bar_lines": np.round(bar_seconds, 4).tolist(),
            "sections": sections, "tracks": tracks, "changed_bars": _changed_bars(session, vid),
            "chords": [{"bar": bar - 1, "name": chord.name(score.key)} for bar, chord in zip(
                np.searchsorted(bar_ticks, [c.tick for c in score.chords], side="right").tolist(), score.chords,
                strict=True)]}


def _changed_bars(session: edit.Session, vid: str) -> list[int]:
    """The 0-based bars whose notes this version changed from the one it was made from, and the bars it added
    (an extension's new bars count even where the model left them silent), for the timeline."""
    parent = session.project.parent_of(vid)
    if parent is None:
        return []
    try:
        events = np.load(session.project.path / "versions" / parent / "events.npy", allow_pickle=False)
        before = decode(events)
    except (OSError, ValueError):
        return []  # a damaged parent only loses the marks, never the view
    added = range(before.bar_count(), session.score.bar_count())
    return sorted({bar for bars in edit.changed_bars(before, session.score) for bar in bars} | set(added))


def spectrogram_png(mix: np.ndarray, sample_rate: int, path: Path) -> None:
    """A log-frequency, dB-scaled spectrogram of the mix (30 Hz to Nyquist), written as a PNG."""
    try:
        from matplotlib import colormaps
        from matplotlib.image import imsave
    except ImportError as exc:
        raise MelodexError("the spectrogram needs matplotlib: pip install 'melodex[server]'") from exc
    mono = np.nan_to_num(np.asarray(mix, dtype=np.float32))
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    n_fft = 2048 if sample_rate > 24000 else 1024
    hop = max(n_fft // 8, int(np.ceil(len(mono) / SPECTROGRAM_MAX_COLUMNS)))
    padded = np.pad(mono, (n_fft // 2, n_fft // 2))
    n_frames = max(1, 1 + (len(padded) - n_fft) // hop)
    frames = np.lib.stride_tricks.as_strided(padded, (n_frames, n_fft), (padded.strides[0] * hop,
                                                                          padded.strides[0]), writeable=False)
    window = np.hanning(n_fft).astype(np.float32)
    # scaled so a full-scale sine peaks near 0 dB: silence then stays dark instead of being stretched
    power = (np.abs(np.fft.rfft(frames * window, axis=1)) / (window.sum() / 2)) ** 2
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    rows_hz = np.geomspace(30.0, sample_rate / 2, SPECTROGRAM_ROWS)
    # each row takes the strongest bin in its band, so low notes don't vanish between log-spaced rows
    edges = np.searchsorted(bin_hz, np.sqrt(rows_hz[:-1] * rows_hz[1:]))
    edges = np.concatenate([[np.searchsorted(bin_hz, 30.0)], edges, [len(bin_hz)]])
    edges = np.minimum(edges, len(bin_hz) - 1)
    rows = np.stack([power[:, lo:max(hi, lo + 1)].max(axis=1) for lo, hi in itertools.pairwise(edges.tolist())])
    db = 10 * np.log10(rows + 1e-12)
    top = max(float(db.max()), -40.0)
    db = np.clip((db - (top - SPECTROGRAM_RANGE_DB)) / SPECTROGRAM_RANGE_DB, 0.0, 1.0)
    imsave(path, db[::-1], cmap=colormaps["magma"], vmin=0.0, vmax=1.0, format="png")

