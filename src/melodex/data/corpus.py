"""The committed corpus dataset: its on-disk format, writer, and the loader everything trains from.

A dataset directory holds three files:
  manifest.json     format version, counts per collection, SHA-256 of the other files, provenance
  works.jsonl.gz    one JSON object per work: id, attributes, captions, the score's header
                    (tempo map, meters, key, sections, chords, tracks) and the per-bar chord estimate
  notes.npz         every note of every track, concatenated in work and track order, one array per
                    column; starts are delta-coded within each track so the arrays compress well
Scores are built lazily per work from the big arrays, so loading the whole corpus takes seconds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from melodex.errors import MelodexError
from melodex.score import (
    DUR,
    PITCH,
    START,
    TPQ,
    VEL,
    ChordSymbol,
    Key,
    Score,
    Section,
    Tempo,
    TimeSignature,
    Track,
)

FORMAT = "melodex-corpus"
FORMAT_VERSION = 1
MANIFEST, WORKS, NOTES = "manifest.json", "works.jsonl.gz", "notes.npz"
DEFAULT_CORPUS_DIR = Path(__file__).resolve().parents[3] / "data" / "corpus"


class CorpusError(MelodexError):
    """The dataset is missing, damaged, or of a version this code cannot read."""


# -- score header <-> JSON -------------------------------------------------------------------------


def score_header(score: Score) -> dict[str, Any]:
    """Everything about a score except its notes, as plain JSON values."""
    return {
        "tempos": [[t.tick, t.bpm] for t in score.tempos],
        "time_signatures": [[t.tick, t.numerator, t.denominator] for t in score.time_signatures],
        "key": [score.key.tonic, score.key.mode],
        "n_bars": score.n_bars,
        "sections": [[s.name, s.start_bar, s.n_bars] for s in score.sections],
        "chords": [[c.tick, c.root, c.quality] for c in score.chords],
        "tracks": [
            {"program": t.program, "role": t.role, "name": t.name, "n_notes": len(t.notes)} for t in score.tracks
        ],
    }


def chords_to_json(chords: Iterable[ChordSymbol]) -> list[list[Any]]:
    return [[c.tick, c.root, c.quality] for c in chords]


def chords_from_json(rows: Iterable[Sequence[Any]]) -> list[ChordSymbol]:
    return [ChordSymbol(int(tick), int(root), str(quality)) for tick, root, quality in rows]


def score_from_header(header: dict[str, Any], track_notes: Sequence[np.ndarray]) -> Score:
    """Rebuild a Score from its JSON header and one (n, 4) note array per track."""
    tracks = [
        Track(program=int(t["program"]), role=str(t["role"]), name=str(t["name"]), notes=notes)
        for t, notes in zip(header["tracks"], track_notes, strict=True)
    ]
    return Score(
        tracks=tracks,
        tempos=[Tempo(float(bpm), int(tick)) for tick, bpm in header["tempos"]],
        time_signatures=[TimeSignature(int(n), int(d), int(tick)) for tick, n, d in header["time_signatures"]],
        key=Key(int(header["key"][0]), str(header["key"][1])),
        sections=[Section(str(name), int(start), int(n)) for name, start, n in header["sections"]],
        chords=chords_from_json(header["chords"]),
        n_bars=int(header["n_bars"]),
    )


# -- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkEntry:
    """One work ready to be written: its record (id, attributes, captions, header) and its notes."""

    record: dict[str, Any]
    notes: np.ndarray  # (n, 4) int, tracks one after another in the header's track order


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with fixed zip timestamps so identical data gives identical bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def write_corpus(out_dir: Path, entries: Sequence[WorkEntry], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write a dataset directory; `manifest` gets format, version, totals and checksums added."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list[np.ndarray]] = {"start_delta": [], "duration": [], "pitch": [], "velocity": []}
    for entry in entries:
        offset = 0
        for track in entry.record["score"]["tracks"]:
            notes = entry.notes[offset : offset + track["n_notes"]]
            offset += track["n_notes"]
            starts = notes[:, START]
            columns["start_delta"].append(np.diff(starts, prepend=0))
            columns["duration"].append(notes[:, DUR])
            columns["pitch"].append(notes[:, PITCH])
            columns["velocity"].append(notes[:, VEL])
        if offset != len(entry.notes):
            raise CorpusError(f"work {entry.record['id']}: track note counts do not add up to its notes")
    arrays: dict[str, np.ndarray] = {
        "start_delta": np.concatenate(columns["start_delta"] or [np.zeros(0)]).astype(np.int32),
        "duration": np.concatenate(columns["duration"] or [np.zeros(0)]).astype(np.int32),
        "pitch": np.concatenate(columns["pitch"] or [np.zeros(0)]).astype(np.uint8),
        "velocity": np.concatenate(columns["velocity"] or [np.zeros(0)]).astype(np.uint8),
    }
    if len(arrays["start_delta"]) and arrays["start_delta"].min() < 0:
        raise CorpusError("a track's notes are not sorted by start; cannot delta-code them")
    tmp_notes = out_dir / (NOTES + ".tmp.npz")
    _write_npz(tmp_notes, arrays)
    tmp_works = out_dir / (WORKS + ".tmp")
    # mtime=0 keeps the gzip bytes (and so the checksum) identical across identical builds.
    with open(tmp_works, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        for entry in entries:
            gz.write((json.dumps(entry.record, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
    os.replace(tmp_notes, out_dir / NOTES)
    os.replace(tmp_works, out_dir / WORKS)
    full = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "tpq": TPQ,
        **manifest,
        "totals": {
            "works": len(entries),
            "notes": len(arrays["pitch"]),
            "bars": int(sum(e.record["score"]["n_bars"] for e in entries)),
        },
        "files": {
            name: {"sha256": sha256_of(out_dir / name), "bytes": (out_dir / name).stat().st_size}
            for name in (WORKS, NOTES)
        },
    }
    (out_dir / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
    return full


# -- reading ---------------------------------------------------------------------------------------


class CorpusWork(NamedTuple):
    """One work of the corpus; unpacks as (score, attributes, captions)."""

    score: Score
    attributes: dict[str, Any]
    captions: list[str]


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CorpusError(f"no corpus at {path} ({MANIFEST} missing); build one with `melodex data build`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{manifest_path} is damaged ({exc}); rebuild with `melodex data build`") from exc
    if manifest.get("format") != FORMAT:
        raise CorpusError(f"{manifest_path} is not a melodex corpus manifest (format {manifest.get('format')!r})")
    if manifest.get("version") != FORMAT_VERSION:
        raise CorpusError(
            f"corpus at {path} has format version {manifest.get('version')!r}; this melodex reads version "
            f"{FORMAT_VERSION}. Rebuild it with `melodex data build` or update melodex"
        )
    return manifest


class Corpus:
    """The works of a dataset (or a subset of them), as (Score, attributes, captions) items."""

    def __init__(
        self,
        manifest: dict[str, Any],
        records: list[dict[str, Any]],
        columns: dict[str, np.ndarray],
        track_offsets: np.ndarray,
        work_tracks: np.ndarray,
        indices: np.ndarray | None = None,
    ) -> None:
        self.manifest = manifest
        self._records = records
        self._columns = columns
        self._track_offsets = track_offsets  # note index where each track starts (+ end)
        self._work_tracks = work_tracks  # track index where each work starts (+ end)
        self._indices = np.arange(len(records)) if indices is None else indices

    def __len__(self) -> int:
        return len(self._indices)

    def __iter__(self) -> Iterator[CorpusWork]:
        for position in range(len(self)):
            yield self[position]

    def __getitem__(self, position: int) -> CorpusWork:
        index = int(self._indices[position])
        record = self._records[index]
        first, last = self._work_tracks[index], self._work_tracks[index + 1]
        track_notes = []
        for track in range(first, last):
            lo, hi = self._track_offsets[track], self._track_offsets[track + 1]
            notes = np.empty((hi - lo, 4), dtype=np.int64)
            notes[:, START] = np.cumsum(self._columns["start_delta"][lo:hi])
            notes[:, DUR] = self._columns["duration"][lo:hi]
            notes[:, PITCH] = self._columns["pitch"][lo:hi]
            notes[:, VEL] = self._columns["velocity"][lo:hi]
            track_notes.append(notes)
        score = score_from_header(record["score"], track_notes)
        return CorpusWork(score, dict(record["attributes"]), list(record["captions"]))

    @property
    def ids(self) -> list[str]:
        return [self._records[i]["id"] for i in self._indices]

    def attributes(self, position: int) -> dict[str, Any]:
        """A work's attributes without building its Score."""
        return dict(self._records[int(self._indices[position])]["attributes"])

    def estimated_chords(self, position: int) -> list[ChordSymbol]:
        """The per-bar chord estimate (kept for every pitched work, even where the source has chords)."""
        return chords_from_json(self._records[int(self._indices[position])]["estimated_chords"])

    def subset(self, positions: Iterable[int]) -> Corpus:
        chosen = self._indices[np.asarray(list(positions), dtype=np.int64)]
        return Corpus(self.manifest, self._records, self._columns, self._track_offsets, self._work_tracks, chosen)

    def split(self, valid_fraction: float = 0.05, seed: int = 0) -> tuple[Corpus, Corpus]:
        """(train, valid), split by work: each work falls wholly on one side.

        A work's side depends only on its id and the seed, so it stays put when other works are
        added or removed; the valid side holds round(valid_fraction * len) works (at least one when
        the fraction is positive and there are two or more works).
        """
        if not 0.0 <= valid_fraction < 1.0:
            raise MelodexError(f"valid_fraction {valid_fraction} must be in [0, 1)")
        ids = self.ids
        n_valid = round(valid_fraction * len(ids))
        if valid_fraction > 0 and len(ids) >= 2:
            n_valid = max(1, n_valid)
        ranks = sorted(range(len(ids)), key=lambda i: hashlib.sha256(f"{seed}:{ids[i]}".encode()).hexdigest())
        valid = sorted(ranks[:n_valid])
        train = sorted(ranks[n_valid:])
        return self.subset(train), self.subset(valid)


