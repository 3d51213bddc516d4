"""Disk use of a project's history: store every version of PROJECT again, in order, in a fresh project.

The versions keep their very audio, scores and sample sets (and their parents), so the copy costs what
the same edits would cost with this Melodex's storage; a format 1 project measures the change of
layout. Then `prune` is run on the copy. Prints MB on disk (hard links counted once, as `du` does).

    python scripts/project_disk.py out/song/song.melodex /tmp/copy
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from melodex.project import Project


def disk_mb(folders: list[Path]) -> float:
    """MB allocated under `folders`, each hard-linked file once (what `du -s` reports)."""
    seen, total = set(), 0
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            info = path.lstat()
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path)
    parser.add_argument("out", type=Path, help="folder for the copy (must not exist)")
    args = parser.parse_args()
    source = Project.open(args.project)
    copy = Project.create(args.out / "song", source.meta["prompt"], source.meta["brief"], source.meta["models"])
    print(f"{'version':<8} {'edit':<44} {'source MB':>10} {'copy MB':>8} {'store s':>8}")
    ids: dict[str, str] = {}
    for entry in source.history:
        version = source.load_version(entry["id"])
        parent = source.load_version(entry["parent"]) if entry["parent"] else None
        unchanged = set()
        if parent is not None:  # what an edit passes: the stems it kept as they were
            unchanged = {f"stems/{i}.flac" for i, s in version.stems.items()
                         if i in parent.stems and np.array_equal(s, parent.stems[i])}
        version.parent = ids.get(entry["parent"]) if entry["parent"] else None
        start = time.perf_counter()
        ids[entry["id"]] = copy.save_version(version, unchanged)
        took = time.perf_counter() - start
        source_mb = disk_mb([source.path / "versions" / i for i in ids])
        print(f"{entry['id']:<8} {entry['edit'][:44]:<44} {source_mb:>10.1f} {disk_mb([copy.path]):>8.1f} "
              f"{took:>8.2f}")
    copy.checkout(ids[source.current])
    pruned, freed = copy.prune()
    print(f"prune: {len(pruned)} versions, {freed / 1e6:.1f} MB freed; copy now {disk_mb([copy.path]):.1f} MB")


if __name__ == "__main__":
    os.nice(10)
    main()
