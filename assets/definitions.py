"""The code location: each domain module contributes a Definitions, merged here with the
resources chosen from the environment (local folder or S3, SPEC §3)."""

from __future__ import annotations

from dagster import Definitions

from assets import footprint, operations, smart_money, summary, warehouse
from assets.resources import build_resources


def build_defs() -> Definitions:
    return Definitions.merge(
        footprint.defs,
        warehouse.defs,
        smart_money.defs,
        summary.defs,
        operations.defs,
        Definitions(resources=build_resources()),
    )


defs = build_defs()
