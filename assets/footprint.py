"""Dagster definitions for the footprint domain (filled by its issue)."""

from dagster import Definitions

defs = Definitions()
