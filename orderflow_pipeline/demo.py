"""`make demo`: simulate a realistic IDX market, run every layer through Dagster, print the summary.

Kept in the core so it is one function the CLI calls; the Dagster run itself is started through
`assets.runner` (imported lazily: the core's formulas never depend on Dagster).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from . import idx_calendar
from .config import get_settings
from .lake import Lake


def demo_dates(days: int, now: datetime | None = None) -> list:
    """The `days` trading days ending with the newest completed trading day (WIB)."""
    now = now or datetime.now(timezone.utc)
    wib = now.astimezone(idx_calendar.WIB)
    end = wib.date() if wib.hour >= 17 else wib.date() - timedelta(days=1)
    last = idx_calendar.latest_trading_day(end)
    return [*reversed(idx_calendar.previous_sessions(last, days - 1)), last]


def _print_summary(doc: dict, top: int = 15) -> None:
    print(f"\nsummary: status={doc.get('status')} date={doc.get('date')} source={doc.get('source')} "
          f"ctx_date={doc.get('ctx_date')} ctx_found={doc.get('ctx_found')} items={doc.get('count')} "
          f"generated_at={doc.get('generated_at')}" + (f" reason={doc['reason']}" if doc.get("reason") else ""))
    items = doc.get("items") or []
    counts: dict[str, int] = {}
    for it in items:
        counts[it["sig"]] = counts.get(it["sig"], 0) + 1
    print("signals:", json.dumps(dict(sorted(counts.items(), key=lambda kv: -kv[1]))))
    print(f"{'ticker':<12}{'sig':<14}{'sc':>7}{'d%':>8}{'p%':>8}{'div':>8}{'vol':>12}{'ctx_st':>14}{'vel':>8}")
    for it in items[:top]:
        print(f"{it['t']:<12}{it['sig']:<14}{it['sc']:>7.3f}{it['d']:>8.2f}{it['p']:>8.2f}{it['div']:>8.2f}"
              f"{it['v']:>12}{str(it.get('ctx_st') or '-'):>14}{it.get('vel', 0):>8.2f}")


def run_demo(days: int = 30, tickers: int = 150, seed: int = 7) -> int:
    from assets.runner import materialize_range

    from .fallback import resolve_summary
    from .simulate import simulate_range

    settings = get_settings()
    lake = Lake.from_settings(settings)
    dates = demo_dates(days)
    print(f"orderflow demo: {len(dates)} IDX trading days {dates[0]}..{dates[-1]}, {tickers} tickers, seed {seed}")
    print(f"  lake={settings.lake}  warehouse={settings.duckdb_path}  DAGSTER_HOME={settings.dagster_home}")

    t0 = time.perf_counter()
    stats = simulate_range(lake, dates[0], dates[-1], n_tickers=tickers, seed=seed, progress=True)
    print(f"simulated: {json.dumps(stats, default=str)} in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    result = materialize_range(dates[0], dates[-1], raise_on_error=False, log_level="WARNING")
    status = "succeeded" if result.success else "FAILED"
    print(f"dagster run {result.run_id} {status} in {time.perf_counter() - t0:.1f}s "
          f"(one run for {len(dates)} partitions; see it in the Dagster UI)")
    last: dict[str, object] = {}
    per_asset: dict[str, int] = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.materialization
        if mat is not None:
            name = mat.asset_key.to_user_string()
            per_asset[name] = per_asset.get(name, 0) + 1
            last[name] = mat
    for name, mat in last.items():
        meta = {k: v.value for k, v in (mat.metadata or {}).items()}  # type: ignore[attr-defined]
        shown = {k: meta[k] for k in list(meta)[:8]}
        print(f"  {name:<18} {per_asset[name]} partition(s) materialized; last: {json.dumps(shown, default=str)}")
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            print(f"  check {check.asset_key.to_user_string()}:{check.check_name} "
                  f"{check.severity.value} (partition run)")
    doc = resolve_summary(settings, now=datetime.now(timezone.utc))
    _print_summary(doc)
    return 0 if result.success else 1
