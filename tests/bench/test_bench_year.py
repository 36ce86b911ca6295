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
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.lake import Lake

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-results" / "year.json"
# Every run also keeps its figures per DuckDB version (the issue asks for both: 1.5.5, pinned for
# the ducklake extension, and the newer 2.x); the page lists every version measured.
VERSION_OUT = ROOT / "bench-results" / "year-duckdb-{version}.json"
CACHE = ROOT / "bench-results" / ".cache"
DOC = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "performance-year.png"
YEAR = 2025  # 237 IDX trading days
TICKERS = int(os.environ.get("BENCH_YEAR_TICKERS", "300"))
DAYS = int(os.environ.get("BENCH_YEAR_DAYS", "237"))
SEED = int(os.environ.get("BENCH_YEAR_SEED", "7"))
SAMPLE_S = 0.25
CHECK_SAMPLE = int(os.environ.get("BENCH_YEAR_CHECK_SAMPLE", "12"))
# BENCH_YEAR_VERSION_ONLY=1: measure the year for the per-version table only (no daily_features
# before/after, page not rewritten), e.g. with another DuckDB first on PYTHONPATH.
VERSION_ONLY = os.environ.get("BENCH_YEAR_VERSION_ONLY") == "1"
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
# Issue 28's before (its "Why": the same 300 x 237 market, duckdb 1.5.5, one materialize) and its
# targets (Acceptance): the page's second before column.
ISSUE28_BEFORE = {
    "wall_s": 384.0,
    "floor_s": 8.8,
    "ratio": 43.6,
    "footprint_s": 147.0,
    "warehouse_s": 119.0,
    "daily_features_s": 32.0,
    "summary_s": 56.0,
}
ISSUE28_TARGETS = {"wall_s_max": 90.0, "ratio_vs_floor_max": 10.0, "peak_rss_mb_max": 1536.0}
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
    for p in sorted([*(pkg / "simulator").rglob("*.py"), pkg / "read" / "profile.py"]):
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


