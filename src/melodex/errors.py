"""The one error type users see: its message names the problem and what to do about it."""


class MelodexError(Exception):
    """An expected failure (bad input, missing file, impossible request): shown as one line, exit 1."""
