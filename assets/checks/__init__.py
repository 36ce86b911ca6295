"""Asset-check glue: registry folding and cross-layer checks."""
