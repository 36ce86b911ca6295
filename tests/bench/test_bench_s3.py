"""The whole pipeline on a moto S3 lake against the same market in a local folder (issue 20).

5 trading days x 40 tickers simulated once, copied byte for byte into a moto bucket; then, in this
process, one `materialize_range` over all layers (as `orderflow materialize` runs it) and an
unchanged re-run on each lake. Targets (issue 28): S3 full run <= 2x local, unchanged re-run <=
1.2x local (issue 20's were 3x and 2x).
The S3 request counts (LIST pages, GET, PUT, HEAD) come from the moto server's own request log.
Results -> bench-results/s3.json.

Why moto is a hard floor here: it is a single Python process on the same 2 cores, ~5-15 ms of CPU
per request under load, so every request the pipeline avoids is the figure that matters; the
request counts say what a real S3 would be charged and how many round trips a run waits for.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import moto_requests, running_moto
from dagster import DagsterInstance

from assets.definitions import build_defs
from assets.runtime.range_runs import materialize_range
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake

DAYS = idx_calendar.trading_days("2026-01-05", "2026-02-13")[:5]
N_TICKERS, SEED = 40, 3
RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "s3.json"
TARGET_FULL, TARGET_UNCHANGED = 2.0, 1.2


def _requests(log: Path, start: int) -> tuple[dict[str, int], int]:
    """Requests moto logged after byte offset `start`: by kind, and the new offset."""
    requests, offset = moto_requests(log, start)
    return dict(sorted(Counter(kind for kind, _ in requests).items())), offset


def _run(env: dict[str, str], instance: DagsterInstance) -> float:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        t0 = time.perf_counter()
        result = materialize_range(build_defs(), DAYS[0], DAYS[-1], instance=instance, log_level="WARNING")
        assert result.success
        return time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.bench
def test_bench_s3_vs_local(tmp_path: Path) -> None:
    log = tmp_path / "moto.log"
    with running_moto(log) as endpoint:
        local = Lake(str(tmp_path / "lake"))
        sim = simulate_range(local, DAYS[0], DAYS[-1], n_tickers=N_TICKERS, seed=SEED)
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
        s3 = Lake(f"s3://{bucket}/prefix", endpoint_url=endpoint)
        inputs = local.cat_many(local.list(""))
        s3.write_many(inputs)

        out: dict[str, Any] = {
            "days": len(DAYS),
            "tickers": N_TICKERS,
            "trades": sim["trades"],
            "input_objects": len(inputs),
            "input_bytes": sum(len(b) for b in inputs.values()),
            "cpu_count": os.cpu_count(),
        }
        offset = _requests(log, 0)[1]
        for name, lake in (("local", local), ("s3", s3)):
            home = tmp_path / f"home-{name}"
            home.mkdir()
            run_env = {
                "ORDERFLOW_LAKE": lake.root,
                "ORDERFLOW_DUCKDB": str(tmp_path / f"{name}.duckdb"),
                "DAGSTER_HOME": str(home),
                "ORDERFLOW_S3_ENDPOINT_URL": endpoint if name == "s3" else "",
            }
            instance = DagsterInstance.ephemeral()
            for phase in ("full", "unchanged"):
                load = os.getloadavg()[0]
                seconds = _run(run_env, instance)
                out[f"{name}_{phase}_s"] = round(seconds, 2)
                out[f"{name}_{phase}_load1"] = round(load, 2)
                if name == "s3":
                    out[f"s3_{phase}_requests"], offset = _requests(log, offset)
            out[f"{name}_objects_after"] = len(lake.list(""))
            instance.dispose()
        out["ratio_full"] = round(out["s3_full_s"] / out["local_full_s"], 2)
        out["ratio_unchanged"] = round(out["s3_unchanged_s"] / out["local_unchanged_s"], 2)
        out["target_full"], out["target_unchanged"] = TARGET_FULL, TARGET_UNCHANGED
        out["met_full"] = out["ratio_full"] <= TARGET_FULL
        out["met_unchanged"] = out["ratio_unchanged"] <= TARGET_UNCHANGED
        out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    assert out["s3_unchanged_requests"].get("PUT", 0) == 0  # an unchanged re-run writes nothing
