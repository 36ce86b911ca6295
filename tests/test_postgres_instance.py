"""The production Dagster instance (deploy/dagster.prod.yaml) on a real PostgreSQL (issue 20).

The server is Debian's PostgreSQL, started and stopped by the `postgres_server` fixture; the
instance's dagster.yaml is deploy/dagster.prod.yaml itself, copied byte for byte into a temp
DAGSTER_HOME with the DAGSTER_PG_* variables it references pointing at a fresh database — so what
ships is what runs here, and Dagster's own config validation loads it. On that instance:

- a multi-date backfill is ONE run (the project's single-run backfills) over a small simulated
  market; the run, its range tags and a materialization of every layer for every date are read
  back from Postgres tables with psycopg2, not only through Dagster's API;
- the sensors evaluated against that instance (their only memory of what ran is the Postgres
  event log) request nothing on the up-to-date lake, and a new tape object makes the lake sensor
  request exactly that date;
- the run coordinator is the queued one with the file's run and tag limits (and the daemon's tag
  counter, fed from the runs in Postgres, holds a second run of a date back while another date
  goes ahead), the pools have the file's default limit, and no pool slot is left held after the run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    build_sensor_context,
)
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from pgserver import PgServer

from assets.automation.sensors import lake_objects, summary_missing, warehouse_coverage
from assets.definitions import build_defs
from assets.resources import LakeResource, SettingsResource
from assets.runtime.owners import slot_holders
from assets.runtime.range_runs import materialize_range
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake

ROOT = Path(__file__).resolve().parents[1]
PROD_YAML = ROOT / "deploy" / "dagster.prod.yaml"
WIB = timezone(timedelta(hours=7))
# Three consecutive IDX sessions (Mon–Wed) × 6 tickers: enough for a range run, small enough to
# keep the test lean.
DAYS = idx_calendar.trading_days("2026-02-02", "2026-02-04")
N_TICKERS = 6
# Every partitioned layer `orderflow materialize` runs (raw_broksum fetches from IPOT: not in it).
LAYERS = ["footprint_ndjson", "footprint_1m", "daily_features", "footprint_summary"]


def pg_env(server: PgServer, db: str) -> dict[str, str]:
    """The DAGSTER_PG_* values deploy/dagster.prod.yaml reads, for database `db` on `server`."""
    return {
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USERNAME": server.user,
        "DAGSTER_PG_PASSWORD": "",  # trust auth on loopback (tests/pgserver.py)
        "DAGSTER_PG_DB": db,
    }


@pytest.fixture
def pg_instance(
    env: dict[str, str], postgres_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DagsterInstance, str]]:
    """DAGSTER_HOME/dagster.yaml = deploy/dagster.prod.yaml on a new database; (instance, its dsn)."""
    db = postgres_server.create_database("dagster")
    for name, value in pg_env(postgres_server, db).items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(PROD_YAML, Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    instance = DagsterInstance.get()  # loads and validates the file (DagsterInvalidConfigError)
    try:
        yield instance, postgres_server.dsn(db)
    finally:
        instance.dispose()


def _query(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        rows: list[tuple[Any, ...]] = cur.fetchall()
    conn.close()
    return rows


def _requests(result: object) -> list[RunRequest]:
    return list(getattr(result, "run_requests", None) or [])


def test_prod_instance_on_postgres_backfill_sensors_and_queue(
    env: dict[str, str], pg_instance: tuple[DagsterInstance, str], real: Path
) -> None:
    instance, dsn = pg_instance
    prod = yaml.safe_load(PROD_YAML.read_text())

    # (c) The file loads through Dagster's validation into Postgres storage and the queued
    # coordinator carrying the file's run and tag limits.
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == prod["concurrency"]["runs"]["max_concurrent_runs"]
    assert list(queue.tag_concurrency_limits) == prod["concurrency"]["runs"]["tag_concurrency_limits"]
    pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == prod["concurrency"]["pools"]["default_limit"] == 1
    assert pools.pool_granularity is not None
    assert pools.pool_granularity.value == prod["concurrency"]["pools"]["granularity"]

    # (a) A multi-date backfill as one run over a simulated market.
    lake = Lake(env["ORDERFLOW_LAKE"])
    simulate_range(lake, DAYS[0], DAYS[-1], n_tickers=N_TICKERS, seed=3)
    result = materialize_range(build_defs(), DAYS[0], DAYS[-1], instance=instance, log_level="WARNING")
    assert result.success
    run_id = result.run_id

    # Stored in Postgres: exactly one run, SUCCESS, tagged with the range.
    assert _query(dsn, "SELECT run_id, status FROM runs") == [(run_id, DagsterRunStatus.SUCCESS.value)]
    tags = dict(_query(dsn, "SELECT key, value FROM run_tags WHERE run_id = %s", run_id))
    assert tags[ASSET_PARTITION_RANGE_START_TAG] == DAYS[0].isoformat()
    assert tags[ASSET_PARTITION_RANGE_END_TAG] == DAYS[-1].isoformat()
    # A materialization of every layer for every date, in the Postgres event log.
    rows = _query(
        dsn,
        "SELECT DISTINCT asset_key, partition FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND run_id = %s",
        run_id,
    )
    expected = {(AssetKey(a).to_string(), d.isoformat()) for a in LAYERS for d in DAYS}
    assert expected <= set(rows), sorted(expected - set(rows))
    for layer in LAYERS:  # and Dagster reads the same back
        assert {d.isoformat() for d in DAYS} <= instance.get_materialized_partitions(AssetKey(layer))
    # The pools the run took are in Postgres with the file's limit, and nothing still holds one.
    storage = instance.event_log_storage
    assert {"duckdb_writer", "footprint_build"} <= storage.get_concurrency_keys()
    for pool in ("duckdb_writer", "footprint_build"):
        assert storage.get_concurrency_info(pool).slot_count == 1
    assert slot_holders(instance) == {}

    # (b) The sensors on this instance, at 18:00 WIB of the last day (after the intraday window):
    # the lake is up to date and the event log in Postgres says so, so none requests a run.
    last = DAYS[-1]
    evening = datetime(last.year, last.month, last.day, 18, 0, tzinfo=WIB)

    def clock() -> datetime:
        return evening

    res = {"lake": LakeResource(root=lake.root), "settings": SettingsResource()}
    sensors = {
        "lake_sensor": lake_objects.build_lake_sensor(clock=clock),
        "coverage_sensor": warehouse_coverage.build_coverage_sensor(clock=clock),
        "summary_fallback_sensor": summary_missing.build_summary_fallback_sensor(clock=clock),
    }
    for name, sensor in sensors.items():
        assert _requests(sensor(build_sensor_context(instance=instance, resources=res))) == [], name

    # Negative control: a tape object the footprint layer has not built -> that date, once.
    late = _late_tape_key(last)
    lake.write_bytes(late, _one_trade_line(lake, last))
    (req,) = _requests(sensors["lake_sensor"](build_sensor_context(instance=instance, resources=res)))
    assert (req.job_name, req.partition_key) == ("intraday_job", last.isoformat())

    # (c) What the queue would do with that request while another run of the same date is in
    # progress: the daemon's own tag counter (the one QueuedRunCoordinatorDaemon builds from the
    # in-progress runs it reads from run storage) holds it back; another date goes ahead.
    day_tags = {"dagster/partition": last.isoformat(), **req.tags}
    instance.add_run(DagsterRun(job_name="intraday_job", tags=day_tags, status=DagsterRunStatus.STARTED))
    in_progress = list(instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])))
    counter = TagConcurrencyLimitsCounter(list(queue.tag_concurrency_limits), in_progress)
    assert counter.is_blocked(DagsterRun(job_name="intraday_job", tags=day_tags))
    other = {"dagster/partition": DAYS[0].isoformat(), "orderflow/trigger": "lake_sensor"}
    assert not counter.is_blocked(DagsterRun(job_name="intraday_job", tags=other))


def _late_tape_key(d: date) -> str:
    """A raw tape key at 17:00 WIB of d (10:00 UTC), after the simulated session."""
    ms = int(datetime(d.year, d.month, d.day, 10, 0, tzinfo=timezone.utc).timestamp() * 1000)
    return f"raw_lt/{d:%Y/%m/%d}/10/{ms}_1.jsonl"


def _one_trade_line(lake: Lake, d: date) -> bytes:
    """The first line of one of the day's simulated tape objects (a valid trade of that day)."""
    key = sorted(lake.list(f"raw_lt/{d:%Y/%m/%d}/"))[0]
    return lake.read_bytes(key).splitlines(keepends=True)[0]
