"""Dagster definitions for the warehouse domain (filled by its issue)."""

from dagster import Definitions

defs = Definitions()
