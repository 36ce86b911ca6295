"""lake_sensor: new or replaced raw tape / footprint objects of a recent date -> rebuild that partition.

What counts as new is what the layers have not processed yet, not merely what this sensor has not
seen: tape whose every object (key and fingerprint) is in the footprint manifest
(`_state/footprint/{date}.json`) is built, and footprint files whose listing digest equals the one
the latest footprint_1m materialization of the date recorded are loaded. So a first start (no
cursor), a reset cursor, or the files a run itself just wrote request nothing on an up-to-date
lake (issue 19: the first `dagster dev` used to re-run the newest dates).

Reads lake listings only, never the DuckDB file (a run holds the warehouse's single write lock
for most of the trading day; a sensor waiting for it would stall the daemon). Every request
carries a run_key built from the objects' fingerprints, so the same inputs never run twice and a
replaced object always runs again; the cursor keeps the last fingerprints per date so an
unchanged lake is a cheap skip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.automation.jobs import WAREHOUSE, intraday_job, warehouse_summary_job
from assets.automation.schedules import in_intraday_window
from assets.automation.sensors._shared import (
    Clock,
    fingerprint_digest,
    load_cursor,
    plain,
    utc_now,
    watched_dates,
)
from assets.resources import LakeResource
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.footprint import manifest as footprint_manifest
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.lake import Lake, ObjectInfo

# How many previous sessions the lake sensor watches for late or replaced objects (plus today).
LAKE_LOOKBACK_SESSIONS = 3


def tape_built(lake: Lake, d: date, raw: Mapping[str, ObjectInfo]) -> bool:
    """Every tape object of d, as listed now, is in the footprint manifest with this fingerprint
    (and the manifest holds no object that left the lake)."""
    objects = footprint_manifest.load(lake, d)["objects"]
    return set(objects) == set(raw) and all(objects[k].get("fp") == o.fingerprint for k, o in raw.items())


def warehouse_loaded_digest(instance: DagsterInstance, d: date) -> str | None:
    """The footprint listing digest the latest footprint_1m materialization of d recorded (its own
    run, or the summary's self-heal); None when there is none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(WAREHOUSE), asset_partitions=[d.isoformat()]),
        limit=1,
        ascending=False,
    ).records
    mat = records[0].asset_materialization if records else None
    if mat is None:
        return None
    md = {k: plain(v) for k, v in mat.metadata.items()}
    per = md.get("per_date")
    entry = per.get(d.isoformat()) if isinstance(per, Mapping) else None
    digest = entry.get("listing_digest") if isinstance(entry, Mapping) else md.get("listing_digest")
    return digest if isinstance(digest, str) else None


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
            # What the layers already hold counts as seen (first start, lost cursor, own writes).
            if raw and now_state["raw"] != before.get("raw") and tape_built(lk, d, raw):
                before = {**before, "raw": now_state["raw"]}
            if fp and now_state["fp"] != before.get("fp"):
                if warehouse_loaded_digest(context.instance, d) == now_state["fp"]:
                    before = {**before, "fp": now_state["fp"]}
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
