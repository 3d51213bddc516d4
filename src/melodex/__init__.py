"""Melodex: an offline, CPU-first AI music studio.

    import melodex
    song = melodex.load()("warm synthwave, 100 BPM, F minor, verse 8, chorus 8")
    song.save("out/synthwave")

`load`, `Pipeline` and `Song` come from `melodex.song`, `GenerateOptions` from `melodex.pipeline`, imported
on first use so that `import melodex` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["GenerateOptions", "Pipeline", "Song", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from melodex import pipeline, song

        return getattr(song if hasattr(song, name) else pipeline, name)
    raise AttributeError(f"module 'melodex' has no attribute {name!r}")
