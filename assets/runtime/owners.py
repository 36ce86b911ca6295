"""Who executes a run and whether that process still lives; which runs hold each pool slot.

Every run records the host, PID and PID start time of the process executing it (run tags,
`owner_tags`; for runs the daemon launches, the run worker adds them when its concurrency context
opens, see `pool_wait.install`), so a later run on the same host can tell that it died.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, RunsFilter

HOST_TAG = "orderflow/host"
PID_TAG = "orderflow/pid"
# The PID's start time (clock ticks since boot, /proc/<pid>/stat field 22): a PID reused by an
# unrelated process after the run died must not keep the dead run's slot alive.
PID_START_TAG = "orderflow/pid_start"


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (None where /proc is missing or the PID is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
    return stat.rsplit(")", 1)[1].split()


def _pid_start(pid: int) -> str | None:
    """Start time of `pid` from /proc (None where /proc is missing: then PID reuse is not detected)."""
    fields = _stat_fields(pid)
    return None if fields is None else fields[19]


def owner_tags(pid: int | None = None) -> dict[str, str]:
    """Tags naming the process that executes a run, so a later run can tell if it died."""
    pid = os.getpid() if pid is None else pid
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    start = _pid_start(pid)
    if start is not None:
        tags[PID_START_TAG] = start
    return tags


def process_alive(pid: int, start: str | None = None) -> bool:
    """Is `pid` (started at `start`, if known) still running on this host? Zombies count as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc: os.kill said it exists
    if fields[0] == "Z":
        return False
    return start is None or fields[19] == start


def is_dead(run: DagsterRun, host: str) -> bool:
    """Did `run` record a process on `host` that is gone? A PID means nothing on another machine."""
    pid = run.tags.get(PID_TAG, "")
    return (
        run.tags.get(HOST_TAG) == host
        and pid.isdigit()
        and not process_alive(int(pid), run.tags.get(PID_START_TAG))
    )


@dataclass(frozen=True)
class Holder:
    """A run that holds (or waits in the queue of) a pool slot, as an operator needs to see it."""

    run_id: str
    status: str
    host: str | None
    pid: int | None
    since: datetime | None

    def describe(self) -> str:
        who = f"pid {self.pid} on host {self.host}" if self.pid is not None else "no recorded pid/host"
        since = self.since.isoformat(timespec="seconds") if self.since else "unknown time"
        return f"{self.run_id} ({who}, {self.status}, since {since})"


def run_holder(instance: DagsterInstance, run_id: str, since: datetime | None = None) -> Holder:
    """The run `run_id` as a `Holder` (status DELETED when the instance no longer has it)."""
    record = next(iter(instance.get_run_records(RunsFilter(run_ids=[run_id]), limit=1)), None)
    if record is None:
        return Holder(run_id, "DELETED", None, None, since)
    tags = record.dagster_run.tags
    pid = tags.get(PID_TAG)
    if since is None and record.start_time is not None:
        since = datetime.fromtimestamp(record.start_time, tz=timezone.utc)
    return Holder(
        run_id,
        record.dagster_run.status.value,
        tags.get(HOST_TAG),
        int(pid) if pid and pid.isdigit() else None,
        since or record.create_timestamp,
    )


def slot_holders(instance: DagsterInstance) -> dict[str, list[Holder]]:
    """Every pool -> the runs holding one of its slots (claimed, or assigned and about to claim)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    out: dict[str, list[Holder]] = {}
    pools = sorted(storage.get_concurrency_keys())
    for pool, info in storage.get_concurrency_infos(pools).items():
        since = {p.run_id: p.assigned_timestamp for p in info.pending_steps if p.assigned_timestamp}
        run_ids = dict.fromkeys([s.run_id for s in info.claimed_slots] + list(since))
        if run_ids:
            out[pool] = [run_holder(instance, r, since.get(r)) for r in run_ids]
    return out
