"""Dagster definitions for the summary domain (filled by its issue)."""

from dagster import Definitions

defs = Definitions()
