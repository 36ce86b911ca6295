"""The code location: each module contributes a Definitions (the layer assets and their checks,
the cross-layer checks, jobs, schedules, sensors), merged here with the resources chosen from the
environment (local folder or S3, SPEC §3)."""

from __future__ import annotations

from dagster import Definitions

from assets import cross_checks, footprint, jobs, schedules, sensors, smart_money, summary, warehouse
from assets.resources import build_resources


def build_defs() -> Definitions:
    return Definitions.merge(
        footprint.defs,
        warehouse.defs,
        smart_money.defs,
        summary.defs,
        cross_checks.defs,
        jobs.defs,
        schedules.defs,
        sensors.defs,
        Definitions(resources=build_resources()),
    )


defs = build_defs()
