"""Footprint layer (SPEC §5-§6): tape -> 1-minute candles -> hour files."""
