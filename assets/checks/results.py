"""The check registry (`orderflow_pipeline.checks.REGISTRY`) as Dagster objects, one rule for every layer.

`check_specs(asset)` declares an asset's checks from the registry (blocking = severity ERROR), and
`fold_checks(asset, per_date)` turns the core's per-date `CheckOutcome`s into one
`AssetCheckResult` per declared check. Neither repeats a check name or a severity.

A single-run backfill evaluates a check once per date, but Dagster records one result per check
per run; a check therefore passes only when it passed on every date, and the result shows the
newest failing date's description and detail (or the newest date's when all passed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from orderflow_pipeline.checks import CheckDef, CheckOutcome, EvaluatedBy, checks_of

SEVERITY = {"ERROR": AssetCheckSeverity.ERROR, "WARN": AssetCheckSeverity.WARN}


def spec_of(d: CheckDef) -> AssetCheckSpec:
    return AssetCheckSpec(d.name, asset=d.asset, blocking=d.blocking, description=d.spec_description)


def check_specs(asset: str, evaluated_by: EvaluatedBy = "layer") -> list[AssetCheckSpec]:
    """The AssetCheckSpecs of `asset`'s checks, as the registry declares them."""
    return [spec_of(d) for d in checks_of(asset, evaluated_by)]


def fold_checks(
    asset: str, per_date: Mapping[date, list[CheckOutcome]] | Mapping[str, list[CheckOutcome]]
) -> list[AssetCheckResult]:
    """One AssetCheckResult per registered layer check of `asset`, folded over the run's dates.

    A registered check the layer did not emit fails ("not evaluated"): a missing outcome is not a
    pass. Outcomes of unregistered names are ignored here; the registry test catches them."""
    results = []
    for d in checks_of(asset):
        outs = sorted(
            ((str(day), o) for day, lst in per_date.items() for o in lst if o.name == d.name),
            key=lambda x: x[0],
        )
        failed = [(day, o) for day, o in outs if not o.passed]
        shown = (failed or outs)[-1][1] if outs else None
        results.append(
            AssetCheckResult(
                check_name=d.name,
                asset_key=AssetKey(asset),
                passed=bool(outs) and not failed,
                severity=SEVERITY[d.severity],
                description=shown.description if shown else f"{d.name}: not evaluated",
                metadata={
                    "dates_checked": len(outs),
                    "dates_failed": MetadataValue.json([day for day, _ in failed][:100]),
                    "detail": MetadataValue.json(shown.metadata if shown else {}),
                },
            )
        )
    return results
