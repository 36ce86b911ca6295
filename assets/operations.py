"""Operations (SPEC §11, §12): jobs, schedules, sensors and alerting for unattended running.

Schedules run the layers on IDX trading days (Asia/Jakarta); sensors repair what the schedules
cannot see — late or replaced lake objects, a sparse warehouse, a missing summary — and say
loudly when data is stale or a run or check failed.

Sensors read lake listings and Dagster materialization metadata, never the DuckDB file: a run
holds the warehouse's single write lock for most of the trading day, and a sensor that waits
for it would stall the daemon. Every run request carries a run_key built from the lake objects'
fingerprints, so the same inputs never run twice and a replaced object always runs again; the
cursor keeps the last fingerprints so an unchanged lake is a cheap skip.

Time comes from the schedule context or from an injectable clock (`build_*_sensor(clock=...)`),
so the same code is tested deterministically at any WIB moment.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timezone
from datetime import time as dt_time
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_check,
    define_asset_job,
    run_failure_sensor,
    schedule,
    sensor,
)

from assets.partitions import TIMEZONE, trading_days
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts, idx_calendar, integrity, inventory
from orderflow_pipeline.config import Settings
from orderflow_pipeline.fallback import l0_summary
from orderflow_pipeline.lake import Lake, ObjectInfo

Clock = Callable[[], datetime]

FOOTPRINT, WAREHOUSE, FEATURES, SUMMARY = "footprint_ndjson", "footprint_1m", "daily_features", "footprint_summary"
# How many previous sessions the lake sensor watches for late or replaced objects (plus today).
LAKE_LOOKBACK_SESSIONS = 3
FALLBACK_LOOKBACK_SESSIONS = 7
CHECK_HISTORY_ON_FIRST_TICK_S = 24 * 3600
# Run config that makes the summary build straight from the lake (and heal the warehouse).
LAKE_SOURCE_RUN_CONFIG: dict[str, Any] = {"ops": {SUMMARY: {"config": {"source": "lake"}}}}

# -- jobs ---------------------------------------------------------------------------------------

intraday_job = define_asset_job(
    "intraday_job", selection=AssetSelection.assets(FOOTPRINT, WAREHOUSE, SUMMARY), partitions_def=trading_days,
    description="Today's tape -> footprint -> warehouse -> summary (every 5 minutes in market hours).",
)
eod_features_job = define_asset_job(
    "eod_features_job", selection=AssetSelection.assets(FEATURES), partitions_def=trading_days,
    description="End-of-day smart-money features after broker summaries land.",
)
final_summary_job = define_asset_job(
    "final_summary_job", selection=AssetSelection.assets(SUMMARY), partitions_def=trading_days,
    description="The day's final summary, after the end-of-day features.",
)
warehouse_summary_job = define_asset_job(
    "warehouse_summary_job", selection=AssetSelection.assets(WAREHOUSE, SUMMARY), partitions_def=trading_days,
    description="Consolidate footprint files into the warehouse and rebuild the summary "
    "(footprint files landed upstream; coverage self-heal with source=lake).",
)
JOBS = [intraday_job, eod_features_job, final_summary_job, warehouse_summary_job]

# -- schedules (Asia/Jakarta, skipped on non-trading days) --------------------------------------

# Every 5 minutes 09:00–15:55 plus 16:00, 16:05, 16:10 (post-trading prints), Monday–Friday.
INTRADAY_CRONS = ["*/5 9-15 * * 1-5", "0-10/5 16 * * 1-5"]
INTRADAY_WINDOW = (dt_time(9, 0), dt_time(16, 10))


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _today_request(context: ScheduleEvaluationContext, what: str) -> RunRequest | SkipReason:
    when = context.scheduled_execution_time or _utc_now()
    d = idx_calendar.wib_date(when)
    if not idx_calendar.is_trading_day(d):
        return SkipReason(f"{d} is not an IDX trading day: no {what}")
    return RunRequest(partition_key=d.isoformat(), tags={"orderflow/trigger": what})


@schedule(job=intraday_job, cron_schedule=INTRADAY_CRONS, execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.RUNNING, name="intraday_schedule")
def intraday_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    return _today_request(context, "intraday")


@schedule(job=eod_features_job, cron_schedule="30 18 * * 1-5", execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.RUNNING, name="eod_features_schedule")
def eod_features_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    return _today_request(context, "daily_features")


@schedule(job=final_summary_job, cron_schedule="45 18 * * 1-5", execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.RUNNING, name="final_summary_schedule")
def final_summary_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    return _today_request(context, "final summary")


SCHEDULES = [intraday_schedule, eod_features_schedule, final_summary_schedule]

# -- helpers ------------------------------------------------------------------------------------


def settings_of(lake: LakeResource, settings: SettingsResource) -> Settings:
    """The core's Settings from the Dagster resources (alerts need the lake and the webhook)."""
    return Settings(lake=lake.root, s3_endpoint_url=lake.endpoint_url, alert_webhook=settings.alert_webhook,
                    min_warehouse_tickers=settings.min_warehouse_tickers)


