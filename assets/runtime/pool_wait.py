"""Waiting for a pool slot: sleep, say every 10 s who holds it, reap dead holders.

Dagster 1.13's executors compute their sleep before the next claim check as `min([0, *waits])`,
which is never positive, so without this patch of its private `InstanceConcurrencyContext` a
waiting run spins a core at ~100% and never says what it waits for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dagster import DagsterInstance
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

from assets.runtime import log
from assets.runtime.owners import PID_TAG, owner_tags, slot_holders
from assets.runtime.reaper import reap

# How often a waiting step says who holds its slot and looks for dead holders (issue 16: 10 s).
WAIT_LOG_SECONDS = 10.0
# Longest single sleep of a waiting run, so the 10 s log and a freed slot are noticed promptly.
MAX_WAIT_SLEEP_SECONDS = 1.0

_installed = False


def install() -> None:
    """Make every Dagster run in this process wait for pool slots the way issue 16 asks.

    Dagster's executors ask `InstanceConcurrencyContext` how long to sleep before the next claim
    and get `min([0, *waits])` (never positive): the run loop spins. Patched here, once per
    process: the sleep is the real time to the next claim check (at most 1 s); a blocked claim
    logs every 10 s which run holds the pool and since when, and reaps dead holders so the claim
    succeeds without an operator; and opening the context records the run worker's host/PID on
    the run (daemon-launched runs get their owner tags this way). Idempotent: patching twice
    would wrap the patched methods in themselves.
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
