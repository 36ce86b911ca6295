"""`make demo`: simulate a realistic IDX market, run every layer as one Dagster run, print the summary,
then (`serve`) run the Dagster UI and the dashboard until Ctrl-C / SIGTERM.

The Dagster part of the demo; the pure parts (which dates, how to print the summary) are in
`orderflow_pipeline/demo.py`. The terminal gets a summary of a few dozen lines: Dagster's own
log stays at WARNING in the run, and `dagster dev` (whose daemon logs every sensor tick) and the
API write to log files under `$DAGSTER_HOME/serve-logs/`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from dagster import AssetMaterialization, DagsterInstance, ExecuteInProcessResult

from assets.definitions import build_defs
from assets.runtime.failure import failure_line
from assets.runtime.range_runs import materialize_range
from assets.runtime.services import Services, interrupt_on_sigterm
from orderflow_pipeline.cli import simulate_into_lake
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.demo import demo_dates, print_summary
from orderflow_pipeline.read.fallback import resolve_summary
from orderflow_pipeline.storage.lake import Lake

REPO = Path(__file__).resolve().parents[1]
SERVE_LOGS = "serve-logs"  # under DAGSTER_HOME: dagster-dev.log, api.log

# The checks a fresh simulated market fails by construction, each with the reason in one line.
# They are WARN (the run succeeds) and, while serving, check_alert_sensor raises each once as
# `ALERT check_failed` in the daemon log: expected, not a fault of the pipeline.
EXPECTED_WARNS = {
    "history_20_sessions": "the market starts on the demo's first day: its first 20 sessions have no 20-session history",
    "context_prev_session": "the first simulated date has no previous session to take context from",
    "footprint_completeness": "the simulator's thin names trade in few minutes of a session, as thin IDX names do",
    "universe_previous_session_present": "the simulator's thin names skip whole sessions",
    "warehouse_min_tickers": "a small demo market has fewer tickers than ORDERFLOW_MIN_WAREHOUSE_TICKERS[_WARN]",
    "warehouse_fast_path_tickers": "a small demo market has fewer tickers than ORDERFLOW_MIN_WAREHOUSE_TICKERS",
}


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
    print(
        f"simulated: {stats.get('trades')} trades, {stats.get('objects')} lake objects "
        f"in {time.perf_counter() - t0:.1f}s"
    )

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
    report_assets(result)
    report_checks(result)
    print_summary(resolve_summary(settings, now=datetime.now(timezone.utc)), liquid=settings.liquidity)
    if not result.success:
        line, details = failure_line(instance, result.run_id)
        print(line, details, sep="\n")
    return 0 if result.success else 1


def report_assets(result: ExecuteInProcessResult) -> None:
    """One line per asset: how many dates it materialized and the newest date's own figures."""
    newest: dict[str, AssetMaterialization] = {}
    count: dict[str, int] = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.materialization
        if mat is not None:
            name = mat.asset_key.to_user_string()
            count[name] = count.get(name, 0) + 1
            if name not in newest or str(mat.partition) > str(newest[name].partition):
                newest[name] = mat
    for name, mat in newest.items():
        meta = {k: v.value for k, v in (mat.metadata or {}).items() if not isinstance(v.value, (dict, list))}
        shown = ", ".join(f"{k} {v}" for k, v in list(meta.items())[:6])
        print(f"  {name:<18} {count[name]:>3} date(s); {mat.partition}: {shown}")


def report_checks(result: ExecuteInProcessResult) -> None:
    """The failed checks, each with why (EXPECTED_WARNS) or a pointer to the Dagster UI."""
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    if not failed:
        return
    print(f"{len(failed)} check(s) failed (see each in the Dagster UI; expected ones say why):")
    for check in failed:
        why = EXPECTED_WARNS.get(check.check_name)
        note = f"expected: {why}" if why and check.severity.value == "WARN" else "NOT expected in the demo"
        print(f"  {check.severity.value} {check.asset_key.to_user_string()}:{check.check_name}: {note}")


def serve(*, host: str = "0.0.0.0", ui_port: int = 3000, api_port: int = 8000) -> int:
    """Run the Dagster UI and the dashboard until Ctrl-C / SIGTERM, then stop both within seconds."""
    settings = get_settings()
    # Not $DAGSTER_HOME/logs/: Dagster owns that folder (its telemetry queues and uploads it).
    logs = Path(settings.dagster_home) / SERVE_LOGS
    bin_dir = Path(sys.executable).parent
    with interrupt_on_sigterm(), Services(logs) as services:
        try:
            dev = [str(bin_dir / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", host]
            services.start("dagster-dev", [*dev, "-p", str(ui_port)], cwd=str(REPO))
            api = [sys.executable, "-m", "orderflow_pipeline.cli", "serve", "--host", host]
            services.start("api", [*api, "--port", str(api_port)])
            print(
                f"serving: Dagster UI -> http://localhost:{ui_port}   Dashboard -> http://localhost:{api_port}"
            )
            print(
                f"  logs: {logs}/dagster-dev.log (webserver, daemon, sensors) and {logs}/api.log; Ctrl-C stops"
            )
            sys.stdout.flush()
            while all(p.poll() is None for p in services.procs):
                time.sleep(0.5)
            ended = next(p for p in services.procs if p.poll() is not None)
            print(f"a server exited (rc {ended.returncode}); stopping the other (see {logs})")
            return 1
        except KeyboardInterrupt:
            print("stopping the Dagster UI and the dashboard")
            return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m assets.demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve", help="the Dagster UI and the dashboard, until Ctrl-C / SIGTERM")
    sv.add_argument("--host", default="0.0.0.0")
    sv.add_argument("--ui-port", type=int, default=3000)
    sv.add_argument("--api-port", type=int, default=8000)
    a = p.parse_args(argv)
    return serve(host=a.host, ui_port=a.ui_port, api_port=a.api_port)


if __name__ == "__main__":
    sys.exit(main())