def floor_per_date(lake: Lake, days: list[date]) -> float:
    """The same read one date at a time (one query per date, as the pipeline reads them)."""
    con = duckdb.connect()
    t = time.perf_counter()
    for d in days:
        paths = [lake.path(k) for k in tape_objects(lake, d)]
        if paths:
            con.execute(
                "SELECT count(raw) FROM read_json(?, columns = {'raw': 'VARCHAR'}, "
                "format = 'newline_delimited')",
                [paths],
            ).fetchone()
    out = time.perf_counter() - t
    con.close()
    return out


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
        # (unix time, RSS MB, PSS MB, CPU seconds so far)
        self.samples: list[tuple[float, float, float, float]] = []
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)

    def sample(self) -> tuple[float, float, float]:
        """(RSS MB, PSS MB, CPU s) of the tree: live processes (CPU: plus the workers they reaped).

        RSS counts a page shared by a forked worker and its parent twice; PSS splits it between
        them, so the PSS sum is the memory the tree really holds (RSS sum: an upper bound)."""
        rss, pss, cpu = 0, 0, 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                full = p.memory_full_info()
                rss += full.rss
                pss += getattr(full, "pss", full.rss)
                c = p.cpu_times()
                cpu += c.user + c.system + c.children_user + c.children_system
            except psutil.Error:
                pass
        return rss / 2**20, pss / 2**20, cpu

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.time(), *self.sample()))
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
    samples = [(round(t - t0, 2), round(mb, 1)) for t, mb, _, _ in sampler.samples]
    pss = [(round(t - t0, 2), round(mb, 1)) for t, _, mb, _ in sampler.samples]
    cpu = [(t - t0, c) for t, _, _, c in sampler.samples]
    for s in steps.values():  # each layer's peak RSS and CPU: the samples within its step
        s["start_s"] = round(s.pop("start_at") - t0, 2)
        s["end_s"] = round(s.pop("end_at") - t0, 2)
        inside = [mb for t, mb in samples if s["start_s"] <= t <= s["end_s"]]
        s["peak_rss_mb"] = max(inside, default=None)
        s["peak_pss_mb"] = max((mb for t, mb in pss if s["start_s"] <= t <= s["end_s"]), default=None)
        spent = [c for t, c in cpu if s["start_s"] - SAMPLE_S <= t <= s["end_s"] + SAMPLE_S]
        s["cpu_s"] = round(max(spent) - min(spent), 1) if len(spent) > 1 else None
    wh_bytes = sum(p.stat().st_size for p in work.glob("warehouse.duckdb*"))
    return {
        "wall_s": round(wall, 2),
        # CPU of the process tree (workers included): the work done, whatever the machine's load
        "cpu_s": round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 1),
        "runs_launched": runs,
        "run_id": out["run_id"],
        "peak_rss_mb": max((mb for _, mb in samples), default=0.0),
        "peak_pss_mb": max((mb for _, mb in pss), default=0.0),
        "steps": steps,
        "warehouse_mb": round(wh_bytes / 2**20, 1),
        "rss_samples": samples,
        "pss_samples": pss,
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


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the parse workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def daily_features_alone(cache: Path, days: list[date], work: Path) -> dict[str, Any]:
    """The daily_features asset's work for the year, now and as it was before issue 20, each on a
    fresh hard-linked lake and a fresh DuckDB, in this process.

    Now: `build_daily_features` + the checks of every date from one broker-summary listing.
    Before: every object read at once and parsed serially (PARSE_BATCH and the pool off), the
    listing through `Lake.list_info`, and each date's checks globbing `raw-broksum/` — timed on
    CHECK_SAMPLE dates spread over the year and scaled to all of them (the full glob-per-date
    loop alone takes minutes). The parser itself is today's in both (its fast pass got faster),
    so "before" is if anything understated."""
    from orderflow_pipeline.layers import smart_money
    from orderflow_pipeline.layers.smart_money import build, listing

    def fresh(name: str) -> tuple[Lake, duckdb.DuckDBPyConnection]:
        subprocess.run(["cp", "-al", str(cache), str(work / name)], check=True)
        return Lake(str(work / name)), duckdb.connect(str(work / f"{name}.duckdb"))

    lk, con = fresh("features-now")
    c0, t = _cpu(), time.perf_counter()
    res = smart_money.build_daily_features(lk, con, days)
    present = smart_money.broksum_tickers_by_date(lk, days)
    for d in days:
        smart_money.checks(lk, con, d, broksum=present[d])
    now_s, now_cpu = time.perf_counter() - t, _cpu() - c0
    con.close()

    saved = build.PARSE_BATCH, build.POOL_MIN_OBJECTS, listing._list_local
    build.PARSE_BATCH = build.POOL_MIN_OBJECTS = 10**9
    listing._list_local = lambda lake, bad=None: lake.list_info(listing.PREFIX)
    try:
        lk, con = fresh("features-before")
        c0, t = _cpu(), time.perf_counter()
        res_b = smart_money.build_daily_features(lk, con, days)
        build_s, build_cpu = time.perf_counter() - t, _cpu() - c0
        sample = days[:: max(1, len(days) // CHECK_SAMPLE)]
        c0, t = _cpu(), time.perf_counter()
        for d in sample:
            smart_money.checks(lk, con, d)
        scale = len(days) / len(sample)
        checks_s, checks_cpu = (time.perf_counter() - t) * scale, (_cpu() - c0) * scale
        con.close()
    finally:
        build.PARSE_BATCH, build.POOL_MIN_OBJECTS, listing._list_local = saved
    assert res_b.rows == res.rows and res_b.objects_parsed == res.objects_parsed
    before_s, before_cpu = build_s + checks_s, build_cpu + checks_cpu
    files = max(res.objects_parsed, 1)
    return {
        "files": res.objects_parsed,
        "rows": res.rows,
        "seconds": round(now_s, 2),
        "cpu_s": round(now_cpu, 1),
        "ms_per_file": round(1000 * now_s / files, 3),
        "before_seconds": round(before_s, 2),
        "before_cpu_s": round(before_cpu, 1),
        "before_ms_per_file": round(1000 * before_s / files, 3),
        "before_build_seconds": round(build_s, 2),
        "before_checks_seconds_scaled": round(checks_s, 2),
        "before_checks_sampled_dates": len(sample),
        "speedup_vs_before": round(before_s / now_s, 2) if now_s else None,
        "cpu_ratio_vs_before": round(before_cpu / now_cpu, 2) if now_cpu else None,
    }


def calibration(result: dict[str, Any]) -> str:
    """What the before column can and cannot be compared with: it was measured in another session,
    on another DuckDB, under a load nobody recorded; only this run's ratios are like for like."""
    summary = result["year"]["steps"].get("footprint_summary")
    if not summary or result["tickers"] != 300 or result["days"] != 237:
        return "(No comparison with the issue's run: another size.)"
    return (
        f"Comparing with the before column: the summary layer, which issue 20 did not set out to speed "
        f"up, took {summary['seconds']:.0f} s here against {ISSUE_BEFORE['summary_s']:.0f} s in the "
        "issue's run, so seconds across the two sessions are not like for like (another DuckDB, "
        "another load); the ratios measured in this run are. Issue 28 (its before column: duckdb "
        "1.5.5, the same market) moved the warehouse onto the footprint build's own rows and the "
        "summary to one read per input."
    )


def version_table(folder: Path) -> list[str]:
    """The year by DuckDB version, from the per-version files of the runs made on this checkout."""
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("year-duckdb-*.json"))]
    if not runs:
        return []
    out = [
        "By DuckDB version (same market, same code; one run each, the load stated):",
        "",
        "| duckdb | measured | year | floor | ratio | peak RSS | footprint | warehouse | daily_features "
        "| summary | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        st = r["year"]["steps"]

        def sec(name: str, st: dict[str, Any] = st) -> str:
            return f"{st[name]['seconds']:.0f} s" if name in st else ""

        out.append(
            f"| {r['duckdb']} | {r['measured_at']} | {r['year']['wall_s']:.0f} s | {r['floor']['seconds']:.1f} s "
            f"| {r['ratio_vs_floor']:.1f}× | {r['year']['peak_rss_mb']:.0f} MB | {sec('footprint_ndjson')} "
            f"| {sec('footprint_1m')} | {sec('daily_features')} | {sec('footprint_summary')} "
            f"| {r['load_avg_1m_before']} / {r['load_avg_1m_after']} |"
        )
    return [*out, ""]


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
    # the asset checks' own steps (well under a second each) stay in the JSON, not on the page
    order += sorted(k for k in set(steps) - set(order) if steps[k]["seconds"] >= 1.0)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    ts = [t for t, _ in y["rss_samples"]]
    ax1.plot(ts, [mb for _, mb in y["rss_samples"]], lw=1, color="tab:blue", label="RSS (sum)")
    if y.get("pss_samples"):
        ax1.plot(
            [t for t, _ in y["pss_samples"]],
            [mb for _, mb in y["pss_samples"]],
            lw=1,
            color="tab:orange",
            label="PSS (sum)",
        )
    for name in order:
        s = steps[name]
        ax1.axvspan(s["start_s"], s["end_s"], alpha=0.08, color="gray")
        ax1.text(s["start_s"], 0, name.replace("footprint_", "fp_"), fontsize=7, rotation=90, va="bottom")
    ax1.axhline(TARGETS["peak_rss_mb_max"], ls="--", color="tab:red", lw=0.8, label="1.5 GB target")
    ax1.set_xlabel("seconds since `orderflow materialize` started")
    ax1.set_ylabel("memory of the process tree (MB)")
    ax1.set_title(f"{result['tickers']} tickers × {result['days']} days: memory over the run")
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
    b28 = ISSUE28_BEFORE
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
        "| figure | this run | issue 28 before (300 × 237, duckdb 1.5.5) "
        "| issue 20 before (300 × 237, duckdb 2.0.1) | target (issue 28; issue 20) |",
        "|---|---|---|---|---|",
        f"| year, one `orderflow materialize` | **{y['wall_s']:.0f} s** | {b28['wall_s']:.0f} s "
        f"| {b['wall_s']:.0f} s | ≤ {ISSUE28_TARGETS['wall_s_max']:.0f} s |",
        f"| DuckDB read floor (same run) | {f['seconds']:.1f} s | {b28['floor_s']} s | {b['floor_s']:.0f} s | |",
        f"| DuckDB read floor, one query per date | {f.get('per_date_seconds', 0):.1f} s | 26 s | | |",
        f"| ratio year / floor | **{result['ratio_vs_floor']:.2f}×** | {b28['ratio']}× | {b['ratio']}× "
        f"| ≤ {ISSUE28_TARGETS['ratio_vs_floor_max']:.0f}×; ≤ 3× |",
        f"| ratio year / per-date floor | {result.get('ratio_vs_per_date_floor', 0):.2f}× | | | |",
        f"| peak RSS (process tree, sum) | **{y['peak_rss_mb']:.0f} MB** | | {b['peak_rss_mb']:.0f} MB "
        "| ≤ 1,536 MB |",
        f"| peak PSS (process tree, shared pages split) | {y.get('peak_pss_mb', 0):.0f} MB | | | |",
        f"| CPU time of the process tree (user + sys) | {y.get('cpu_s', 0):.0f} s | | | |",
        f"| Dagster runs launched | {y['runs_launched']} | 1 | 1 | 1 |",
        f"| warehouse file | {y['warehouse_mb']:.0f} MB | | | |",
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
        before28 = f"{b28[key]:.0f} s" if key in b28 else ""
        cpu = steps[s].get("cpu_s")
        lines.append(
            f"| layer `{s}` ({label}) | {steps[s]['seconds']:.1f} s (CPU {cpu or 0:.0f} s, "
            f"peak {peak or 0:.0f} MB) | {before28} | {before} | |"
        )
    lines += [
        f"| daily_features alone, build + checks (in process) | {df['seconds']:.1f} s, "
        f"{df['ms_per_file']:.3f} ms/file ({df['files']:,} files), CPU {df['cpu_s']:.0f} s "
        f"| | {b['daily_features_s']:.0f} s, {b['daily_features_ms_per_file']} ms/file | |",
        f"| the same work the way it was before, same files, same run | {df['before_seconds']:.1f} s, "
        f"{df['before_ms_per_file']:.3f} ms/file, CPU {df['before_cpu_s']:.0f} s | | | |",
        f"| daily_features speed-up (wall; CPU) | **{df['speedup_vs_before']}×**; "
        f"{df['cpu_ratio_vs_before']}× | | | ≥ 10× (issue 20) |",
        "",
        calibration(result),
        "",
        *version_table(OUT.parent),
        f"![RSS over the run and per-layer time]({plot.name})",
        "",
        "The plot's left panel is the memory of the `orderflow materialize` process and its workers",
        "over the run (RSS summed over the processes, an upper bound since forked workers share pages",
        "with their parent; PSS splits shared pages), the shaded spans are the layers (one Dagster",
        "step each, every date in one step: the single-run backfill); flat within a span means memory",
        "does not grow with the days processed. CPU per layer is the process tree's user + system",
        "time during its step: on a loaded machine it is the steadier figure, wall time is not.",
        "",
        "The floor is DuckDB `read_json` of the tape alone (10k objects for 300 × 237; the 79.6k",
        '"tape objects" the issue counted are what `orderflow simulate` reports, broker summaries',
        "included). Read that way it took 9–23 s on this box over four runs, far below the issue's 86 s,",
        "which makes its ≤ 3× target about a minute for the whole year — less than Dagster's start",
        "plus the parse of 70k broker summaries. The per-date floor (one query per date, as the",
        "layers read) is given next to it.",
        "",
        "## Where the time went, and what issue 20 changed",
        "",
        "- `daily_features`: most of its 4.8 minutes was the checks, not the parse: each date's",
        "  `broksum_present` check globbed `raw-broksum/*/{date}.json`, and fsspec's glob walks and",
        "  stats the whole tree (70k files) per date. A backfill now lists once",
        "  (`smart_money.broksum_tickers_by_date`). The listing reads one directory per ticker folder",
        "  (fsspec's find built an info dict per file). Objects are read and parsed in batches of 512",
        "  (the whole year's 1.7 GB of JSON was held at once), on every core for large syncs",
        "  (`build.POOL_MIN_OBJECTS`), and the parser's fast pass does set look-ups per broker row.",
        "- footprint: dates are independent (own tape, manifest, quarantine, hour files), so the",
        "  backfill builds them in worker processes, one date per worker at a time, results and",
        "  checks reported in date order (`parallel.ordered_map`, `footprint.build_and_check`).",
        "- warehouse: listing, reading and validating a date's hour files run in workers a date",
        "  ahead; the writes stay in the run's single DuckDB connection, in date order, one",
        "  transaction per date (`warehouse.consolidate_dates`); checks reuse that listing.",
        "- Nothing changed in what is written: the same tests pass, and the pool and serial paths",
        "  give identical `broker_daily`, `footprint_1m`, `footprint_levels` and `ingest_manifest`.",
        "",
        "## Where the time goes now (issue 28)",
        "",
        "- The run is CPU-bound: the process tree's CPU over 2 cores is the wall time's floor, and",
        "  footprint is more than half of it. One date of this market (≈ 85k trades, ≈ 2,000 hour",
        "  files) costs a worker ≈ 0.75 s of CPU, profiled in process: DuckDB ≈ 0.30 s (the parse",
        "  ≈ 0.07 s, of which splitting the raw fields 0.04 s; aggressor, de-duplication, candles and",
        "  hour bodies ≈ 0.045 s each), the hour files ≈ 0.2-0.25 s of kernel time (≈ 100 µs to",
        "  create a small file and rename it into place on this ext4, measured alone: a direct",
        "  create costs the same), the checks ≈ 0.1 s, the rest Python glue. The hour files are the",
        "  lake's contract (SPEC §6: one file per ticker and UTC hour), so ≈ 470k file creations a",
        "  year are ≈ 47 s of CPU whatever computes them.",
        "- Dagster's own events: a single-run backfill of 237 dates records one planned and one",
        "  materialization event per asset and date (≈ 2,800 here) and one event per log line. On",
        "  the CLI's SQLite instance each asset event cost 4-7 ms, mostly SQLAlchemy building an",
        "  engine and compiling the INSERTs afresh per event; `assets/runtime/sqlite_wal.py` keeps one",
        "  engine per instance file in the CLI's process (2.1-2.5 ms per event).",
        "- The warehouse step loads the footprint build's own rows (its hand-over), several dates",
        "  per transaction (`warehouse/backfill.py`); the summary, universe and outcomes layers work",
        "  on the run's dates in one batch each.",
        "- The CLI process itself: tearing the interpreter down after a run (≈ 2,000 modules, ≈ 260k",
        "  objects) cost 0.5-0.8 s of every `orderflow` command, and the collector's passes while",
        "  Dagster and the code location are imported ≈ 0.3 s. The console script now leaves by",
        "  `os._exit` once stdio and the log handlers are flushed, and `materialize` imports with the",
        "  collector paused, then frozen (`assets/cli.py`: `run`, `_startup`).",
        "- This machine's file system: the root ext4 has no journal (`/sys/fs/ext4/vda/journal_task`",
        "  is `<none>`). Without one, ext4 skips every free inode deleted in the last 60 s (360 s",
        "  while its inode-table block is dirty) when it allocates a new one (`find_inode_bit` ->",
        "  `recently_deleted`), one buffer lookup each: after a mass delete (a `rm -rf` of an old run,",
        "  pytest removing old temp folders at a session's start) creating files and folders is",
        "  several times slower for minutes. `perf` of a full-market day right after deleting the",
        "  previous one's files: ≈ 35% of the run's CPU in `recently_deleted` under `ext4_create` and",
        "  `ext4_mkdir`; none in a run after a quiet spell. It is a cause of this VM's 'slow spells'",
        "  (10-20% and more between runs of the same code): compare figures only from runs with no",
        "  mass delete in the minutes before them. A journaled ext4 (the usual server set-up) does",
        "  not make this check.",
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
    floor_dates_s = floor_per_date(lk, days)

    year = materialize(lake, work, days)
    df = {} if VERSION_ONLY else daily_features_alone(cache, days, tmp_path)

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
        "floor": {
            "seconds": round(floor_s, 2),
            "what": "DuckDB read_json(raw) of every tape object, one query",
            "per_date_seconds": round(floor_dates_s, 2),
        },
        "year": year,
        "ratio_vs_floor": round(year["wall_s"] / floor_s, 2),
        "ratio_vs_per_date_floor": round(year["wall_s"] / floor_dates_s, 2),
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
        "daily_features_speedup": (df.get("speedup_vs_before") or 0) >= TARGETS["daily_features_speedup_min"],
    }
    OUT.parent.mkdir(exist_ok=True)
    Path(str(VERSION_OUT).format(version=duckdb.__version__)).write_text(json.dumps(result, indent=1) + "\n")
    if not VERSION_ONLY:
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        write_docs(result)
    print(json.dumps({k: v for k, v in result.items() if k != "year"}, indent=1))
    print(json.dumps({k: v for k, v in year.items() if not k.endswith("_samples")}, indent=1))
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert year["runs_launched"] == 1
