"""Object storage: the lake (fsspec), its key layout, inventory and quarantine."""
