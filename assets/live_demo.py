"""`make live-demo`: watch a trading day fill the dashboard minute by minute (issue 18).

1. simulate `days` sessions into a *source* lake (what the exchange would have said);
2. copy the sessions before the demo day (tape and broker summaries) into the *live* lake and
   materialize them, so the demo day has its 20-session smart-money context;
3. `orderflow replay-server` serves the demo day from the source lake at `speed`x (60x: a
   6.5-hour session in about 7 minutes) over the IPOT protocol;
4. `orderflow capture` reads that feed into the live lake's `raw_lt/` exactly as it would read
   the real IPOT feed;
5. `orderflow serve` tails the capture's spool (the live path, SPEC §16): the dashboard updates
   per trade through `/live/stream`, with the live chip showing the newest trade's age;
6. beside it the intraday batch path (footprint -> warehouse -> summary), the system of record,
   runs for the demo day every `interval` seconds (the 1-minute `intraday_schedule` does this for
   *today*; a replayed day is not today, so the demo drives the same assets itself), each run's
   `live_matches_batch` check comparing its closed minutes with the live engine;
7. after the close: `fetch-broksum` asks the replay server for the day's broker summaries
   (en_qu_top_bs), then daily_features and the final summary run.
With `--ui`, `dagster dev` runs too (every run above is in its run list: same DAGSTER_HOME).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from datetime import date
from pathlib import Path

from dagster import DagsterInstance

from assets.definitions import build_defs
from assets.demo import SERVE_LOGS
from assets.runtime.range_runs import materialize_range
from assets.runtime.services import Services, interrupt_on_sigterm
from orderflow_pipeline.cli import simulate_into_lake
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.demo import demo_dates, print_summary
from orderflow_pipeline.read.fallback import resolve_summary
from orderflow_pipeline.sources.ipot.broksum.fetch import FetchConfig, fetch_broksum
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.lake import Lake

INTRADAY = ["footprint_ndjson", "footprint_1m", "footprint_summary"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def core(*args: str) -> list[str]:
    return [sys.executable, "-m", "orderflow_pipeline.cli", *args]


def copy_history(src: Lake, dst: Lake, dates: list[date]) -> int:
    """Tape and broker summaries of `dates` from the source lake into the live lake."""
    keys: list[str] = []
    for d in dates:
        keys += list(inventory.tape_objects(src, d))
    wanted = {d.isoformat() for d in dates}
    keys += [k for k in src.list("raw-broksum/") if k.rsplit("/", 1)[-1][:-5] in wanted]
    blobs = src.cat_many(keys)
    dst.write_many(blobs)
    return len(blobs)


def session_seconds(src: Lake, d: date) -> float:
    """Wall seconds between the day's first and last tape hour folder (an upper bound)."""
    hours = sorted({k.split("/")[4] for k in inventory.tape_objects(src, d)})
    return (int(hours[-1]) - int(hours[0]) + 1) * 3600.0 if hours else 8 * 3600.0


