"""Training code for Melodex models (needs the `train` extra); inference never imports it."""
