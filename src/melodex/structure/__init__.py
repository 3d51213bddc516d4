"""The structure model: writes whole multi-track arrangements as compound-event tokens."""
