"""Measurements of Melodex's output against references (renderer, and later the other stages)."""
