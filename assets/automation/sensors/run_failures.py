"""run_failure_alert_sensor: any failed run of this code location -> one alert per failing job
and partition, until a successful run of it (seen by the check sensor) resolves it."""

from __future__ import annotations

from collections.abc import Mapping

from dagster import (
    DagsterEventType,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.automation.sensors._shared import settings_of
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts


def partition_label(tags: Mapping[str, str]) -> str | None:
    """What a run covers, as an operator reads it: its partition, or `start..end` for a
    single-run backfill (`start` when both are the same date); None for an unpartitioned run."""
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    end = tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end and start != end:
        return f"{start}..{end}"
    return start or end or None


def run_problem_key(run: DagsterRun) -> str:
    """A failing job and partition (or range) is one problem: the 5-minute schedule failing all
    morning pages once, and the next successful run of it (seen by the check sensor) resolves it.
    The key names the range of a backfill run (`job:2026-02-18..2026-02-19`), never a bare `-`."""
    part = partition_label(run.tags)
    return f"{run.job_name}:{part}" if part else run.job_name


@run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    description="Any failed run of this code location -> alert.",
)
def run_failure_alert_sensor(
    context: RunFailureSensorContext, lake: LakeResource, settings: SettingsResource
) -> None:
    run = context.dagster_run
    steps = []
    for ev in context.get_step_failure_events():
        info = getattr(ev.event_specific_data, "error", None)
        cause = getattr(info, "cause", None)
        steps.append(
            {
                "step": ev.step_key,
                "error": (info.message.strip() if info else ev.message),
                "cause": cause.message.strip() if cause else None,
            }
        )
    # Every I/O step retries (resources.IO_RETRY): the run fails, and this alert fires, only
    # after the last try; say how many tries each failed step had.
    retried: dict[str, int] = {}
    for rec in context.instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY):
        if rec.dagster_event is not None and rec.dagster_event.step_key:
            retried[rec.dagster_event.step_key] = retried.get(rec.dagster_event.step_key, 0) + 1
    for s in steps:
        s["tries"] = retried.get(str(s["step"]), 0) + 1
    error = "; ".join(f"{s['step']}: {s['cause'] or s['error']}" for s in steps) or (
        context.failure_event.message if context.failure_event else "unknown error"
    )
    alerts.send_alert(
        settings_of(lake, settings),
        "run_failed",
        run_problem_key(run),
        {
            "text": f"run {run.run_id} of {run.job_name} failed: {error}",
            "job": run.job_name,
            "run_id": run.run_id,
            "tags": dict(run.tags),
            "error": error,
            "steps": steps,
        },
        lake=lake.get(),
    )
