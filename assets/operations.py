"""Dagster definitions for the operations domain (filled by its issue)."""

from dagster import Definitions

defs = Definitions()
