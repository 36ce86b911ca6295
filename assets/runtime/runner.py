"""Run every partitioned layer for a range of trading dates as ONE Dagster run, safely.

A Dagster run costs seconds to start, so `orderflow materialize --date A --to B` and the demo
submit a single-run backfill (the `dagster/asset_partition_range_start/_end` tags) instead of
one run per date; every asset has `BackfillPolicy.single_run()` and loops over its dates.

Runs that died must never hold resources (issue 16). Dagster's concurrency pools (the DuckDB
writer pool, the footprint pool; limit 1 each in dagster.yaml) are rows in the instance's
storage: a run killed with SIGKILL never frees its row, stays `STARTED` for ever, and every later
run waits for that slot silently. So this module

- records on every run the host, PID and PID start time of the process executing it (run tags,
  `owner_tags`; for runs the daemon launches, the run worker adds them when its concurrency
  context opens, see `install_pool_waiting`);
- before launching (and every 10 s while a step waits for a slot) reaps: runs in a non-terminal
  status whose recorded process on *this* host is gone are marked failed and their slots freed;
  slots still held by runs that already ended are freed too (`reap`);
- makes a step that waits for a slot held by a live run *sleep*, logging every 10 s which run
  holds it and since when. Dagster 1.13's executors compute their sleep as `min([0, *waits])`,
  which is never positive, so without this a waiting run spins a core at ~100%.
- ends a failed run with one line naming the cause (`failure_line`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    ExecuteInProcessResult,
    RunsFilter,
)
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.storage.dagster_run import FINISHED_STATUSES, NOT_FINISHED_STATUSES
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_shared.error import SerializableErrorInfo

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage import keys

log = logging.getLogger("orderflow.runner")

HOST_TAG = "orderflow/host"
PID_TAG = "orderflow/pid"
# The PID's start time (clock ticks since boot, /proc/<pid>/stat field 22): a PID reused by an
# unrelated process after the run died must not keep the dead run's slot alive.
PID_START_TAG = "orderflow/pid_start"
# How often a waiting step says who holds its slot and looks for dead holders (issue 16: 10 s).
WAIT_LOG_SECONDS = 10.0
# Longest single sleep of a waiting run, so the 10 s log and a freed slot are noticed promptly.
MAX_WAIT_SLEEP_SECONDS = 1.0


def _pid_start(pid: int) -> str | None:
    """Start time of `pid` from /proc (None where /proc is missing: then PID reuse is not detected)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
    return stat.rsplit(")", 1)[1].split()[19]


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
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: os.kill said it exists
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return False
    return start is None or fields[19] == start


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


def _holder(instance: DagsterInstance, run_id: str, since: datetime | None = None) -> Holder:
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
    keys = sorted(storage.get_concurrency_keys())
    for key, info in storage.get_concurrency_infos(keys).items():
        since = {p.run_id: p.assigned_timestamp for p in info.pending_steps if p.assigned_timestamp}
        run_ids = dict.fromkeys([s.run_id for s in info.claimed_slots] + list(since))
        if run_ids:
            out[key] = [_holder(instance, r, since.get(r)) for r in run_ids]
    return out


def _is_dead(run: DagsterRun, host: str) -> bool:
    pid = run.tags.get(PID_TAG, "")
    return (
        run.tags.get(HOST_TAG) == host
        and pid.isdigit()
        and not process_alive(int(pid), run.tags.get(PID_START_TAG))
    )


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
        if not _is_dead(run, host):
            continue
        holder = _holder(instance, run.run_id)
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
            h = _holder(instance, run_id)
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
    holder = _holder(instance, run_id)
    if run is not None and fail_run and run.status in NOT_FINISHED_STATUSES:
        instance.report_run_failed(run, "orderflow: pool slots freed by hand (orderflow runs free-slot)")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    line = f"freed pool slots held by run {holder.describe()}"
    log.warning(line)
    return line


# --- waiting for a slot: sleep, say who holds it, reap dead holders ------------------------------

_installed = False


