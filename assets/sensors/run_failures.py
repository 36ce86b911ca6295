"""run_failure_alert_sensor: any failed run of this code location -> one alert per failing job
and partition, until a successful run of it (seen by the check sensor) resolves it."""

from __future__ import annotations

from dagster import DagsterRun, DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from assets.resources import LakeResource, SettingsResource
from assets.sensors._shared import settings_of
from orderflow_pipeline import alerts


def run_problem_key(run: DagsterRun) -> str:
    """A failing job and partition is one problem: the 5-minute schedule failing all morning
    pages once, and the next successful run of it (seen by the check sensor) resolves it."""
    tags = run.tags
    part = tags.get("dagster/partition") or "..".join(
        t
        for t in (
            tags.get("dagster/asset_partition_range_start"),
            tags.get("dagster/asset_partition_range_end"),
        )
        if t
    )
    return f"{run.job_name}:{part or '-'}"


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
