"""freshness_sensor: in market hours, a summary older than 10 minutes or raw tape lagging more
than 20 minutes -> one alert per problem until it clears (SPEC §11).

It alerts directly rather than through a run: a stale summary usually means runs are not
happening, so there is no run whose checks could say so.
"""

from __future__ import annotations

from dagster import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext, SkipReason, sensor

from assets.automation.sensors._shared import Clock, settings_of, utc_now
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts, idx_calendar
from orderflow_pipeline.read import integrity


def build_freshness_sensor(clock: Clock = utc_now) -> SensorDefinition:
    @sensor(
        name="freshness_sensor",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Market hours: summary older than 10 min or raw tape lag over 20 min -> alert.",
    )
    def freshness_sensor(
        context: SensorEvaluationContext, lake: LakeResource, settings: SettingsResource
    ) -> SkipReason:
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
                sent = alerts.send_alert(
                    s,
                    f"stale:{o.name}",
                    d.isoformat(),
                    {"text": o.description, "check": o.as_json()},
                    lake=lk,
                    now=now,
                )
                notes.append(f"{o.name}: {o.description}" + (" (alerted)" if sent else ""))
        return SkipReason("; ".join(notes) if notes else "fresh")

    return freshness_sensor


freshness_sensor = build_freshness_sensor()
