"""summary_fallback_sensor: the newest summary is missing, empty or NO_DATA on a trading day ->
rebuild the newest trading date (up to 7 sessions back) that has lake data (SPEC §11)."""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.automation.jobs import intraday_job
from assets.automation.schedules import in_intraday_window
from assets.automation.sensors._shared import Clock, fingerprint_digest, request_once, runs_in_flight, utc_now
from assets.resources import LakeResource
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.read.fallback import l0_summary
from orderflow_pipeline.storage import inventory

FALLBACK_LOOKBACK_SESSIONS = 7


def build_summary_fallback_sensor(
    clock: Clock = utc_now, lookback: int = FALLBACK_LOOKBACK_SESSIONS
) -> SensorDefinition:
    @sensor(
        name="summary_fallback_sensor",
        job=intraday_job,
        minimum_interval_seconds=120,
        default_status=DefaultSensorStatus.RUNNING,
        description="Newest summary missing, empty or NO_DATA on a trading day -> rebuild the newest "
        "trading date (up to 7 sessions back) that has lake data.",
    )
    def summary_fallback_sensor(
        context: SensorEvaluationContext, lake: LakeResource
    ) -> SensorResult | SkipReason:
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
            request = RunRequest(
                job_name=intraday_job.name,
                partition_key=d.isoformat(),
                run_key=f"summary-fallback:{d.isoformat()}:{fingerprint_digest(objects.values())}",
                tags={"orderflow/trigger": "summary_fallback_sensor"},
            )
            return request_once(context, request, f"rebuild of {d} already requested for this lake state")
        return SkipReason(f"no lake data in {today} or the {lookback} sessions before it")

    return summary_fallback_sensor


summary_fallback_sensor = build_summary_fallback_sensor()