def install_pool_waiting() -> None:
    """Make every Dagster run in this process wait for pool slots the way issue 16 asks.

    Dagster's executors ask `InstanceConcurrencyContext` how long to sleep before the next claim
    and get `min([0, *waits])` (never positive): the run loop spins. Patched here, once per
    process: the sleep is the real time to the next claim check (at most 1 s); a blocked claim
    logs every 10 s which run holds the pool and since when, and reaps dead holders so the claim
    succeeds without an operator; and opening the context records the run worker's host/PID on
    the run (daemon-launched runs get their owner tags this way). Idempotent.
    """
    global _installed
    if _installed:
        return
    _installed = True
    original_claim: Callable[..., bool] = InstanceConcurrencyContext.claim
    original_enter: Callable[..., Any] = InstanceConcurrencyContext.__enter__
    last_report: dict[tuple[str, str], float] = {}

    def interval(self: InstanceConcurrencyContext) -> float:
        if not self.has_pending_claims():
            return 0.0
        now = time.time()
        waits = [ready - now for ready in self._pending_timeouts.values()]
        return min(MAX_WAIT_SLEEP_SECONDS, max(0.0, min(waits, default=0.0)))

    def claim(
        self: InstanceConcurrencyContext, concurrency_key: str, step_key: str, step_priority: int = 0
    ) -> bool:
        if original_claim(self, concurrency_key, step_key, step_priority):
            last_report.pop((self._run_id, step_key), None)
            return True
        now = time.monotonic()
        key = (self._run_id, step_key)
        if now - last_report.get(key, now - 2 * WAIT_LOG_SECONDS) >= WAIT_LOG_SECONDS:
            last_report[key] = now
            _report_wait(self._instance, self._run_id, step_key, concurrency_key)
        return False

    def enter(self: InstanceConcurrencyContext) -> InstanceConcurrencyContext:
        run = self._instance.get_run_by_id(self._run_id)
        if run is not None and PID_TAG not in run.tags:
            self._instance.add_run_tags(self._run_id, owner_tags())
        result: InstanceConcurrencyContext = original_enter(self)
        return result

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval  # type: ignore[method-assign]
    InstanceConcurrencyContext.claim = claim  # type: ignore[method-assign]
    InstanceConcurrencyContext.__enter__ = enter  # type: ignore[method-assign,assignment]


def _report_wait(instance: DagsterInstance, run_id: str, step_key: str, pool: str) -> None:
    reap(instance)  # a dead holder is freed now; the next claim check takes the slot
    holders = [h for h in slot_holders(instance).get(pool, []) if h.run_id != run_id]
    who = "; ".join(h.describe() for h in holders) or "nobody (slot being handed over)"
    log.warning(f"run {run_id} step {step_key} waiting for pool {pool!r}, held by {who}")


# --- the one-run backfill --------------------------------------------------------------------------


# --- operator controls: CLI flags = Dagster run config (Launchpad) ------------------------------

# `--layers` names -> asset keys, in run order.
LAYERS: dict[str, str] = {
    "footprint": "footprint_ndjson",
    "warehouse": "footprint_1m",
    "features": "daily_features",
    "summary": "footprint_summary",
}


