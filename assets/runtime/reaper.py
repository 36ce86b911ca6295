"""Fail runs whose process died and free the pool slots that dead or finished runs still hold.

Runs before every CLI run (`range_runs.materialize_range`), every 10 s while a step waits for a
slot (`pool_wait`), and by hand (`orderflow runs reap`, `orderflow runs free-slot`).
"""

from __future__ import annotations

import socket

from dagster import DagsterInstance, RunsFilter
from dagster._core.storage.dagster_run import FINISHED_STATUSES, NOT_FINISHED_STATUSES

from assets.runtime import log
from assets.runtime.owners import HOST_TAG, is_dead, run_holder, slot_holders


def reap(instance: DagsterInstance) -> list[str]:
    """Fail runs whose process on this host is gone and free every slot a finished run holds.

    Only runs that recorded this host are judged: a PID means nothing on another machine, and a
    run without the tags (launched before this version) is left to `orderflow runs free-slot`.
    Returns one line per freed run (also logged), the text the acceptance test looks for.
    """
    host = socket.gethostname()
    lines: list[str] = []
    storage = instance.event_log_storage
    limits = storage.supports_global_concurrency_limits
    for record in instance.get_run_records(RunsFilter(statuses=NOT_FINISHED_STATUSES, tags={HOST_TAG: host})):
        run = record.dagster_run
        if not is_dead(run, host):
            continue
        holder = run_holder(instance, run.run_id)
        held = limits and run.run_id in storage.get_concurrency_run_ids() | {
            h.run_id for hs in slot_holders(instance).values() for h in hs
        }
        instance.report_run_failed(
            run,
            f"orderflow: the process executing this run is gone (pid {holder.pid} on host {host}); "
            "marked failed so its pool slots can be freed",
        )
        if held:
            storage.free_concurrency_slots_for_run(run.run_id)
            lines.append(f"freed pool slot held by dead run {holder.describe()}")
        else:
            lines.append(f"marked dead run {holder.describe()} failed (it held no pool slot)")
    if limits:
        # Runs with a claimed slot or a queued claim: those that ended (or were deleted) free theirs.
        claimants = dict.fromkeys(storage.get_concurrency_run_ids())
        for holders in slot_holders(instance).values():
            claimants.update(dict.fromkeys(h.run_id for h in holders))
        finished = {s.value for s in FINISHED_STATUSES} | {"DELETED"}
        for run_id in claimants:
            h = run_holder(instance, run_id)
            if h.status in finished:
                storage.free_concurrency_slots_for_run(run_id)
                lines.append(f"freed pool slot held by finished run {h.describe()}")
    for line in lines:
        log.warning(line)
    return lines


def free_slots(instance: DagsterInstance, run_id: str, *, fail_run: bool = True) -> str:
    """By hand (`orderflow runs free-slot --run-id X`): free every slot of one run, failing it first
    if it is still marked in progress, so Dagster does not think it may still finish."""
    run = instance.get_run_by_id(run_id)
    holder = run_holder(instance, run_id)
    if run is not None and fail_run and run.status in NOT_FINISHED_STATUSES:
        instance.report_run_failed(run, "orderflow: pool slots freed by hand (orderflow runs free-slot)")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    line = f"freed pool slots held by run {holder.describe()}"
    log.warning(line)
    return line
