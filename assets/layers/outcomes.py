"""The `signal_outcomes` asset (issue 21) and the sensor that fills its partitions in later.

Partition D holds what D's final summary items did on the ticker's next 1 and 5 sessions
(`outcomes.build_outcomes`; a run of many dates: `outcomes.build_outcomes_many`). Those sessions arrive after D, so D is materialized again as they do.

How D is re-materialized — a sensor, not an eager automation condition. `AutomationCondition.eager()`
waits while any upstream partition is missing (D+5's never exists until it trades, so D would wait
a week for its next-day returns) and only looks at the latest time window; a custom condition over
`footprint_1m` (D..D+5) would fire on every 5-minute intraday run, rebuilding six partitions from
half-built sessions all day. What actually makes new outcomes is a *final* summary of a session S
(a footprint_summary materialization recorded after S's post-trading close, 16:15 WIB, or of any
earlier date: the 18:45 final summary, a backfill, a fix). So `outcomes_sensor` watches those
materializations (cursor = event storage id) and requests one single-run backfill of
signal_outcomes over S itself and the earlier sessions still waiting for returns: every session
within `outcomes.HORIZON_CALENDAR_DAYS` of S whose latest materialization does not say
`complete` (all its items have `ret_5d`). Intraday summaries are ignored, the sensor never opens
DuckDB (Dagster metadata only), and a run key per watched event makes a repeat request a no-op.
"""

# no `from __future__ import annotations`: Dagster resolves the resource annotations at runtime

from datetime import date, datetime, time, timedelta, timezone

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    BackfillPolicy,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.automation.sensors._shared import load_cursor, plain
from assets.layers.metadata import report_partition
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, IO_RETRY, LakeResource, WarehouseResource
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers import outcomes
from orderflow_pipeline.storage import keys

ASSET = outcomes.ASSET
SUMMARY = "footprint_summary"
POST_TRADING_END = time(16, 15)  # WIB: after this a session's candles are final (SPEC §12)
MAX_EVENTS_PER_TICK = 500


@asset(
    deps=[AssetKey(SUMMARY), AssetKey("footprint_1m")],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    retry_policy=IO_RETRY,
    group_name="analytics",
    description="What each item of D's final summary did next: ret_next_oc, ret_next_cc, ret_5d, "
    "their prices and entry limit flags (table signal_outcomes, features/signal-outcomes/{date}.json); "
    "filled in as later sessions arrive. Built by orderflow materialize and UI backfills with the "
    "other layers, and by outcomes_sensor.",
)
def signal_outcomes(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    the_lake = lake.get()
    the_lake.prefetch([keys.signal_outcomes_key(d) for d in sorted(context.partition_keys)])  # S3: one batch
    with warehouse.write() as con:
        # every date of the run in one batch: one sessions query, one transaction
        for res in outcomes.build_outcomes_many(the_lake, con, context.partition_keys):
            facts = res.as_metadata()
            report_partition(context, res.date, facts)
            context.log.info(f"signal_outcomes {res.date}: {facts}")
    return MaterializeResult()


outcomes_job = define_asset_job(
    "signal_outcomes_job",
    selection=[ASSET],
    partitions_def=trading_days,
    description="Signal outcomes of a range of sessions (started by outcomes_sensor).",
)


def is_final(partition: str, recorded_at: float) -> bool:
    """A summary of session S recorded after S's post-trading close (or of any earlier day)."""
    d = keys.as_date(partition)
    close = datetime.combine(d, POST_TRADING_END, tzinfo=keys.WIB)
    return datetime.fromtimestamp(recorded_at, tz=timezone.utc) >= close


def is_complete(instance: DagsterInstance, d: date) -> bool:
    """Whether D's latest signal_outcomes materialization says every item has its ret_5d."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(ASSET), asset_partitions=[d.isoformat()]),
        limit=1,
        ascending=False,
    ).records
    mat = records[0].asset_materialization if records else None
    return mat is not None and plain(mat.metadata.get("complete")) is True


def sessions_to_fill(instance: DagsterInstance, finals: list[date]) -> list[date]:
    """Every final session, plus the sessions within the horizon before each that are not complete."""
    out: set[date] = set()
    for s in finals:
        out.add(s)
        start = s - timedelta(days=outcomes.HORIZON_CALENDAR_DAYS)
        for d in idx_calendar.trading_days(start, s - timedelta(days=1)):
            if d not in out and not is_complete(instance, d):
                out.add(d)
    return sorted(out)


@sensor(
    name="outcomes_sensor",
    job=outcomes_job,
    minimum_interval_seconds=120,
    default_status=DefaultSensorStatus.RUNNING,
    description="A final footprint_summary of a session -> signal_outcomes for it and for the earlier "
    "sessions still waiting for their next-day / 5-day returns.",
)
def outcomes_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    cursor = load_cursor(context.cursor)
    after = int(cursor.get("storage_id", 0))
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(SUMMARY), after_storage_id=after or None),
        limit=MAX_EVENTS_PER_TICK,
        ascending=True,
    )
    records = result.records
    if not records:
        return SkipReason("no new footprint_summary materialization")
    newest = max(r.storage_id for r in records)
    finals = sorted(
        {
            keys.as_date(r.partition_key)
            for r in records
            if r.partition_key and is_final(r.partition_key, r.timestamp)
        }
    )
    new_cursor = f'{{"storage_id": {newest}}}'
    if not finals:
        return SensorResult(
            skip_reason=SkipReason("only intraday summaries since last tick"), cursor=new_cursor
        )
    todo = sessions_to_fill(context.instance, finals)
    request = RunRequest(
        run_key=f"outcomes:{newest}",
        tags={
            ASSET_PARTITION_RANGE_START_TAG: todo[0].isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: todo[-1].isoformat(),
        },
    )
    context.log.info(
        f"outcomes_sensor: final summaries {[d.isoformat() for d in finals]} -> {todo[0]}..{todo[-1]}"
    )
    return SensorResult(run_requests=[request], cursor=new_cursor)


defs = Definitions(assets=[signal_outcomes], jobs=[outcomes_job], sensors=[outcomes_sensor])
