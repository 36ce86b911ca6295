"""Asset checks no single layer computes (SPEC §11): context D−1 exists, the summary is fresh,
the raw tape is not lagging. WARN, never blocking; names, assets and descriptions come from the
registry (`orderflow_pipeline.checks`, evaluated_by="standalone"), the computation from
`orderflow_pipeline.read.integrity` (the same code `orderflow check` and `GET /integrity` run).
"""

# no `from __future__ import annotations`: Dagster matches the check's context annotation at runtime

import warnings
from collections.abc import Callable
from datetime import date, datetime, timezone

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    Definitions,
    asset_check,
)

from assets.checks.results import SEVERITY
from assets.partitions import trading_days
from assets.resources import IO_RETRY, LakeResource
from orderflow_pipeline.checks import REGISTRY, CheckOutcome
from orderflow_pipeline.read import integrity
from orderflow_pipeline.storage.lake import Lake

OutcomeFor = Callable[[Lake, date, datetime], CheckOutcome | None]

# Partitioned asset checks are a Dagster "preview" feature; the warning says nothing actionable.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")


def _dated_check(name: str, outcome_for: OutcomeFor) -> AssetChecksDefinition:
    """The registered check `name` as a partitioned asset check: one result for the run's dates,
    failed if it failed on any of them (like `fold_checks`)."""
    d = REGISTRY[name]

    def run(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
        lk, now = lake.get(), datetime.now(timezone.utc)
        per = [
            (day, o)
            for day in sorted(date.fromisoformat(k) for k in context.partition_keys)
            for o in [outcome_for(lk, day, now)]
            if o is not None
        ]
        failed = [(day, o) for day, o in per if not o.passed]
        shown = (failed or per)[-1][1] if per else None
        return AssetCheckResult(
            passed=not failed,
            severity=SEVERITY[d.severity],
            description=shown.description if shown else "nothing to check",
            metadata={
                "dates_checked": len(per),
                "dates_failed": [day.isoformat() for day, _ in failed][:100],
                "detail": shown.metadata if shown else {},
            },
        )

    run.__name__ = name
    return asset_check(
        asset=d.asset,
        name=d.name,
        partitions_def=trading_days,
        blocking=d.blocking,
        description=d.spec_description,
        retry_policy=IO_RETRY,  # reads the lake: a transient S3 error retries, like every I/O step
    )(run)


def _freshness(name: str) -> OutcomeFor:
    return lambda lk, d, now: next(o for o in integrity.freshness_outcomes(lk, d, now) if o.name == name)


context_prev_session_check = _dated_check(
    "context_prev_session", lambda lk, d, now: integrity.context_outcome(lk, None, d)
)
summary_fresh_check = _dated_check("summary_fresh", _freshness("summary_fresh"))
raw_tape_lag_check = _dated_check("raw_tape_lag", _freshness("raw_tape_lag"))
ASSET_CHECKS = [context_prev_session_check, summary_fresh_check, raw_tape_lag_check]

defs = Definitions(asset_checks=ASSET_CHECKS)