def fingerprint_digest(objects: Iterable[ObjectInfo]) -> str:
    """Order-independent digest of (key, size, fingerprint): changes when any object is added,
    removed or replaced."""
    h = hashlib.sha256()
    for o in sorted(objects, key=lambda o: o.key):
        h.update(f"{o.key}\0{o.size}\0{o.fingerprint}\n".encode())
    return h.hexdigest()[:16]


def watched_dates(today: date, lookback: int) -> list[date]:
    """Today (when it trades) and the previous `lookback` sessions, newest first."""
    prev = idx_calendar.previous_sessions(today, lookback)
    return ([today] if idx_calendar.is_trading_day(today) else []) + prev


def in_intraday_window(now: datetime) -> bool:
    """09:00 <= WIB time < 16:10 on a trading day: the intraday schedule owns today's runs."""
    local = now.astimezone(idx_calendar.WIB)
    return idx_calendar.is_trading_day(local.date()) and INTRADAY_WINDOW[0] <= local.time() < INTRADAY_WINDOW[1]


def _load_cursor(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _plain(value: Any) -> Any:
    """A metadata value as JSON-ready data."""
    inner = getattr(value, "value", value)
    if isinstance(inner, Mapping):
        return {str(k): _plain(v) for k, v in inner.items()}
    if isinstance(inner, (list, tuple)):
        return [_plain(v) for v in inner]
    if isinstance(inner, (str, int, float, bool)) or inner is None:
        return inner
    return str(inner)


# footprint_1m reports `per_date: {date: {"tickers": n, ...}}` and `tickers` of its newest date.
PER_DATE_TICKER_KEYS = ("per_date", "tickers_by_date", "tickers_per_date")
TICKER_COUNT_KEYS = ("tickers", "distinct_tickers", "n_tickers", "ticker_count", "warehouse_tickers")


def tickers_from_metadata(metadata: Mapping[str, Any], d: date) -> int | None:
    """Distinct tickers the warehouse holds for d, as the footprint_1m asset reported them.

    A per-date mapping wins (a single-run backfill reports many dates in one materialization);
    else a plain count; a list of tickers counts by its length."""
    md = {k: _plain(v) for k, v in metadata.items()}
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
        AssetRecordsFilter(asset_key=AssetKey(WAREHOUSE), asset_partitions=[d.isoformat()]), limit=1, ascending=False
    ).records
    if not records:
        return None
    mat = records[0].asset_materialization
    if mat is None:
        return None
    found = tickers_from_metadata(mat.metadata, d)
    return 0 if found is None else found


IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED]


def runs_in_flight(instance: DagsterInstance, d: date) -> bool:
    """A run for partition d is queued or running: its own steps will update what we read."""
    return bool(instance.get_run_ids(
        filters=RunsFilter(statuses=IN_FLIGHT, tags={"dagster/partition": d.isoformat()}), limit=1))


# -- sensors ------------------------------------------------------------------------------------


