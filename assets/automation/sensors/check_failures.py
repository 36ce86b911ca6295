"""check_alert_sensor: a failed asset check (ERROR or WARN) of a finished run -> one alert until
that check passes again; a successful run also resolves its job's run-failure alert.

Reads the check evaluations of finished runs (success and failure: a blocking ERROR check fails
its run, a WARN one does not). Runs rather than a global event query because the default SQLite
instance shards events by run and cannot page them with a plain cursor.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.automation.sensors._shared import load_cursor, plain, settings_of
from assets.automation.sensors.run_failures import partition_label, run_problem_key
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts

# First tick: only the last day, so a fresh sensor does not page about ancient history.
CHECK_HISTORY_ON_FIRST_TICK_S = 24 * 3600


def check_alert_key(ev: AssetCheckEvaluation, run: DagsterRun | None = None) -> str:
    """asset:check[:partition or range]. A single-run backfill's check evaluation carries no
    partition: the run's range names it (`...:2026-02-18..2026-02-19`), never a trailing `-`."""
    part = ev.partition or (partition_label(run.tags) if run is not None else None)
    base = f"{ev.asset_key.to_user_string()}:{ev.check_name}"
    return f"{base}:{part}" if part else base


def _check_evaluations(instance: DagsterInstance, run_id: str) -> list[AssetCheckEvaluation]:
    out = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if isinstance(ev, AssetCheckEvaluation):
            out.append(ev)
    return out


def build_check_alert_sensor() -> SensorDefinition:
    @sensor(
        name="check_alert_sensor",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="A failed asset check (ERROR or WARN) -> one alert until that check passes again.",
    )
    def check_alert_sensor(
        context: SensorEvaluationContext, lake: LakeResource, settings: SettingsResource
    ) -> SensorResult:
        state = load_cursor(context.cursor)
        after = float(state.get("updated_after") or time.time() - CHECK_HISTORY_ON_FIRST_TICK_S)
        runs = context.instance.get_run_records(
            filters=RunsFilter(
                statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
                updated_after=datetime.fromtimestamp(after, tz=timezone.utc),
            ),
            limit=200,
            order_by="update_timestamp",
            ascending=True,
        )
        s, lk = settings_of(lake, settings), lake.get()
        evaluated = sent = 0
        for rec in runs:
            after = max(after, rec.update_timestamp.timestamp())
            if rec.dagster_run.status == DagsterRunStatus.SUCCESS:
                alerts.clear_alert(s, "run_failed", run_problem_key(rec.dagster_run), lake=lk)
            for ev in _check_evaluations(context.instance, rec.dagster_run.run_id):
                evaluated += 1
                key = check_alert_key(ev, rec.dagster_run)
                if ev.passed:
                    alerts.clear_alert(s, "check_failed", key, lake=lk)
                    continue
                part = ev.partition or partition_label(rec.dagster_run.tags)
                where = f" [{part}]" if part else ""
                sent += alerts.send_alert(
                    s,
                    "check_failed",
                    key,
                    {
                        "text": f"{ev.severity.value} check {ev.check_name} on {ev.asset_key.to_user_string()}{where} "
                        f"failed: {ev.description or ''}",
                        "asset": ev.asset_key.to_user_string(),
                        "check": ev.check_name,
                        "severity": ev.severity.value,
                        "partition": part,
                        "description": ev.description,
                        "run_id": rec.dagster_run.run_id,
                        "metadata": {k: plain(v) for k, v in ev.metadata.items()},
                    },
                    lake=lk,
                )
        reason = f"{len(runs)} finished runs, {evaluated} check evaluations, {sent} new alerts"
        return SensorResult(skip_reason=SkipReason(reason), cursor=json.dumps({"updated_after": after}))

    return check_alert_sensor


check_alert_sensor = build_check_alert_sensor()
