"""The one error type users see: its message names the problem and what to do about it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NoReturn

# Who reads the messages being made: the command line (options are flags, `--scale-lock`) or the HTTP API
# (options are its fields, `scale_lock`). The server's routes and its job worker run in the API's terms.
_READER: ContextVar[str] = ContextVar("melodex_reader", default="cli")


class MelodexError(Exception):
    """An expected failure (bad input, missing file, impossible request): shown as one line, exit 1."""


def option_name(name: str) -> str:
    """The option `name` (a field name, `sample_rate`) as the reader of the message gives it: `--sample-rate`
    on the command line, `sample_rate` in the HTTP API; so an error names the thing the user can change."""
    return name if _READER.get() == "api" else "--" + name.replace("_", "-")


@contextmanager
def api_terms() -> Iterator[None]:
    """Messages made inside name options as the HTTP API's fields (see `option_name`)."""
    token = _READER.set("api")
    try:
        yield
    finally:
        _READER.reset(token)


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with a script's `main()` status, or on an expected failure with its message as one line on
    stderr and status 2 (argparse's for a usage error): a script shows no traceback for bad input."""
    try:
        status = main()
    except MelodexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status)
