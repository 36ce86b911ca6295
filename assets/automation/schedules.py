"""Schedules (SPEC §12): Asia/Jakarta, skipped on non-trading days.

Intraday every minute 09:00–16:10 (footprint -> warehouse -> summary for today; was every 5
minutes until live capture landed tape every 5 s, issue 18); broker summaries 17:30; end of day
18:30 (daily_features, after broker summaries land) and 18:45 (final summary). The WIB date of the
tick decides the partition, so a tick at 23:30 UTC already runs the next Jakarta day.

Why a 1-minute schedule and not a sensor for "react to new tape within a minute": with capture
running, the tape changes every 5 s during a session, so a tape sensor would request a run on
every evaluation anyway — the same cadence as a schedule, plus a lake listing per evaluation
(a full session of 5-second capture objects, 08:45–16:15 = 5,400 objects, lists in 0.46–0.77 s
on the local lake here, more on S3, and the footprint listing on top). The schedule needs no listing,
is visible as a cron in the UI, and a tick is skipped while the previous intraday run of the
day is still queued or running, so runs never pile up on 2 cores: a run that takes longer than a
minute simply sets the cadence. Worst case from a trade's arrival to its run: the 5 s capture
flush + up to 60 s to the next tick + the run (measured in tests/bench/test_bench_capture.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as dt_time

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.automation.jobs import broksum_job, eod_features_job, final_summary_job, intraday_job
from assets.partitions import TIMEZONE
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage.keys import WIB

# Every minute 09:00–15:59 plus 16:00–16:10 (post-trading prints), Monday–Friday.
INTRADAY_CRONS = ["* 9-15 * * 1-5", "0-10 16 * * 1-5"]
# [first tick, last tick) in WIB: while it is open the intraday schedule owns today's runs.
INTRADAY_WINDOW = (dt_time(9, 0), dt_time(16, 10))


def in_intraday_window(now: datetime) -> bool:
    """09:00 <= WIB time < 16:10 on a trading day: the intraday schedule owns today's runs."""
    local = now.astimezone(WIB)
    return (
        idx_calendar.is_trading_day(local.date()) and INTRADAY_WINDOW[0] <= local.time() < INTRADAY_WINDOW[1]
    )


def _today_request(context: ScheduleEvaluationContext, what: str) -> RunRequest | SkipReason:
    when = context.scheduled_execution_time or datetime.now(timezone.utc)
    d = idx_calendar.wib_date(when)
    if not idx_calendar.is_trading_day(d):
        return SkipReason(f"{d} is not an IDX trading day: no {what}")
    return RunRequest(partition_key=d.isoformat(), tags={"orderflow/trigger": what})


@schedule(
    job=intraday_job,
    cron_schedule=INTRADAY_CRONS,
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    name="intraday_schedule",
)
def intraday_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    req = _today_request(context, "intraday")
    if isinstance(req, RunRequest) and _intraday_in_flight(context, str(req.partition_key)):
        return SkipReason(f"the previous intraday run of {req.partition_key} is still queued or running")
    return req


def _intraday_in_flight(context: ScheduleEvaluationContext, day: str) -> bool:
    try:
        instance = context.instance
    except Exception:  # noqa: BLE001  a context built without an instance (unit tests): nothing in flight
        return False
    statuses = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
    ]
    flt = RunsFilter(job_name=intraday_job.name, statuses=statuses, tags={"dagster/partition": day})
    return bool(instance.get_run_ids(filters=flt, limit=1))


@schedule(
    job=eod_features_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    name="eod_features_schedule",
)
def eod_features_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    return _today_request(context, "daily_features")


@schedule(
    job=final_summary_job,
    cron_schedule="45 18 * * 1-5",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    name="final_summary_schedule",
)
def final_summary_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    return _today_request(context, "final summary")


@schedule(
    job=broksum_job,
    cron_schedule="30 17 * * 1-5",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    name="broksum_schedule",
)
def broksum_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """17:30 WIB: an hour after the 16:15 post-trading close, an hour before daily_features."""
    return _today_request(context, "raw_broksum")


SCHEDULES = [intraday_schedule, eod_features_schedule, final_summary_schedule, broksum_schedule]

defs = Definitions(schedules=SCHEDULES)
