"""Materialization metadata of the layer assets: each partition gets its own figures, durations rounded.

Every layer asset has `BackfillPolicy.single_run()`, so one run builds many dates. Dagster copies a
`MaterializeResult`'s metadata onto the materialization of *every* partition of the run, so run-wide
totals there read as each date's figures (`items 4314` on a date with 147). The assets therefore
return no metadata on the result and hand each date's own facts to `report_partition`, which
Dagster records on that partition's materialization only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext

# Durations are shown to the millisecond: float sums like 0.8150000000000004 are noise.
SECONDS_DIGITS = 3


def rounded(value: Any, key: str = "") -> Any:
    """`value` with every float under a key ending in "seconds" rounded, at any depth."""
    if isinstance(value, Mapping):
        return {k: rounded(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, key) for v in value]
    if isinstance(value, float) and key.endswith("seconds"):
        return round(value, SECONDS_DIGITS)
    return value


def report_partition(
    context: AssetExecutionContext, partition: str, facts: Mapping[str, Any], asset_key: str | None = None
) -> None:
    """Put `facts` (one date's own figures) on the materialization of `partition` alone."""
    context.add_asset_metadata(rounded(facts), asset_key=asset_key, partition_key=partition)
