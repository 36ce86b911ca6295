"""Data sources, one folder per venue (nautilus_trader's adapters)."""