def build_lake_sensor(clock: Clock = _utc_now, lookback: int = LAKE_LOOKBACK_SESSIONS) -> SensorDefinition:
    @sensor(name="lake_sensor", jobs=[intraday_job, warehouse_summary_job], minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.RUNNING,
            description="New or replaced raw tape / footprint objects for a date -> rebuild that partition.")
    def lake_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult | SkipReason:
        lk = lake.get()
        now = clock()
        today = idx_calendar.wib_date(now)
        seen = _load_cursor(context.cursor)
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
                requests.append(RunRequest(
                    job_name=intraday_job.name, partition_key=day, run_key=f"lake:{day}:raw:{now_state['raw']}",
                    tags={"orderflow/trigger": "lake_sensor", "orderflow/raw_objects": str(len(raw))},
                ))
            elif fp and now_state["fp"] != before.get("fp"):
                # Only footprint files changed (landed upstream, or written by our own run):
                # consolidation is incremental, so a re-run costs only the changed objects.
                requests.append(RunRequest(
                    job_name=warehouse_summary_job.name, partition_key=day, run_key=f"lake:{day}:fp:{now_state['fp']}",
                    tags={"orderflow/trigger": "lake_sensor", "orderflow/footprint_objects": str(len(fp))},
                ))
        if not requests:
            return SensorResult(skip_reason=SkipReason("no new or changed lake objects"), cursor=json.dumps(cursor))
        return SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return lake_sensor


def build_coverage_sensor(clock: Clock = _utc_now) -> SensorDefinition:
    @sensor(name="coverage_sensor", job=warehouse_summary_job, minimum_interval_seconds=120,
            default_status=DefaultSensorStatus.RUNNING,
            description="Warehouse holds fewer tickers for today than the lake (or < the minimum) -> "
            "summary from the lake (source=lake), which heals the warehouse.")
    def coverage_sensor(context: SensorEvaluationContext, lake: LakeResource,
                        settings: SettingsResource) -> SensorResult | SkipReason:
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
            below = " (below the minimum, but the lake has no more)" if wh_n < settings.min_warehouse_tickers else ""
            return SkipReason(f"warehouse has {wh_n} tickers for {d}, lake {lake_tickers}: covered{below}")
        run_key = f"coverage:{d.isoformat()}:{wh_n}:{fingerprint_digest(fp.values())}"
        if context.cursor == run_key:
            return SkipReason(f"heal for {d} already requested for this lake state ({run_key})")
        return SensorResult(
            run_requests=[RunRequest(
                job_name=warehouse_summary_job.name, partition_key=d.isoformat(), run_key=run_key,
                run_config=LAKE_SOURCE_RUN_CONFIG,
                tags={"orderflow/trigger": "coverage_sensor", "orderflow/warehouse_tickers": str(wh_n),
                      "orderflow/lake_tickers": str(lake_tickers)},
            )],
            cursor=run_key,
        )

    return coverage_sensor


def build_summary_fallback_sensor(clock: Clock = _utc_now,
                                  lookback: int = FALLBACK_LOOKBACK_SESSIONS) -> SensorDefinition:
    @sensor(name="summary_fallback_sensor", job=intraday_job, minimum_interval_seconds=120,
            default_status=DefaultSensorStatus.RUNNING,
            description="Newest summary missing, empty or NO_DATA on a trading day -> rebuild the newest "
            "trading date (up to 7 sessions back) that has lake data.")
    def summary_fallback_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult | SkipReason:
        now = clock()
        today = idx_calendar.wib_date(now)
        if not idx_calendar.is_trading_day(today):
            return SkipReason(f"{today} is not a trading day")
        lk = lake.get()
        if l0_summary(lk) is not None:
            return SkipReason("the newest summary has items")
        # In the intraday window today belongs to the schedule (a failing summary there alerts
        # as a failed run); the fallback is the newest earlier session with data.
        first = [] if in_intraday_window(now) else [today]
        for d in [*first, *idx_calendar.previous_sessions(today, lookback)]:
            objects = {**inventory.tape_objects(lk, d), **inventory.footprint_objects(lk, d)}
            if not objects:
                continue
            if runs_in_flight(context.instance, d):
                return SkipReason(f"a run for {d} is in progress")
            run_key = f"summary-fallback:{d.isoformat()}:{fingerprint_digest(objects.values())}"
            if context.cursor == run_key:
                return SkipReason(f"rebuild of {d} already requested for this lake state")
            return SensorResult(
                run_requests=[RunRequest(job_name=intraday_job.name, partition_key=d.isoformat(), run_key=run_key,
                                         tags={"orderflow/trigger": "summary_fallback_sensor"})],
                cursor=run_key,
            )
        return SkipReason(f"no lake data in {today} or the {lookback} sessions before it")

    return summary_fallback_sensor