def load_corpus(path: Path | str | None = None, verify: bool = True) -> Corpus:
    """Load a dataset directory (default: the committed data/corpus, or $MELODEX_CORPUS)."""
    if path is None:
        path = os.environ.get("MELODEX_CORPUS") or DEFAULT_CORPUS_DIR
    path = Path(path)
    manifest = read_manifest(path)
    for name in (WORKS, NOTES):
        file_path = path / name
        if not file_path.is_file():
            raise CorpusError(f"corpus at {path} is missing {name}; rebuild with `melodex data build`")
        expected = manifest.get("files", {}).get(name, {}).get("sha256")
        if verify and sha256_of(file_path) != expected:
            raise CorpusError(
                f"{file_path} is damaged (SHA-256 does not match the manifest); restore it from git "
                "or rebuild with `melodex data build`"
            )
    try:
        with gzip.open(path / WORKS, "rt", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        with np.load(path / NOTES, allow_pickle=False) as archive:
            columns = {name: archive[name] for name in ("start_delta", "duration", "pitch", "velocity")}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CorpusError(f"corpus at {path} cannot be read ({exc}); rebuild with `melodex data build`") from exc
    track_counts = [t["n_notes"] for r in records for t in r["score"]["tracks"]]
    track_offsets = np.concatenate([[0], np.cumsum(track_counts, dtype=np.int64)])
    work_tracks = np.concatenate([[0], np.cumsum([len(r["score"]["tracks"]) for r in records], dtype=np.int64)])
    if track_offsets[-1] != len(columns["pitch"]):
        raise CorpusError(
            f"corpus at {path} is inconsistent: works list {track_offsets[-1]} notes, notes.npz holds "
            f"{len(columns['pitch'])}; rebuild with `melodex data build`"
        )
    return Corpus(manifest, records, columns, track_offsets, work_tracks)
