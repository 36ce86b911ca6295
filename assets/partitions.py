"""Trading-date partitions (SPEC §12): one partition per IDX trading day, Asia/Jakarta.

Built on DailyPartitionsDefinition with exclusions (weekends as cron, holidays as dates), so
time-window mappings, backfill ranges and `build_schedule_from_partitioned_job` all work, and a
holiday is never a partition.
"""

from __future__ import annotations

from datetime import datetime

from dagster import DailyPartitionsDefinition

from orderflow_pipeline import idx_calendar

PARTITIONS_START = "2025-01-02"
TIMEZONE = "Asia/Jakarta"


def _exclusions() -> list[str | datetime]:
    first, last = idx_calendar.calendar_bounds()
    start = max(first, datetime.fromisoformat(PARTITIONS_START).date())
    holidays = idx_calendar.non_trading_weekdays(start, last)
    return ["0 0 * * 6", "0 0 * * 0", *(datetime(d.year, d.month, d.day) for d in holidays)]


# end_offset=1: today's partition exists from 00:00 WIB, so the intraday schedule can run it.
trading_days = DailyPartitionsDefinition(
    start_date=PARTITIONS_START,
    timezone=TIMEZONE,
    end_offset=1,
    exclusions=_exclusions(),
)
