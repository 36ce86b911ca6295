"""Schedules (SPEC §12): Asia/Jakarta, skipped on non-trading days.

Intraday every 5 minutes 09:00–16:10 (footprint -> warehouse -> summary for today); end of day
18:30 (daily_features, after broker summaries land) and 18:45 (final summary). The WIB date of the
tick decides the partition, so a tick at 23:30 UTC already runs the next Jakarta day.
"""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as dt_time

from dagster import (
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.jobs import broksum_job, eod_features_job, final_summary_job, intraday_job
from assets.partitions import TIMEZONE
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.keys import WIB

# Every 5 minutes 09:00–15:55 plus 16:00, 16:05, 16:10 (post-trading prints), Monday–Friday.
INTRADAY_CRONS = ["*/5 9-15 * * 1-5", "0-10/5 16 * * 1-5"]
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
    return _today_request(context, "intraday")


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
