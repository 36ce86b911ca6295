"""Core `CheckOutcome`s -> Dagster `AssetCheckResult`s, one rule for every layer.

A single-run backfill evaluates a check once per date, but Dagster records one result per check
per run; a check therefore passes only when it passed on every date, and the result shows the
newest failing date's description and detail (or the newest date's when all passed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue

from orderflow_pipeline.checks import CheckOutcome


def fold_checks(
    asset: str, names: Iterable[str], per_date: Mapping[date | str, list[CheckOutcome]]
) -> list[AssetCheckResult]:
    results = []
    for name in names:
        outs = sorted(((str(d), o) for d, lst in per_date.items() for o in lst if o.name == name), key=lambda x: x[0])
        failed = [(d, o) for d, o in outs if not o.passed]
        shown = (failed or outs)[-1][1] if outs else None
        results.append(AssetCheckResult(
            check_name=name,
            asset_key=AssetKey(asset),
            # A check the core did not evaluate (e.g. the warehouse was unreadable) is not a pass.
            passed=bool(outs) and not failed,
            severity=AssetCheckSeverity.ERROR if shown and shown.severity == "ERROR" else AssetCheckSeverity.WARN,
            description=shown.description if shown else f"{name}: not evaluated",
            metadata={
                "dates_checked": len(outs),
                "dates_failed": MetadataValue.json([d for d, _ in failed][:100]),
                "detail": MetadataValue.json(shown.metadata if shown else {}),
            },
        ))
    return results
