"""The built layers of the lake and the warehouse, one package or module per layer."""