def controls_run_config(
    layers: Sequence[str] | None = None,
    *,
    force: bool = False,
    tickers: Sequence[str] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The run config of `orderflow materialize [--force] [--tickers A,B] [--source lake]` for the
    selected layers: exactly what an analyst types in the Launchpad (`ops: {asset: {config: ...}}`).

    `force` ignores the manifests (footprint, warehouse, broker summaries); `tickers` rebuilds only
    those tickers' footprint files and warehouse rows; `source: lake` builds the summary from the
    lake and heals the warehouse. Only selected layers get config (Dagster rejects config for an
    asset outside the run)."""
    chosen = list(layers or LAYERS)
    unknown = [name for name in chosen if name not in LAYERS]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}: choose from {', '.join(LAYERS)}")
    only = sorted({keys.check_ticker(t) for t in tickers}) if tickers else None
    per_layer: dict[str, dict[str, Any]] = {
        "footprint": {"force": force} | ({"tickers": only} if only else {}),
        "warehouse": {"force": force} | ({"tickers": only} if only else {}),
        "features": {"force": force},
        "summary": {"source": source} if source else {},
    }
    ops = {LAYERS[name]: {"config": per_layer[name]} for name in chosen if per_layer[name]}
    return {"ops": ops} if ops else {}


def materialize_range(
    start: date | str,
    end: date | str | None = None,
    *,
    instance: DagsterInstance | None = None,
    run_config: Mapping[str, Any] | None = None,
    asset_keys: Sequence[str] | None = None,
    raise_on_error: bool = True,
    log_level: str = "INFO",
) -> ExecuteInProcessResult:
    """Materialize the selected layers (default: all) for the trading days in [start, end].

    Reaps dead runs first, tags the run with this process, and waits (sleeping, logging) for
    pool slots held by live runs.
    """
    from assets.definitions import build_defs

    days = idx_calendar.trading_days(start, end or start)
    if not days:
        raise ValueError(f"no IDX trading day between {start} and {end or start}")
    instance = instance or DagsterInstance.get()
    install_pool_waiting()
    reap(instance)
    defs = build_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    # raw_broksum talks to the IPOT feed: its own job and schedule run it, "all layers" does not.
    keys = (
        set(asset_keys)
        if asset_keys
        else {k.to_user_string() for k in job.asset_layer.executable_asset_keys} - {"raw_broksum"}
    )
    job = job.get_subset(asset_selection={AssetKey(k) for k in keys})
    return job.execute_in_process(
        instance=instance,
        # INFO keeps the assets' own "read / skipped / quarantined / written" lines, not Dagster's DEBUG chatter.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **dict(run_config or {})},
        tags={
            ASSET_PARTITION_RANGE_START_TAG: days[0].isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: days[-1].isoformat(),
            **owner_tags(),
        },
        raise_on_error=raise_on_error,
    )


# --- naming the cause of a failed run --------------------------------------------------------------


def _chain(error: SerializableErrorInfo | None) -> Iterator[SerializableErrorInfo]:
    seen = 0
    while error is not None and seen < 20:
        yield error
        error = error.cause or error.context
        seen += 1


def _own(error: SerializableErrorInfo) -> bool:
    """An error the asset's code raised, not one of Dagster's wrappers, check failures or its
    "Exceeded max_retries" note after the last try of a step with a RetryPolicy."""
    return not (error.cls_name or "").startswith(("Dagster", "dagster.")) and not error.message.startswith(
        "Exceeded max_retries"
    )


def _one_line(error: SerializableErrorInfo) -> str:
    msg = " ".join(error.message.split())
    return msg if len(msg) <= 300 else msg[:297] + "..."


def failure_line(instance: DagsterInstance, run_id: str) -> tuple[str, str]:
    """(one line naming the cause, the details) for a failed run.

    The line names the first failed step and the asset's own errors of the chain, outermost and
    innermost (where the object key or endpoint of an I/O error is spelled); the lake, S3
    endpoint and warehouse are added because a storage error's message often omits them. The
    details are the whole chain with stacks, printed after the line.
    """
    from orderflow_pipeline.config import get_settings

    failed: list[tuple[str | None, SerializableErrorInfo | None]] = []
    run_error = None
    for rec in instance.all_logs(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    ):
        ev = rec.dagster_event
        if ev is None:
            continue
        err = getattr(ev.event_specific_data, "error", None)
        if ev.event_type == DagsterEventType.STEP_FAILURE:
            failed.append((ev.step_key, err))
        elif run_error is None:
            run_error = err
    # The cause is the first step that raised an error of its own (an I/O error, say); a blocking
    # check failing (Dagster's own error) is named only when no step raised. With step retries a
    # raising step fails after its last try, so it may end after a check-failed step.
    raised = [(st, e) for st, e in failed if e is not None and any(_own(x) for x in _chain(e))]
    step, error = (raised or failed or [(None, None)])[0]
    error = error or run_error
    if error is None:
        return f"FAILED run {run_id}: step {step or '(run)'}: no error recorded", ""
    chain = list(_chain(error))
    # Dagster wraps the asset's exception ("Error occurred while executing op ..."): name the
    # asset's own errors, outermost and innermost (the message spells the class).
    own = [e for e in chain if _own(e)] or chain
    cause = _one_line(own[0]) if len(own) == 1 else f"{_one_line(own[0])} <- caused by {_one_line(own[-1])}"
    s = get_settings()
    where = f"lake {s.lake}" + (f" via endpoint {s.s3_endpoint_url}" if s.s3_endpoint_url else "")
    retries = sum(
        1
        for rec in instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        if rec.dagster_event is not None and rec.dagster_event.step_key == step
    )
    label = f"{step} ({retries + 1} tries)" if retries else (step or "(run)")
    line = f"FAILED run {run_id}: step {label}: {cause} [{where}, warehouse {s.warehouse}]"
    details = chain[0].to_string()
    return line, details
