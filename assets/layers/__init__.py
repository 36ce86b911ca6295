"""One asset module per layer."""