def run_live_demo(
    *,
    days: int = 22,
    tickers: int = 60,
    seed: int = 7,
    speed: float = 60.0,
    interval: float = 60.0,
    api_port: int = 8000,
    ui: bool = False,
    workdir: str = "data/live",
) -> int:
    settings = get_settings()
    live = Lake.from_settings(settings)
    src = Lake(os.path.join(workdir, "source"))
    dates = demo_dates(days)
    history, day = dates[:-1], dates[-1]
    print(
        f"live-demo: history {history[0]}..{history[-1]}, replayed day {day}, {tickers} tickers, {speed:g}x"
    )
    print(f"  live lake={settings.lake}  source lake={src.root}  warehouse={settings.warehouse}")
    if not inventory.tape_objects(src, day):
        simulate_into_lake(src, dates[0], day, tickers=tickers, seed=seed, shared_dir=settings.shared_dir)
    n = copy_history(src, live, history)
    print(f"copied {n} history objects; materializing the history once (one Dagster run)")
    instance = DagsterInstance.get()
    # The intraday runs' live_matches_batch check compares with the API started below.
    os.environ["ORDERFLOW_LIVE_API_URL"] = f"http://127.0.0.1:{api_port}"
    # One code location for every run of the demo: the intraday loop runs each `interval` seconds.
    defs = build_defs()
    materialize_range(defs, history[0], history[-1], instance=instance, log_level="WARNING")

    # One spool folder for capture and API (absolute: they run in different folders), so the API
    # finds the capture's trades by itself.
    spool = Path(workdir, "capture-spool", "demo").resolve()
    env = {**os.environ, "ORDERFLOW_LAKE": settings.lake, "ORDERFLOW_CAPTURE_SPOOL": str(spool)}
    logs = Path(settings.dagster_home) / SERVE_LOGS
    with interrupt_on_sigterm(), Services(logs) as services:
        try:
            port = free_port()
            services.start(
                "replay-server",
                core("replay-server", "--date", day.isoformat(), "--speed", str(speed), "--port", str(port)),
                env={**os.environ, "ORDERFLOW_LAKE": src.root},
            )
            wait_port(port)
            url = f"ws://127.0.0.1:{port}/socketcluster/"
            duration = session_seconds(src, day) / max(speed, 1.0) + 30
            cap = services.start(
                "capture",
                core("capture", "--url", url, "--date", day.isoformat(), "--duration", f"{duration:.0f}"),
                env=env,
                cwd=workdir,
            )
            # The API follows the capture's trading date from its spool: start it once there is one.
            deadline = time.monotonic() + 60
            while not any((spool / "open").glob("seg-*.jsonl")) and time.monotonic() < deadline:
                time.sleep(0.2)
            api = services.start("api", core("serve", "--host", "0.0.0.0", "--port", str(api_port)), env=env)
            if ui:
                exe = str(Path(sys.executable).with_name("dagster"))
                services.start("dagster-dev", [exe, "dev", "-w", "workspace.yaml", "-p", "3000"], env=env)
                print("Dagster UI  -> http://localhost:3000")
            print(
                f"Dashboard   -> http://localhost:{api_port}/   (live: every trade as it arrives; capture from {url})"
            )
            print("  the intraday batch runs below stay the system of record (live_matches_batch compares)")
            print(
                f"  logs: {logs}/{{replay-server,capture,api{',dagster-dev' if ui else ''}}}.log; Ctrl-C stops"
            )
            while cap.poll() is None:
                time.sleep(interval)
                t0 = time.monotonic()
                r = materialize_range(
                    defs,
                    day,
                    instance=instance,
                    asset_keys=INTRADAY,
                    raise_on_error=False,
                    log_level="ERROR",
                )
                objs = len(inventory.tape_objects(live, day))
                print(
                    f"  intraday run {'ok' if r.success else 'FAILED'} in {time.monotonic() - t0:.1f}s: {objs} tape objects"
                )
            print(
                f"capture finished (exit {cap.returncode}); fetching broker summaries from the replay server"
            )
            res = fetch_broksum(live, day, None, FetchConfig(url=url, token=None))
            print(f"  fetch-broksum: {json.dumps(res.as_dict())}")
            materialize_range(defs, day, instance=instance, log_level="WARNING")
            print_summary(resolve_summary(settings, date=day.isoformat()), liquid=settings.liquidity)
            if api.poll() is None:
                print("dashboard (and UI) still running: Ctrl-C to stop")
                api.wait()
            return 0
        except KeyboardInterrupt:
            print("stopping the live demo's servers")
            return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="live-demo", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--days", type=int, default=22)
    p.add_argument("--tickers", type=int, default=60)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--speed", type=float, default=60.0)
    p.add_argument("--interval", type=float, default=60.0, help="seconds between intraday runs")
    p.add_argument("--api-port", type=int, default=8000)
    p.add_argument("--ui", action="store_true", help="also run dagster dev on :3000")
    p.add_argument("--workdir", default="data/live")
    a = p.parse_args(argv)
    return run_live_demo(
        days=a.days,
        tickers=a.tickers,
        seed=a.seed,
        speed=a.speed,
        interval=a.interval,
        api_port=a.api_port,
        ui=a.ui,
        workdir=a.workdir,
    )


if __name__ == "__main__":
    sys.exit(main())
