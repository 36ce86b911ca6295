"""`make demo`: simulate a realistic IDX market, run every layer as one Dagster run, print the summary.

The Dagster part of the demo; the pure parts (which dates, how to print the summary) are in
`orderflow_pipeline/demo.py`.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from dagster import AssetMaterialization, DagsterInstance

from assets.definitions import build_defs
from assets.runtime.failure import failure_line
from assets.runtime.range_runs import materialize_range
from orderflow_pipeline.cli import simulate_into_lake
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.demo import demo_dates, print_summary
from orderflow_pipeline.read.fallback import resolve_summary
from orderflow_pipeline.storage.lake import Lake


def run_demo(days: int = 30, tickers: int = 150, seed: int = 7) -> int:
    settings = get_settings()
    lake = Lake.from_settings(settings)
    dates = demo_dates(days)
    print(
        f"orderflow demo: {len(dates)} IDX trading days {dates[0]}..{dates[-1]}, {tickers} tickers, seed {seed}"
    )
    print(f"  lake={settings.lake}  warehouse={settings.warehouse}  DAGSTER_HOME={settings.dagster_home}")

    t0 = time.perf_counter()
    stats = simulate_into_lake(
        lake, dates[0], dates[-1], tickers=tickers, seed=seed, shared_dir=settings.shared_dir
    )
    print(f"simulated: {json.dumps(stats, default=str)} in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    instance = DagsterInstance.get()
    result = materialize_range(
        build_defs(), dates[0], dates[-1], instance=instance, raise_on_error=False, log_level="WARNING"
    )
    status = "succeeded" if result.success else "FAILED"
    print(
        f"dagster run {result.run_id} {status} in {time.perf_counter() - t0:.1f}s "
        f"(one run for {len(dates)} partitions; see it in the Dagster UI)"
    )
    last: dict[str, AssetMaterialization] = {}
    per_asset: dict[str, int] = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.materialization
        if mat is not None:
            name = mat.asset_key.to_user_string()
            per_asset[name] = per_asset.get(name, 0) + 1
            last[name] = mat
    for name, mat in last.items():
        meta = {k: v.value for k, v in (mat.metadata or {}).items()}
        shown = {k: meta[k] for k in list(meta)[:8]}
        print(
            f"  {name:<18} {per_asset[name]} partition(s) materialized; last: {json.dumps(shown, default=str)}"
        )
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            print(
                f"  check {check.asset_key.to_user_string()}:{check.check_name} {check.severity.value} (partition run)"
            )
    print_summary(resolve_summary(settings, now=datetime.now(timezone.utc)))
    if not result.success:
        line, details = failure_line(instance, result.run_id)
        print(line, details, sep="\n")
    return 0 if result.success else 1
