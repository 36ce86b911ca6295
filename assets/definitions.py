"""The code location: each module contributes a Definitions (the layer assets and their checks,
the cross-layer checks, jobs, schedules, sensors), merged here with the resources chosen from the
environment (local folder or S3, SPEC §3)."""

from __future__ import annotations

from dagster import Definitions

from assets.automation import jobs, schedules, sensors
from assets.checks import cross as cross_checks
from assets.checks import live as live_checks
from assets.layers import footprint, outcomes, raw_broksum, smart_money, summary, universe, warehouse
from assets.resources import build_resources
from assets.runtime import pool_wait


def build_defs() -> Definitions:
    return Definitions.merge(
        footprint.defs,
        warehouse.defs,
        smart_money.defs,
        raw_broksum.defs,
        summary.defs,
        universe.defs,
        cross_checks.defs,
        live_checks.defs,
        jobs.defs,
        schedules.defs,
        sensors.defs,
        outcomes.defs,
        Definitions(resources=build_resources()),
    )


# Run workers the daemon launches (schedules, sensors, UI) load this module: they record their
# host/PID on the run, sleep while waiting for a pool slot and reap dead holders (runtime/pool_wait.py).
pool_wait.install()
defs = build_defs()
