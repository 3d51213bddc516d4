"""Melodex: an offline, CPU-first AI music studio."""

__version__ = "0.1.0"
