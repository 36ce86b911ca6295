"""Run the selected layers for a range of trading dates as ONE Dagster run, with the operator's
controls as run config.

A Dagster run costs seconds to start, so `orderflow materialize --date A --to B` and the demo
submit a single-run backfill (the `dagster/asset_partition_range_start/_end` tags) instead of
one run per date; every asset has `BackfillPolicy.single_run()` and loops over its dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult, JobDefinition
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.runtime import pool_wait
from assets.runtime.owners import owner_tags
from assets.runtime.reaper import reap
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage import keys

# --- operator controls: CLI flags = Dagster run config (Launchpad) ------------------------------

# `--layers` names -> asset keys, in run order. `universe` and `outcomes` are layers like the
# others (issue 27): before, only the end-of-day schedule and `outcomes_sensor` built them, so a
# range materialized by hand left `signal_outcomes` empty and `orderflow outcomes` printed zeros.
LAYERS: dict[str, str] = {
    "footprint": "footprint_ndjson",
    "warehouse": "footprint_1m",
    "universe": "ticker_universe",
    "features": "daily_features",
    "summary": "footprint_summary",
    "outcomes": "signal_outcomes",
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
        "universe": {},
        "outcomes": {},
    }
    ops = {LAYERS[name]: {"config": per_layer[name]} for name in chosen if per_layer[name]}
    return {"ops": ops} if ops else {}


# --- the one-run backfill ---

# The job of "all layers" (assets/automation/jobs.py): runs are named for what they run, never
# Dagster's implicit `__ASSET_JOB`.
ALL_LAYERS_JOB = "materialize_layers"


def job_for(defs: Definitions, assets: set[str] | None) -> JobDefinition:
    """The defined job whose assets are exactly `assets` (e.g. `intraday_job`), else the subset of
    `materialize_layers` that runs them (all of it when `assets` is None)."""
    everything = defs.resolve_job_def(ALL_LAYERS_JOB)
    if assets is None:
        return everything
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):  # Dagster's implicit asset job: the name this avoids
            continue
        if {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == assets:
            return job
    return everything.get_subset(asset_selection={AssetKey(k) for k in assets})


def materialize_range(
    defs: Definitions,
    start: date | str,
    end: date | str | None = None,
    *,
    instance: DagsterInstance | None = None,
    run_config: Mapping[str, Any] | None = None,
    asset_keys: Sequence[str] | None = None,
    raise_on_error: bool = True,
    log_level: str = "INFO",
) -> ExecuteInProcessResult:
    """Materialize the selected layers (default: all) of `defs` for the trading days in [start, end].

    `defs` comes from the caller (an entry point calls `assets.definitions.build_defs()`), so this
    package never imports the code location that imports it. Reaps dead runs first, tags the run
    with this process, and waits (sleeping, logging) for pool slots held by live runs.
    """
    days = idx_calendar.trading_days(start, end or start)
    if not days:
        raise ValueError(f"no IDX trading day between {start} and {end or start}")
    instance = instance or DagsterInstance.get()
    pool_wait.install()
    reap(instance)
    job = job_for(defs, set(asset_keys) if asset_keys else None)
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
