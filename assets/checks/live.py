"""`live_matches_batch` (SPEC §16 Reconciliation): on each run that builds the footprint, its
closed minutes against the live engine of `orderflow serve` (`ORDERFLOW_LIVE_API_URL`).

WARN only, never blocking, and skipped (passing, the reason in the metadata) without a live API
of the date: the batch is the system of record and must not wait on, or fail because of, the
screen. The comparison is the core's (`live.reconcile.live_outcome`, also in `orderflow check`).
"""

# no `from __future__ import annotations`: Dagster matches the check's context annotation at runtime

from datetime import date

from dagster import AssetCheckExecutionContext, AssetCheckResult, Definitions, asset_check

from assets.checks.results import SEVERITY
from assets.partitions import trading_days
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline.checks import REGISTRY
from orderflow_pipeline.live import reconcile

_D = REGISTRY[reconcile.NAME]


@asset_check(
    asset=_D.asset,
    name=_D.name,
    partitions_def=trading_days,
    blocking=_D.blocking,
    description=_D.spec_description,
)
def live_matches_batch(
    context: AssetCheckExecutionContext, lake: LakeResource, settings: SettingsResource
) -> AssetCheckResult:
    """One result for the run's dates: failed when any date differs (its differences shown)."""
    lk = lake.get()
    per = [
        (d, reconcile.live_outcome(lk, d, settings.live_api_url))
        for d in sorted(date.fromisoformat(k) for k in context.partition_keys)
    ]
    failed = [(d, o) for d, o in per if not o.passed]
    shown = (failed or per)[-1][1]
    for d, o in failed:
        context.log.warning(f"{reconcile.NAME} {d}: {o.description}")
    return AssetCheckResult(
        passed=not failed,
        severity=SEVERITY[_D.severity],
        description=shown.description,
        metadata={
            "dates_checked": len(per),
            "dates_failed": [d.isoformat() for d, _ in failed][:100],
            "detail": shown.metadata,
        },
    )


ASSET_CHECKS = [live_matches_batch]
defs = Definitions(asset_checks=ASSET_CHECKS)
