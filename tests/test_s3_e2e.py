"""S3 end to end (issue 20): the same simulated market in a local lake and in a moto S3 lake, the
whole pipeline through Dagster, the sensors and the API on each — the outputs must be equal.

What "equal" means, and why some fields are left out:
- every lake object's bytes, except wall-clock stamps (`generated_at` of the summaries, whose
  run-to-run difference is time, not data) and object fingerprints: a local lake fingerprints an
  object by mtime, S3 by ETag (`lake.ObjectInfo`), so the footprint manifest's `fp` per tape
  object differs by design. Those fields are blanked on both sides; everything else must match
  byte for byte, and the set of keys must be the same;
- every warehouse table, row for row, except the columns that hold those same fingerprints,
  listing digests and load times;
- the sensors' run requests (job, partition, tags; the digest in a run key is a fingerprint
  digest, compared as its shape) before and after the pipeline;
- the API's responses (summary, minute history with footprints, range, features-backed endpoints).

Then an unchanged re-run on S3 writes nothing — every object keeps its ETag and LastModified — and
its layers report 0 objects read. Lean on purpose (3 days x 12 tickers): `make test` runs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from conftest import make_s3_lake
from dagster import DagsterInstance, RunRequest, build_sensor_context
from fastapi.testclient import TestClient

from assets.automation.sensors import (
    capture_heartbeat,
    data_freshness,
    lake_objects,
    signal_alerts,
    summary_missing,
    warehouse_coverage,
)
from assets.definitions import build_defs
from assets.resources import build_resources
from assets.runtime.range_runs import materialize_range
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api.app import create_app
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.layers.summary.build import summary_from_lake
from orderflow_pipeline.storage.keys import summary_key
from orderflow_pipeline.storage.lake import Lake, dumps

DAYS = idx_calendar.trading_days("2026-02-09", "2026-02-13")[:3]
N_TICKERS, SEED = 12, 5
WIB = timezone(timedelta(hours=7))
EVENING = datetime.combine(DAYS[-1], datetime.min.time(), WIB).replace(hour=18)  # after the close

# Wall-clock stamps and fingerprints (see the module docstring), blanked before comparing.
_STAMPS = re.compile(rb'"(generated_at|checked_at|sent_at|fp)":("[^"\\]*"|null|\d+)')
# Warehouse columns (schema.py) that hold an object fingerprint (mtime vs ETag), a run id, a wall
# clock time, or run metadata carrying durations.
_VOLATILE_COLUMNS = {
    "etag_or_mtime",  # ingest_manifest
    "loaded_at",
    "fingerprint",  # broker_daily
    "parsed_at",
    "created_at",  # daily_features
    "updated_at",  # universe
    "run_id",  # ingest_runs
    "started_at",
    "finished_at",
    "metadata_json",
}


@dataclass
class Side:
    name: str
    lake: Lake
    env: dict[str, str]
    instance: DagsterInstance


def _blank(body: bytes) -> bytes:
    return _STAMPS.sub(rb'"\1":"-"', body)


def _objects(lake: Lake) -> dict[str, bytes]:
    keys = lake.list("")
    return {k: _blank(v) for k, v in sorted(lake.cat_many(keys).items())}


def _tables(path: str) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with duckdb.connect(path, read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        for name in sorted(names):
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "ORDER BY ordinal_position",
                    [name],
                ).fetchall()
                if r[0] not in _VOLATILE_COLUMNS
            ]
            sel = ", ".join(f'"{c}"' for c in cols)
            out[name] = con.execute(f'SELECT {sel} FROM "{name}" ORDER BY ALL').fetchall()
    return out


def _requests(result: Any) -> list[tuple[str | None, str | None, str, dict[str, str]]]:
    reqs: list[RunRequest] = list(getattr(result, "run_requests", None) or [])
    # a run key's digest is over fingerprints (mtime vs ETag): compare its shape, not its value
    return sorted(
        (r.job_name, r.partition_key, re.sub(r"[0-9a-f]{16}", "<digest>", r.run_key or ""), dict(r.tags))
        for r in reqs
    )


def _sensors(side: Side, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for k, v in side.env.items():
        monkeypatch.setenv(k, v)
    resources = build_resources(get_settings())

    def clock() -> datetime:
        return EVENING

    sensors = {
        "lake_sensor": lake_objects.build_lake_sensor(clock=clock),
        "coverage_sensor": warehouse_coverage.build_coverage_sensor(clock=clock),
        "summary_fallback_sensor": summary_missing.build_summary_fallback_sensor(clock=clock),
        "freshness_sensor": data_freshness.build_freshness_sensor(clock=clock),
        "signal_alert_sensor": signal_alerts.build_signal_alert_sensor(clock=clock),
        "capture_heartbeat_sensor": capture_heartbeat.build_capture_heartbeat_sensor(clock=clock),
    }
    out: dict[str, Any] = {}
    for name, sensor in sensors.items():
        result = sensor(build_sensor_context(instance=side.instance, resources=resources))
        out[name] = _requests(result)
    return out


def _run(side: Side, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Every layer through Dagster, as `orderflow materialize` runs them; per asset, the
    materializations' numeric metadata summed over dates."""
    for k, v in side.env.items():
        monkeypatch.setenv(k, v)
    result = materialize_range(build_defs(), DAYS[0], DAYS[-1], instance=side.instance, log_level="WARNING")
    assert result.success
    meta: dict[str, dict[str, Any]] = {}
    for mat in result.get_asset_materialization_events():
        m = mat.step_materialization_data.materialization
        per = meta.setdefault(m.asset_key.to_user_string(), {})
        for k, v in m.metadata.items():
            val = getattr(v, "value", v)
            # counts only: float metadata are durations (seconds), wall clock
            if isinstance(val, int) and not isinstance(val, bool):
                per[k] = per.get(k, 0) + val
    return meta


