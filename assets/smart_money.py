"""Dagster definitions for the smart_money domain (filled by its issue)."""

from dagster import Definitions

defs = Definitions()
