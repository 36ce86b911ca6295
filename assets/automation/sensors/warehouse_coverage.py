"""coverage_sensor: the warehouse holds fewer of today's tickers than the lake -> summary from the
lake (source=lake), which heals the warehouse (SPEC §11).

The warehouse's ticker count comes from the footprint_1m materializations (the asset's own, or
the one the summary reports after a heal), never from DuckDB: the sensor must not wait on the
writer's lock.
"""

from __future__ import annotations

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

from assets.automation.jobs import SUMMARY, WAREHOUSE, warehouse_summary_job
from assets.automation.sensors._shared import (
    Clock,
    fingerprint_digest,
    plain,
    request_once,
    runs_in_flight,
    utc_now,
)
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage import inventory

# Run config that makes the summary build straight from the lake (and heal the warehouse).
LAKE_SOURCE_RUN_CONFIG: dict[str, Any] = {"ops": {SUMMARY: {"config": {"source": "lake"}}}}

# footprint_1m reports `per_date: {date: {"tickers": n, ...}}` and `tickers` of its newest date.
PER_DATE_TICKER_KEYS = ("per_date", "tickers_by_date", "tickers_per_date")
TICKER_COUNT_KEYS = ("tickers", "distinct_tickers", "n_tickers", "ticker_count", "warehouse_tickers")


def tickers_from_metadata(metadata: Mapping[str, Any], d: date) -> int | None:
    """Distinct tickers the warehouse holds for d, as the footprint_1m asset reported them.

    A per-date mapping wins (a single-run backfill reports many dates in one materialization);
    else a plain count; a list of tickers counts by its length."""
    md = {k: plain(v) for k, v in metadata.items()}
    for name in PER_DATE_TICKER_KEYS:
        per = md.get(name)
        if isinstance(per, Mapping) and d.isoformat() in per:
            v = per[d.isoformat()]
            if isinstance(v, Mapping):
                v = v.get("tickers")
            if isinstance(v, list):
                return len(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return int(v)
    for name in TICKER_COUNT_KEYS:
        v = md.get(name)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, list):
            return len(v)
        if isinstance(v, (int, float)):
            return int(v)
        if isinstance(v, str) and v.isdigit():
            return int(v)
    return None


def warehouse_tickers_reported(instance: DagsterInstance, d: date) -> int | None:
    """Tickers of date d per the latest footprint_1m materialization (None: never materialized)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(WAREHOUSE), asset_partitions=[d.isoformat()]),
        limit=1,
        ascending=False,
    ).records
    if not records:
        return None
    mat = records[0].asset_materialization
    if mat is None:
        return None
    found = tickers_from_metadata(mat.metadata, d)
    return 0 if found is None else found


def build_coverage_sensor(clock: Clock = utc_now) -> SensorDefinition:
    @sensor(
        name="coverage_sensor",
        job=warehouse_summary_job,
        minimum_interval_seconds=120,
        default_status=DefaultSensorStatus.RUNNING,
        description="Warehouse holds fewer tickers for today than the lake (or < the minimum) -> "
        "summary from the lake (source=lake), which heals the warehouse.",
    )
    def coverage_sensor(
        context: SensorEvaluationContext, lake: LakeResource, settings: SettingsResource
    ) -> SensorResult | SkipReason:
        d = idx_calendar.wib_date(clock())
        if not idx_calendar.is_trading_day(d):
            return SkipReason(f"{d} is not a trading day")
        fp = inventory.footprint_objects(lake.get(), d)
        lake_tickers = len(inventory.footprint_tickers(fp))
        if lake_tickers == 0:
            return SkipReason(f"no footprint files for {d} yet")
        if runs_in_flight(context.instance, d):
            return SkipReason(f"a run for {d} is in progress; its warehouse step reports the new count")
        wh = warehouse_tickers_reported(context.instance, d)
        wh_n = wh or 0
        # "< lake" covers "< the minimum" whenever a heal can help: with the lake itself below
        # the minimum and the warehouse holding all of it, a lake rebuild would add nothing and
        # would only re-run on every tick.
        if wh_n >= lake_tickers:
            below = (
                " (below the minimum, but the lake has no more)"
                if wh_n < settings.min_warehouse_tickers
                else ""
            )
            return SkipReason(f"warehouse has {wh_n} tickers for {d}, lake {lake_tickers}: covered{below}")
        run_key = f"coverage:{d.isoformat()}:{wh_n}:{fingerprint_digest(fp.values())}"
        request = RunRequest(
            job_name=warehouse_summary_job.name,
            partition_key=d.isoformat(),
            run_key=run_key,
            run_config=LAKE_SOURCE_RUN_CONFIG,
            tags={
                "orderflow/trigger": "coverage_sensor",
                "orderflow/warehouse_tickers": str(wh_n),
                "orderflow/lake_tickers": str(lake_tickers),
            },
        )
        return request_once(
            context, request, f"heal for {d} already requested for this lake state ({run_key})"
        )

    return coverage_sensor


coverage_sensor = build_coverage_sensor()
