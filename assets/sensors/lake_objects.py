"""lake_sensor: new or replaced raw tape / footprint objects of a recent date -> rebuild that partition.

Reads lake listings only, never the DuckDB file (a run holds the warehouse's single write lock
for most of the trading day; a sensor waiting for it would stall the daemon). Every request
carries a run_key built from the objects' fingerprints, so the same inputs never run twice and a
replaced object always runs again; the cursor keeps the last fingerprints per date so an
unchanged lake is a cheap skip.
"""

from __future__ import annotations

import json
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.jobs import intraday_job, warehouse_summary_job
from assets.resources import LakeResource
from assets.schedules import in_intraday_window
from assets.sensors._shared import Clock, fingerprint_digest, load_cursor, utc_now, watched_dates
from orderflow_pipeline import idx_calendar, inventory

# How many previous sessions the lake sensor watches for late or replaced objects (plus today).
LAKE_LOOKBACK_SESSIONS = 3


def build_lake_sensor(clock: Clock = utc_now, lookback: int = LAKE_LOOKBACK_SESSIONS) -> SensorDefinition:
    @sensor(
        name="lake_sensor",
        jobs=[intraday_job, warehouse_summary_job],
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="New or replaced raw tape / footprint objects for a date -> rebuild that partition.",
    )
    def lake_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult | SkipReason:
        lk = lake.get()
        now = clock()
        today = idx_calendar.wib_date(now)
        seen = load_cursor(context.cursor)
        cursor: dict[str, Any] = {}
        requests: list[RunRequest] = []
        for d in watched_dates(today, lookback):
            raw, fp = inventory.tape_objects(lk, d), inventory.footprint_objects(lk, d)
            if not raw and not fp:
                continue
            day = d.isoformat()
            now_state = {"raw": fingerprint_digest(raw.values()), "fp": fingerprint_digest(fp.values())}
            before = seen.get(day) or {}
            cursor[day] = now_state
            if d == today and in_intraday_window(now):
                # Live tape changes every few seconds; the 5-minute schedule runs today. The
                # cursor still moves, so only what lands after the last tick (16:10) runs here.
                continue
            if raw and now_state["raw"] != before.get("raw"):
                # Tape is the source of truth: rebuild footprint, warehouse and summary.
                requests.append(
                    RunRequest(
                        job_name=intraday_job.name,
                        partition_key=day,
                        run_key=f"lake:{day}:raw:{now_state['raw']}",
                        tags={"orderflow/trigger": "lake_sensor", "orderflow/raw_objects": str(len(raw))},
                    )
                )
            elif fp and now_state["fp"] != before.get("fp"):
                # Only footprint files changed (landed upstream, or written by our own run):
                # consolidation is incremental, so a re-run costs only the changed objects.
                requests.append(
                    RunRequest(
                        job_name=warehouse_summary_job.name,
                        partition_key=day,
                        run_key=f"lake:{day}:fp:{now_state['fp']}",
                        tags={
                            "orderflow/trigger": "lake_sensor",
                            "orderflow/footprint_objects": str(len(fp)),
                        },
                    )
                )
        if not requests:
            return SensorResult(
                skip_reason=SkipReason("no new or changed lake objects"), cursor=json.dumps(cursor)
            )
        return SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return lake_sensor


lake_sensor = build_lake_sensor()
