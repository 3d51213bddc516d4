"""Corpus dataset: building it from music21 and Debian drum data, and loading it for training."""