def _api(side: Side, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for k, v in side.env.items():
        monkeypatch.setenv(k, v)
    client = TestClient(create_app(get_settings(), summary_ttl=0.0, clock=lambda: EVENING))
    d0, d1 = DAYS[0].isoformat(), DAYS[-1].isoformat()
    summary = client.get("/footprint/summary", params={"date": d1})
    assert summary.status_code == 200, summary.text
    ticker = summary.json()["items"][0]["t"]
    paths: dict[str, dict[str, Any]] = {
        "summary": {"date": d1},
        "summary_latest": {},
        "range": {"from": d0, "to": d1},
        "raw_hist": {"kode": ticker, "date": d1, "bar": 5},
        "profile": {"kode": ticker, "from": d0, "to": d1},
        "coverage": {"date": d1},
        "signal": {"kode": ticker, "date": d1},
        "broker_range": {"symbol": ticker, "start": d0, "end": d1},
        "integrity": {"date": d1},
    }
    urls = {
        "summary": "/footprint/summary",
        "summary_latest": "/footprint/summary",
        "range": "/footprint/range",
        "raw_hist": "/footprint-raw-hist",
        "profile": "/footprint/profile",
        "coverage": "/diag/coverage",
        "signal": "/signal",
        "broker_range": "/range",
        "integrity": "/integrity",
    }
    out: dict[str, Any] = {}
    for name, params in paths.items():
        r = client.get(urls[name], params=params)
        assert r.status_code == 200, (name, r.status_code, r.text[:500])
        out[name] = json.loads(_blank(r.content))
    return out


def _s3_state(lake: Lake) -> dict[str, tuple[str, str]]:
    """(ETag, LastModified) of every object, straight from the store."""
    bucket, _, prefix = lake.root[len("s3://") :].partition("/")
    client = boto3.client("s3", endpoint_url=lake.fs.client_kwargs["endpoint_url"], region_name="us-east-1")
    out: dict[str, tuple[str, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["ETag"], o["LastModified"].isoformat())
    return out


@pytest.fixture
def sides(tmp_path: Path, moto_server: str) -> Iterator[tuple[Side, Side]]:
    from orderflow_pipeline.simulator import simulate_range

    made: list[Side] = []
    for name in ("local", "s3"):
        lake = Lake(str(tmp_path / "lake")) if name == "local" else make_s3_lake(moto_server)
        simulate_range(lake, DAYS[0], DAYS[-1], n_tickers=N_TICKERS, seed=SEED)
        home = tmp_path / f"home-{name}"
        home.mkdir()
        env = {
            "ORDERFLOW_LAKE": lake.root,
            "ORDERFLOW_DUCKDB": str(tmp_path / f"{name}.duckdb"),
            "DAGSTER_HOME": str(home),
            "ORDERFLOW_S3_ENDPOINT_URL": moto_server if name == "s3" else "",  # empty = unset
        }
        made.append(Side(name, lake, env, DagsterInstance.ephemeral()))
    local, s3 = made
    try:
        yield local, s3
    finally:
        for side in made:
            side.instance.dispose()


def test_s3_lake_gives_the_local_lake_outputs(
    sides: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, s3 = sides
    # The simulator wrote the same market into both lakes.
    assert _objects(local.lake) == _objects(s3.lake)

    before = {side.name: _sensors(side, monkeypatch) for side in sides}
    assert before["local"] == before["s3"]
    assert before["s3"]["lake_sensor"], "raw tape not built yet: the lake sensor must request runs"

    meta = {side.name: _run(side, monkeypatch) for side in sides}
    assert meta["local"] == meta["s3"]

    lake_local, lake_s3 = _objects(local.lake), _objects(s3.lake)
    assert sorted(lake_local) == sorted(lake_s3)
    differ = [k for k in lake_local if lake_local[k] != lake_s3[k]]
    assert not differ, differ[:10]

    assert _tables(local.env["ORDERFLOW_DUCKDB"]) == _tables(s3.env["ORDERFLOW_DUCKDB"])

    after = {side.name: _sensors(side, monkeypatch) for side in sides}
    assert after["local"] == after["s3"]

    # The summaries equal what the lake's files give when read (the lake path may answer from
    # a warehouse that holds exactly those files: summary._warehouse_holds_lake).
    for side in sides:
        with duckdb.connect(side.env["ORDERFLOW_DUCKDB"], read_only=True) as con:
            for d in DAYS:
                stored = side.lake.read_bytes(summary_key(d))
                assert _blank(stored) == _blank(dumps(summary_from_lake(side.lake, d, con))), (side.name, d)

    api = {side.name: _api(side, monkeypatch) for side in sides}
    for name in api["local"]:
        assert api["local"][name] == api["s3"][name], name

    # An unchanged re-run on S3 writes nothing and reads no object.
    state = _s3_state(s3.lake)
    rerun = _run(s3, monkeypatch)
    assert _s3_state(s3.lake) == state
    read = {f"{a}.{k}": v for a, m in rerun.items() for k, v in m.items() if "read" in k and v}
    assert not read, read
