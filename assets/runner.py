"""Run every partitioned layer for a range of trading dates as ONE Dagster run.

A Dagster run costs seconds to start, so `orderflow materialize --date A --to B` and the demo
submit a single-run backfill (the `dagster/asset_partition_range_start/_end` tags) instead of
one run per date; every asset has `BackfillPolicy.single_run()` and loops over its dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from orderflow_pipeline import idx_calendar


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
    """Materialize the selected layers (default: all) for the trading days in [start, end]."""
    from assets.definitions import build_defs

    days = idx_calendar.trading_days(start, end or start)
    if not days:
        raise ValueError(f"no IDX trading day between {start} and {end or start}")
    defs = build_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    if asset_keys:
        job = job.get_subset(asset_selection={AssetKey(k) for k in asset_keys})
    return job.execute_in_process(
        instance=instance or DagsterInstance.get(),
        # INFO keeps the assets' own "read / skipped / quarantined / written" lines, not Dagster's DEBUG chatter.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **dict(run_config or {})},
        tags={
            ASSET_PARTITION_RANGE_START_TAG: days[0].isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: days[-1].isoformat(),
        },
        raise_on_error=raise_on_error,
    )