def build_freshness_sensor(clock: Clock = _utc_now) -> SensorDefinition:
    @sensor(name="freshness_sensor", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
            description="Market hours: summary older than 10 min or raw tape lag over 20 min -> alert.")
    def freshness_sensor(context: SensorEvaluationContext, lake: LakeResource, settings: SettingsResource) -> SkipReason:
        now = clock()
        if not idx_calendar.is_market_hours(now):
            return SkipReason(f"outside market hours ({idx_calendar.market_phase(now)})")
        s, lk = settings_of(lake, settings), lake.get()
        d = idx_calendar.wib_date(now)
        notes = []
        for o in integrity.freshness_outcomes(lk, d, now):
            if not o.metadata.get("applicable"):
                continue
            if o.passed:
                alerts.clear_alert(s, f"stale:{o.name}", d.isoformat(), lake=lk)
            else:
                sent = alerts.send_alert(s, f"stale:{o.name}", d.isoformat(),
                                         {"text": o.description, "check": o.as_json()}, lake=lk, now=now)
                notes.append(f"{o.name}: {o.description}" + (" (alerted)" if sent else ""))
        return SkipReason("; ".join(notes) if notes else "fresh")

    return freshness_sensor


@run_failure_sensor(name="run_failure_alert_sensor", default_status=DefaultSensorStatus.RUNNING,
                    description="Any failed run of this code location -> alert.")
def run_failure_alert_sensor(context: RunFailureSensorContext, lake: LakeResource, settings: SettingsResource) -> None:
    run = context.dagster_run
    steps = []
    for ev in context.get_step_failure_events():
        info = getattr(ev.event_specific_data, "error", None)
        cause = getattr(info, "cause", None)
        steps.append({"step": ev.step_key, "error": (info.message.strip() if info else ev.message),
                      "cause": cause.message.strip() if cause else None})
    error = "; ".join(f"{s['step']}: {s['cause'] or s['error']}" for s in steps) or (
        context.failure_event.message if context.failure_event else "unknown error")
    alerts.send_alert(settings_of(lake, settings), "run_failed", run_problem_key(run), {
        "text": f"run {run.run_id} of {run.job_name} failed: {error}",
        "job": run.job_name, "run_id": run.run_id, "tags": dict(run.tags), "error": error, "steps": steps,
    }, lake=lake.get())


