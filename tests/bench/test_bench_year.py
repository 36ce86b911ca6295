"""Benchmark (issue 20): a year of the market through ONE `orderflow materialize`, as a new user runs it.

The market is simulated once (`orderflow simulate`, the CLI's defaults) into a cache folder keyed by
(days, tickers, seed, simulator source digest) under bench-results/.cache, so iterating costs only
the materialize. Sizes: BENCH_YEAR_TICKERS (default 300) × BENCH_YEAR_DAYS (default 237, the IDX
trading days of 2025); e.g. `BENCH_YEAR_TICKERS=60 BENCH_YEAR_DAYS=40 make bench` to iterate.

Measured in this process, one after another:
- floor: DuckDB `read_json` of every tape object of the year (the bare read, as test_bench_footprint
  measures it for one day) — nothing that reads the tape can be faster;
- the year: one `orderflow materialize --date first --to last` subprocess on a fresh Dagster home,
  lake folder (the cache hard-linked: the pipeline only adds files and replaces by rename) and
  warehouse, with the RSS of its process tree sampled every 0.25 s; the per-layer split comes from
  the run's step events in the Dagster instance;
- daily_features alone: `smart_money.build_daily_features` over the year on a fresh DuckDB, and the
  previous per-file path (`Lake.cat_many` + `parse_broksum` per object, the code before issue 20)
  over the same objects, as the "before" baseline of its 10× target.
Writes bench-results/year.json and regenerates docs/performance.md + docs/performance-year.png
(`write_docs`, from the JSON alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.inventory import tape_objects
from orderflow_pipeline.lake import Lake

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-results" / "year.json"
CACHE = ROOT / "bench-results" / ".cache"
DOC = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "performance-year.png"
YEAR = 2025  # 237 IDX trading days
TICKERS = int(os.environ.get("BENCH_YEAR_TICKERS", "300"))
DAYS = int(os.environ.get("BENCH_YEAR_DAYS", "237"))
SEED = int(os.environ.get("BENCH_YEAR_SEED", "7"))
SAMPLE_S = 0.25
# Issue 20's figures for 300 tickers × 237 days (2 cores, duckdb 2.0.1, before the work on it).
ISSUE_BEFORE = {
    "wall_s": 651.0,
    "floor_s": 86.0,
    "ratio": 7.5,
    "peak_rss_mb": 1.58 * 1024,
    "daily_features_s": 4.8 * 60,
    "daily_features_ms_per_file": 4.0,
    "footprint_s": 3.7 * 60,
    "warehouse_s": 1.8 * 60,
    "summary_s": 13.0,
}
TARGETS = {"ratio_vs_floor_max": 3.0, "daily_features_speedup_min": 10.0, "peak_rss_mb_max": 1536.0}


def year_days() -> list[date]:
    days = idx_calendar.trading_days(date(YEAR, 1, 1), date(YEAR, 12, 31))
    assert len(days) >= DAYS, f"{YEAR} has {len(days)} trading days"
    return days[:DAYS]


def simulator_digest() -> str:
    """Digest of the simulator's sources (and the profile it reads): a changed simulator
    invalidates the cached market."""
    h = hashlib.sha256()
    pkg = ROOT / "orderflow_pipeline"
    for p in sorted([*(pkg / "simulator").rglob("*.py"), pkg / "profile.py"]):
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def cached_market(days: list[date]) -> Path:
    """The simulated year's lake (tape + broker summaries), made once by `orderflow simulate`."""
    folder = CACHE / f"year-{TICKERS}t-{len(days)}d-s{SEED}-{simulator_digest()}"
    lake = folder / "lake"
    if not (folder / "done.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        env = {**os.environ, "ORDERFLOW_LAKE": str(lake)}
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "assets.cli", "simulate", "--start", days[0].isoformat()]
            + ["--end", days[-1].isoformat(), "--tickers", str(TICKERS), "--seed", str(SEED)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        stats = json.loads(out.stdout.strip().splitlines()[-1])
        stats["simulate_seconds"] = round(time.perf_counter() - t, 1)
        (folder / "done.json").write_text(json.dumps(stats, default=str))
    return lake


def floor_read(paths: list[str]) -> int:
    """DuckDB's bare read of the tape (test_bench_footprint's floor, over the whole range)."""
    con = duckdb.connect()
    row = con.execute(
        "SELECT count(raw) FROM read_json(?, columns = {'raw': 'VARCHAR'}, format = 'newline_delimited')",
        [paths],
    ).fetchone()
    con.close()
    return int(row[0]) if row else 0


class TreeSampler:
    """RSS of a process and all its descendants, sampled every SAMPLE_S seconds."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []  # (unix time, MB)
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)

    def rss(self) -> float:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.time(), self.rss()))
            except psutil.Error:
                break
            self.stop.wait(SAMPLE_S)


def materialize(lake: Path, work: Path, days: list[date]) -> dict[str, Any]:
    """One `orderflow materialize` of the range, like a new user: fresh DAGSTER_HOME and warehouse."""
    home = work / "dagster"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    wh = work / "warehouse.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ORDERFLOW_LAKE": str(lake),
        "ORDERFLOW_DUCKDB": str(wh),
    }
    env.pop("ORDERFLOW_WAREHOUSE", None)
    cmd = [sys.executable, "-m", "assets.cli", "materialize", "--date", days[0].isoformat()]
    cmd += ["--to", days[-1].isoformat()]
    log = (work / "materialize.log").open("w")
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    sampler = TreeSampler(proc.pid)
    sampler.th.start()
    stdout, _ = proc.communicate()
    wall = time.time() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.stop.set()
    sampler.th.join()
    log.close()
    assert proc.returncode == 0, (work / "materialize.log").read_text()[-4000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["success"]
    steps, runs = step_timings(home, out["run_id"])
    samples = [(round(t - t0, 2), round(mb, 1)) for t, mb in sampler.samples]
    for s in steps.values():  # each layer's peak RSS: the samples within its step
        s["start_s"] = round(s.pop("start_at") - t0, 2)
        s["end_s"] = round(s.pop("end_at") - t0, 2)
        inside = [mb for t, mb in samples if s["start_s"] <= t <= s["end_s"]]
        s["peak_rss_mb"] = max(inside, default=None)
    wh_bytes = sum(p.stat().st_size for p in work.glob("warehouse.duckdb*"))
    return {
        "wall_s": round(wall, 2),
        # CPU of the process tree (workers included): the work done, whatever the machine's load
        "cpu_s": round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 1),
        "runs_launched": runs,
        "run_id": out["run_id"],
        "peak_rss_mb": max((mb for _, mb in samples), default=0.0),
        "steps": steps,
        "warehouse_mb": round(wh_bytes / 2**20, 1),
        "rss_samples": samples,
    }


def step_timings(home: Path, run_id: str) -> tuple[dict[str, dict[str, Any]], int]:
    """{step: start/end (s since the subprocess started) and seconds} from the run's step events."""
    from dagster import DagsterEventType, DagsterInstance

    prev = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            runs = len(instance.get_run_records())
            marks: dict[str, dict[str, float]] = {}
            for rec in instance.all_logs(
                run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
            ):
                ev = rec.dagster_event
                if ev is None or ev.step_key is None:
                    continue
                kind = "start" if ev.event_type == DagsterEventType.STEP_START else "end"
                marks.setdefault(ev.step_key, {})[kind] = rec.timestamp
    finally:
        if prev is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = prev
    steps = {
        k: {"seconds": round(m["end"] - m["start"], 2), "start_at": m["start"], "end_at": m["end"]}
        for k, m in marks.items()
        if "start" in m and "end" in m
    }
    return steps, runs


def daily_features_alone(lake: Path, days: list[date], work: Path) -> dict[str, Any]:
    """build_daily_features over the year on a fresh DuckDB, and the per-file path before issue 20."""
    from orderflow_pipeline import smart_money
    from orderflow_pipeline.smart_money.broksum import parse_broksum
    from orderflow_pipeline.smart_money.categories import default_categories
    from orderflow_pipeline.smart_money.listing import list_broksum

    lk = Lake(str(lake))
    con = duckdb.connect(str(work / "features.duckdb"))
    t = time.perf_counter()
    res = smart_money.build_daily_features(lk, con, days)
    ours = time.perf_counter() - t
    con.close()
    # Before: every object read on its own and parsed with the per-file parser (what
    # sync_broker_daily did for each of them), the table write and features not even included.
    t = time.perf_counter()
    earlier = idx_calendar.previous_sessions(days[0], smart_money.build.LAKE_LOOKBACK_DAYS)
    listing = list_broksum(lk, [*earlier, *days])
    blobs = lk.cat_many([key for key, _ in listing.objects.values()])
    cats = default_categories()
    parsed = 0
    for (ticker, d), (key, _fp) in sorted(listing.objects.items()):
        parse_broksum(blobs[key], ticker, d, cats)
        parsed += 1
    del blobs
    before = time.perf_counter() - t
    assert parsed == res.objects_parsed
    return {
        "seconds": round(ours, 2),
        "files": res.objects_parsed,
        "ms_per_file": round(1000 * ours / max(res.objects_parsed, 1), 3),
        "rows": res.rows,
        "before_per_file_parse_s": round(before, 2),
        "before_ms_per_file": round(1000 * before / max(parsed, 1), 3),
        "speedup_vs_before": round(before / ours, 2) if ours else None,
    }


def write_docs(result: dict[str, Any], doc: Path = DOC, plot: Path = PLOT) -> None:
    """docs/performance.md (table) and its plot, from year.json's content alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = result["year"]
    steps = y["steps"]
    order = [
        s for s in ("footprint_ndjson", "footprint_1m", "daily_features", "footprint_summary") if s in steps
    ]
    order += sorted(set(steps) - set(order))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    ts = [t for t, _ in y["rss_samples"]]
    ax1.plot(ts, [mb for _, mb in y["rss_samples"]], lw=1, color="tab:blue")
    for name in order:
        s = steps[name]
        ax1.axvspan(s["start_s"], s["end_s"], alpha=0.08, color="gray")
        ax1.text(s["start_s"], 0, name.replace("footprint_", "fp_"), fontsize=7, rotation=90, va="bottom")
    ax1.axhline(TARGETS["peak_rss_mb_max"], ls="--", color="tab:red", lw=0.8, label="1.5 GB target")
    ax1.set_xlabel("seconds since `orderflow materialize` started")
    ax1.set_ylabel("RSS of the process tree (MB)")
    ax1.set_title(f"{result['tickers']} tickers × {result['days']} days: RSS over the run")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.barh(order, [steps[s]["seconds"] for s in order], color="tab:green", label="this run")
    ax2.axvline(result["floor"]["seconds"], ls="--", color="black", lw=0.8, label="DuckDB read floor")
    ax2.invert_yaxis()
    ax2.set_xlabel("seconds")
    ax2.set_title("per layer")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot, dpi=110)
    plt.close(fig)

    f = result["floor"]
    df = result["daily_features_alone"]
    b = ISSUE_BEFORE
    lines = [
        "# Performance: a year of the market in one `orderflow materialize`",
        "",
        "Generated by `make bench` (tests/bench/test_bench_year.py) from `bench-results/year.json`;",
        "re-running the benchmark rewrites this page and the plot. Each figure is one run on a shared",
        "machine: compare ratios measured in the same run (the floor), not seconds across runs.",
        "",
        f"Run: {result['measured_at']}, {result['tickers']} tickers × {result['days']} trading days "
        f"({result['first_date']}..{result['last_date']}), {result['tape_objects']:,} tape objects "
        f"({result['tape_mb']:,} MB, {result['trades']:,} trades), {result['broksum_files']:,} broker "
        f"summaries; {result['cpu_count']} cores, load average {result['load_avg_1m_before']} before / "
        f"{result['load_avg_1m_after']} after; duckdb {result['duckdb']}.",
        "",
        "| figure | this run | issue 20 before (300 × 237, duckdb 2.0.1) | target |",
        "|---|---|---|---|",
        f"| year, one `orderflow materialize` | {y['wall_s']:.0f} s | {b['wall_s']:.0f} s | |",
        f"| DuckDB read floor (same run) | {f['seconds']:.1f} s | {b['floor_s']:.0f} s | |",
        f"| ratio year / floor | **{result['ratio_vs_floor']:.2f}×** | {b['ratio']}× | ≤ 3× |",
        f"| peak RSS (process tree) | **{y['peak_rss_mb']:.0f} MB** | {b['peak_rss_mb']:.0f} MB | ≤ 1,536 MB |",
        f"| CPU time of the process tree (user + sys) | {y.get('cpu_s', 0):.0f} s | | |",
        f"| Dagster runs launched | {y['runs_launched']} | 1 | 1 |",
        f"| warehouse file | {y['warehouse_mb']:.0f} MB | | |",
    ]
    names = {
        "footprint_ndjson": ("footprint", "footprint_s"),
        "footprint_1m": ("warehouse", "warehouse_s"),
        "daily_features": ("daily_features", "daily_features_s"),
        "footprint_summary": ("summary", "summary_s"),
    }
    for s in order:
        label, key = names.get(s, (s, ""))
        peak = steps[s].get("peak_rss_mb")
        before = f"{b[key]:.0f} s" if key in b else ""
        lines.append(
            f"| layer `{s}` ({label}) | {steps[s]['seconds']:.1f} s (peak {peak or 0:.0f} MB) | {before} | |"
        )
    lines += [
        f"| daily_features alone (in process) | {df['seconds']:.1f} s, {df['ms_per_file']:.3f} ms/file "
        f"({df['files']:,} files) | {b['daily_features_s']:.0f} s, {b['daily_features_ms_per_file']} ms/file | |",
        f"| per-file parse path of before, same files, same run | {df['before_per_file_parse_s']:.1f} s, "
        f"{df['before_ms_per_file']:.3f} ms/file | | |",
        f"| daily_features speed-up vs that path | **{df['speedup_vs_before']}×** | | ≥ 10× |",
        "",
        f"![RSS over the run and per-layer time]({plot.name})",
        "",
        "The plot's left panel is the RSS of the `orderflow materialize` process and its workers over",
        "the run, the shaded spans are the layers (one Dagster step each, every date in one step: the",
        "single-run backfill); flat within a span means memory does not grow with the days processed.",
        "",
    ]
    doc.write_text("\n".join(lines))


@pytest.mark.bench
def test_bench_year(tmp_path: Path) -> None:
    days = year_days()
    cache = cached_market(days)
    work = tmp_path / "run"
    work.mkdir()
    lake = work / "lake"
    subprocess.run(["cp", "-al", str(cache), str(lake)], check=True)  # hard links: see the docstring

    lk = Lake(str(lake))
    paths = [lk.path(k) for d in days for k in tape_objects(lk, d)]
    tape_mb = sum(os.path.getsize(p) for p in paths) / 2**20
    broksum_files = len(lk.list("raw-broksum/"))
    load_before = round(os.getloadavg()[0], 2)
    os.sync()
    t = time.perf_counter()
    trades = floor_read(paths)
    floor_s = time.perf_counter() - t

    year = materialize(lake, work, days)
    # features alone on a fresh copy of the broker summaries (the run above already parsed its own)
    feat_lake = tmp_path / "features-lake"
    subprocess.run(["cp", "-al", str(cache), str(feat_lake)], check=True)
    df = daily_features_alone(feat_lake, days, tmp_path)

    result = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tickers": TICKERS,
        "days": len(days),
        "seed": SEED,
        "first_date": days[0].isoformat(),
        "last_date": days[-1].isoformat(),
        "tape_objects": len(paths),
        "tape_mb": round(tape_mb, 1),
        "trades": trades,
        "broksum_files": broksum_files,
        "floor": {"seconds": round(floor_s, 2), "what": "DuckDB read_json(raw) of every tape object"},
        "year": year,
        "ratio_vs_floor": round(year["wall_s"] / floor_s, 2),
        "daily_features_alone": df,
        "issue_before": ISSUE_BEFORE,
        "targets": TARGETS,
        "cpu_count": os.cpu_count(),
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "duckdb": duckdb.__version__,
    }
    result["meets_targets"] = {
        "ratio_vs_floor": result["ratio_vs_floor"] <= TARGETS["ratio_vs_floor_max"],
        "peak_rss": year["peak_rss_mb"] <= TARGETS["peak_rss_mb_max"],
        "daily_features_speedup": (df["speedup_vs_before"] or 0) >= TARGETS["daily_features_speedup_min"],
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    write_docs(result)
    print(json.dumps({k: v for k, v in result.items() if k != "year"}, indent=1))
    print(json.dumps({k: v for k, v in year.items() if k != "rss_samples"}, indent=1))
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert year["runs_launched"] == 1
