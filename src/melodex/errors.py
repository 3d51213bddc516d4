"""The one error type users see: its message names the problem and what to do about it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class MelodexError(Exception):
    """An expected failure (bad input, missing file, impossible request): shown as one line, exit 1."""


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with a script's `main()` status, or on an expected failure with its message as one line on
    stderr and status 2 (argparse's for a usage error): a script shows no traceback for bad input."""
    try:
        status = main()
    except MelodexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status)