def run_problem_key(run: DagsterRun) -> str:
    """A failing job and partition is one problem: the 5-minute schedule failing all morning
    pages once, and the next successful run of it (seen by the check sensor) resolves it."""
    tags = run.tags
    part = tags.get("dagster/partition") or "..".join(
        t for t in (tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")) if t
    )
    return f"{run.job_name}:{part or '-'}"


def check_alert_key(ev: AssetCheckEvaluation) -> str:
    return f"{ev.asset_key.to_user_string()}:{ev.check_name}:{ev.partition or '-'}"


def _check_evaluations(instance: DagsterInstance, run_id: str) -> list[AssetCheckEvaluation]:
    out = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if isinstance(ev, AssetCheckEvaluation):
            out.append(ev)
    return out


def build_check_alert_sensor() -> SensorDefinition:
    """Reads the check evaluations of finished runs (success and failure: a blocking ERROR check
    fails its run, a WARN one does not). Runs rather than a global event query because the
    default SQLite instance shards events by run and cannot page them with a plain cursor."""

    @sensor(name="check_alert_sensor", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
            description="A failed asset check (ERROR or WARN) -> one alert until that check passes again.")
    def check_alert_sensor(context: SensorEvaluationContext, lake: LakeResource,
                           settings: SettingsResource) -> SensorResult:
        state = _load_cursor(context.cursor)
        # First tick: only the last day, so a fresh sensor does not page about ancient history.
        after = float(state.get("updated_after") or time.time() - CHECK_HISTORY_ON_FIRST_TICK_S)
        runs = context.instance.get_run_records(
            filters=RunsFilter(statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
                               updated_after=datetime.fromtimestamp(after, tz=timezone.utc)),
            limit=200, order_by="update_timestamp", ascending=True,
        )
        s, lk = settings_of(lake, settings), lake.get()
        evaluated = sent = 0
        for rec in runs:
            after = max(after, rec.update_timestamp.timestamp())
            if rec.dagster_run.status == DagsterRunStatus.SUCCESS:
                alerts.clear_alert(s, "run_failed", run_problem_key(rec.dagster_run), lake=lk)
            for ev in _check_evaluations(context.instance, rec.dagster_run.run_id):
                evaluated += 1
                key = check_alert_key(ev)
                if ev.passed:
                    alerts.clear_alert(s, "check_failed", key, lake=lk)
                    continue
                where = f" [{ev.partition}]" if ev.partition else ""
                sent += alerts.send_alert(s, "check_failed", key, {
                    "text": f"{ev.severity.value} check {ev.check_name} on {ev.asset_key.to_user_string()}{where} "
                            f"failed: {ev.description or ''}",
                    "asset": ev.asset_key.to_user_string(), "check": ev.check_name, "severity": ev.severity.value,
                    "partition": ev.partition, "description": ev.description, "run_id": rec.dagster_run.run_id,
                    "metadata": {k: _plain(v) for k, v in ev.metadata.items()},
                }, lake=lk)
        reason = f"{len(runs)} finished runs, {evaluated} check evaluations, {sent} new alerts"
        return SensorResult(skip_reason=SkipReason(reason), cursor=json.dumps({"updated_after": after}))

    return check_alert_sensor


# -- asset checks no single layer owns (SPEC §11; WARN, never blocking) ---------------------------


def _dated_check(name: str, outcomes_for: Callable[[Lake, date, datetime], Any]) -> Any:
    """One AssetCheckResult for the run's dates: failed if it failed on any of them."""

    # `context` unannotated: with postponed annotations Dagster cannot match the string
    # "AssetCheckExecutionContext" against its allowed context types.
    def run(context, lake: LakeResource) -> AssetCheckResult:  # noqa: ANN001
        lk, now = lake.get(), _utc_now()
        per = [(d, o) for d in sorted(date.fromisoformat(k) for k in context.partition_keys)
               for o in [outcomes_for(lk, d, now)] if o is not None]
        failed = [(d, o) for d, o in per if not o.passed]
        shown = (failed or per)[-1][1] if per else None
        return AssetCheckResult(
            passed=not failed, severity=AssetCheckSeverity.WARN,
            description=shown.description if shown else "nothing to check",
            metadata={"dates_checked": len(per), "dates_failed": [d.isoformat() for d, _ in failed][:100],
                      "detail": shown.metadata if shown else {}},
        )

    run.__name__ = name
    return run


def _freshness(name: str) -> Callable[[Lake, date, datetime], Any]:
    return lambda lk, d, now: next(o for o in integrity.freshness_outcomes(lk, d, now) if o.name == name)


# Partitioned asset checks are a Dagster "preview" feature; the warning says nothing actionable.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

context_prev_session_check = asset_check(
    asset=SUMMARY, name="context_prev_session", partitions_def=trading_days, blocking=False,
    description="daily_features of the previous session exist (the summary's context).",
)(_dated_check("context_prev_session", lambda lk, d, now: integrity.context_outcome(lk, None, d)))
summary_fresh_check = asset_check(
    asset=SUMMARY, name="summary_fresh", partitions_def=trading_days, blocking=False,
    description="During market hours today's summary is at most 10 minutes old.",
)(_dated_check("summary_fresh", _freshness("summary_fresh")))
raw_tape_lag_check = asset_check(
    asset=FOOTPRINT, name="raw_tape_lag", partitions_def=trading_days, blocking=False,
    description="During the continuous session the newest raw tape is at most 20 minutes old.",
)(_dated_check("raw_tape_lag", _freshness("raw_tape_lag")))
ASSET_CHECKS = [context_prev_session_check, summary_fresh_check, raw_tape_lag_check]

lake_sensor = build_lake_sensor()
coverage_sensor = build_coverage_sensor()
summary_fallback_sensor = build_summary_fallback_sensor()
freshness_sensor = build_freshness_sensor()
check_alert_sensor = build_check_alert_sensor()
SENSORS = [lake_sensor, coverage_sensor, summary_fallback_sensor, freshness_sensor, run_failure_alert_sensor,
           check_alert_sensor]

defs = Definitions(jobs=JOBS, schedules=SCHEDULES, sensors=SENSORS, asset_checks=ASSET_CHECKS)
