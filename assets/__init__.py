"""Dagster code location for orderflow-pipeline: thin assets over `orderflow_pipeline`."""
