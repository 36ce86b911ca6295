"""Schedules, sensors and the integrity report (SPEC §11, §12), driven at fixed WIB moments on a
real Dagster instance and real lakes (local folder and moto S3)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    MetadataValue,
    RunRequest,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)

from assets.automation import jobs, schedules
from assets.automation.sensors import (
    check_failures,
    data_freshness,
    lake_objects,
    summary_missing,
    warehouse_coverage,
)
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts
from orderflow_pipeline.config import Settings
from orderflow_pipeline.read.integrity import freshness_outcomes, integrity_report
from orderflow_pipeline.storage import inventory, keys
from orderflow_pipeline.storage.lake import Lake

ROOT = Path(__file__).resolve().parents[1]
JKT = ZoneInfo("Asia/Jakarta")
WIB = timezone(timedelta(hours=7))
WED = date(2026, 2, 18)  # a trading Wednesday; Mon 16 and Tue 17 Feb 2026 are IDX closures
CANDLE = b'{"t0":%d,"ohlc":{"o":100,"h":101,"l":99,"c":100},"vol":10,"delta":2,"levels":[{"p":100,"bv":6,"av":4}]}\n'


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=WIB)


def clock(t: datetime):  # noqa: ANN201
    return lambda: t


def raw_key(t: datetime, n: int = 1) -> str:
    """A tape object named like the feed's (epoch-ms of the write, '_', line count)."""
    u = t.astimezone(timezone.utc)
    return f"raw_lt/{u:%Y/%m/%d/%H}/{int(u.timestamp() * 1000)}_{n}.jsonl"


def put_footprint(lake: Lake, ticker: str, d: date, hour_wib: int = 9) -> str:
    hour = at(d, hour_wib)
    key = keys.footprint_key(ticker, hour)
    lake.write_bytes(key, CANDLE % int(hour.timestamp() * 1000))
    return key


def resources(lake: Lake, webhook: str | None = None, min_tickers: int = 200) -> dict[str, object]:
    endpoint = lake.fs.client_kwargs.get("endpoint_url") if lake.is_s3 else None
    return {
        "lake": LakeResource(root=lake.root, endpoint_url=endpoint),
        "settings": SettingsResource(alert_webhook=webhook, min_warehouse_tickers=min_tickers),
    }


def requests_of(result: object) -> list[RunRequest]:
    return list(getattr(result, "run_requests", None) or [])


# -- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [schedules.intraday_schedule, schedules.eod_features_schedule, schedules.final_summary_schedule],
)
def test_schedules_run_today_on_trading_days_only(schedule) -> None:  # noqa: ANN001
    def evaluate(t: datetime) -> object:
        return schedule(build_schedule_context(scheduled_execution_time=t))

    holiday = evaluate(datetime(2026, 2, 16, 10, 0, tzinfo=JKT))  # Monday, IDX closure
    assert isinstance(holiday, SkipReason) and "2026-02-16" in holiday.skip_message
    run = evaluate(datetime(2026, 2, 18, 10, 0, tzinfo=JKT))
    assert isinstance(run, RunRequest) and run.partition_key == "2026-02-18"
    assert isinstance(evaluate(datetime(2026, 2, 21, 10, 0, tzinfo=JKT)), SkipReason)  # Saturday
    # 23:30 UTC on the 17th is already 06:30 WIB on the 18th: the WIB date decides.
    late = evaluate(datetime(2026, 2, 17, 23, 30, tzinfo=timezone.utc))
    assert isinstance(late, RunRequest) and late.partition_key == "2026-02-18"
    assert schedule.execution_timezone == "Asia/Jakarta"


def test_intraday_crons_tick_every_minute_from_0900_to_1610() -> None:
    from dagster._utils.schedules import cron_string_iterator

    start = at(WED, 0).timestamp()
    ticks: set[datetime] = set()
    for cron in schedules.INTRADAY_CRONS:
        for t in cron_string_iterator(start, cron, "Asia/Jakarta"):
            if t.date() > WED:
                break
            ticks.add(t.astimezone(WIB).replace(tzinfo=None))
    times = sorted(ticks)
    # (16:10 - 09:00) / 1 min + 1 = 430 + 1 = 431 ticks (issue 18: the dashboard trails by a minute).
    assert len(times) == 431
    assert times[0].time().isoformat() == "09:00:00" and times[-1].time().isoformat() == "16:10:00"
    assert all((b - a) == timedelta(minutes=1) for a, b in zip(times, times[1:], strict=False))
    assert schedules.eod_features_schedule.cron_schedule == "30 18 * * 1-5"
    assert schedules.final_summary_schedule.cron_schedule == "45 18 * * 1-5"


# -- lake sensor -------------------------------------------------------------------------------


def test_lake_sensor_new_same_changed(any_lake: Lake, instance: DagsterInstance, real: Path) -> None:
    sensor = lake_objects.build_lake_sensor(clock=clock(at(WED, 18)))  # after the intraday schedule's window
    res = resources(any_lake)

    def tick(cursor: str | None, sensor=sensor) -> object:  # noqa: ANN001
        return sensor(build_sensor_context(instance=instance, cursor=cursor, resources=res))

    empty = tick(None)
    assert requests_of(empty) == []

    tape = (real / "raw_lt/2026/02/18/02/1771380009443_386.jsonl").read_bytes()
    key = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"  # 02 UTC = 09 WIB on the 18th
    any_lake.write_bytes(key, tape)
    first = tick(empty.cursor)
    (req,) = requests_of(first)
    assert req.partition_key == "2026-02-18" and req.job_name == "intraday_job"
    assert req.run_key.startswith("lake:2026-02-18:raw:")

    assert requests_of(tick(first.cursor)) == []  # the same files never run twice

    any_lake.write_bytes(key, tape + tape.splitlines(keepends=True)[0])  # replaced object (a replay line)
    changed = tick(first.cursor)
    (req2,) = requests_of(changed)
    assert req2.partition_key == "2026-02-18" and req2.run_key != req.run_key

    # Footprint files landed upstream for a previous session (no tape): warehouse + summary only.
    put_footprint(any_lake, "BBRI", date(2026, 2, 13))
    landed = tick(changed.cursor)
    (req3,) = requests_of(landed)
    assert (req3.partition_key, req3.job_name) == ("2026-02-13", "warehouse_summary_job")
    assert req3.run_key.startswith("lake:2026-02-13:fp:")
    assert requests_of(tick(landed.cursor)) == []
    # Dates outside the watched window (today + 3 sessions) are ignored: 2026-02-10 is the 4th.
    put_footprint(any_lake, "BBRI", date(2026, 2, 10))
    assert requests_of(tick(landed.cursor)) == []

    # During the intraday window the schedule runs today: today's new tape is only remembered,
    # while a late object for a previous session still runs.
    in_window = lake_objects.build_lake_sensor(clock=clock(at(WED, 10)))
    any_lake.write_bytes(raw_key(at(WED, 9, 59)), tape)
    put_footprint(any_lake, "TLKM", date(2026, 2, 12))
    during = tick(landed.cursor, in_window)
    assert [(r.partition_key, r.job_name) for r in requests_of(during)] == [
        ("2026-02-12", "warehouse_summary_job")
    ]
    assert requests_of(tick(during.cursor)) == []  # 18:00: today's 09:59 tape was already seen


# -- coverage sensor ----------------------------------------------------------------------------


def report_warehouse(instance: DagsterInstance, d: date, metadata: dict) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=AssetKey(jobs.WAREHOUSE), partition=d.isoformat(), metadata=metadata)
    )


def test_coverage_sensor_requests_a_lake_rebuild_when_the_warehouse_is_sparse(
    local_lake: Lake, instance: DagsterInstance
) -> None:
    for t in ("AAAA", "BBBB", "CCCC", "DDDD", "EEEE"):
        put_footprint(local_lake, t, WED)
    sensor = warehouse_coverage.build_coverage_sensor(clock=clock(at(WED, 10)))
    res = resources(local_lake)

    def tick(cursor: str | None = None) -> object:
        return sensor(build_sensor_context(instance=instance, cursor=cursor, resources=res))

    # The warehouse asset reported 3 tickers for the 18th (from its materialization metadata,
    # not from DuckDB); the lake has 5.
    report_warehouse(instance, WED, {"tickers": 3})
    result = tick()
    (req,) = requests_of(result)
    assert (req.partition_key, req.job_name) == ("2026-02-18", "warehouse_summary_job")
    assert req.run_config == {"ops": {"footprint_summary": {"config": {"source": "lake"}}}}
    assert req.tags["orderflow/warehouse_tickers"] == "3" and req.tags["orderflow/lake_tickers"] == "5"
    assert requests_of(tick(result.cursor)) == []  # one request per state, not one per tick

    # Healed: the latest materialization reports all 5. A range run reports `tickers` of its
    # newest date; the per-date entry is the one for this partition (footprint_1m's metadata shape).
    report_warehouse(
        instance,
        WED,
        {
            "tickers": 40,
            "per_date": MetadataValue.json(
                {"2026-02-13": {"tickers": 40, "rows": 9}, "2026-02-18": {"tickers": 5, "rows": 5}}
            ),
        },
    )
    assert requests_of(tick(result.cursor)) == []
    # A new ticker lands while a run for the date is queued or running: that run's own
    # warehouse step will report it, so no heal yet; once no run is in flight, heal.
    put_footprint(local_lake, "FFFF", WED)
    instance.add_run(
        DagsterRun(
            job_name="intraday_job",
            run_id="inflight-1",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": "2026-02-18"},
        )
    )
    busy = tick(result.cursor)
    assert isinstance(busy, SkipReason) and "in progress" in busy.skip_message
    instance.report_run_failed(instance.get_run_by_id("inflight-1"))
    (req_f,) = requests_of(tick(result.cursor))
    assert (req_f.tags["orderflow/warehouse_tickers"], req_f.tags["orderflow/lake_tickers"]) == ("5", "6")
    # A holiday or a Saturday: nothing to check.
    for day in (date(2026, 2, 16), date(2026, 2, 21)):
        s = warehouse_coverage.build_coverage_sensor(clock=clock(at(day, 10)))
        assert requests_of(s(build_sensor_context(instance=instance, resources=res))) == []


def test_coverage_sensor_without_any_materialization_heals(
    local_lake: Lake, instance: DagsterInstance
) -> None:
    put_footprint(local_lake, "AAAA", WED)
    sensor = warehouse_coverage.build_coverage_sensor(clock=clock(at(WED, 10)))
    (req,) = requests_of(sensor(build_sensor_context(instance=instance, resources=resources(local_lake))))
    assert req.tags["orderflow/warehouse_tickers"] == "0"


# -- summary fallback sensor --------------------------------------------------------------------


def test_summary_fallback_sensor_rebuilds_the_newest_date_with_data(
    local_lake: Lake, instance: DagsterInstance
) -> None:
    sensor = summary_missing.build_summary_fallback_sensor(clock=clock(at(WED, 10)))
    res = resources(local_lake)

    def tick(cursor: str | None = None) -> object:
        return sensor(build_sensor_context(instance=instance, cursor=cursor, resources=res))

    assert requests_of(tick()) == []  # nothing anywhere in 7 sessions
    put_footprint(local_lake, "BBRI", WED)  # today's data is the intraday schedule's job at 10:00
    put_footprint(local_lake, "BBRI", date(2026, 2, 12))
    put_footprint(local_lake, "BBRI", date(2026, 2, 13))
    result = tick()
    (req,) = requests_of(result)
    assert (
        req.partition_key == "2026-02-13" and req.job_name == "intraday_job"
    )  # newest data, holidays skipped
    assert requests_of(tick(result.cursor)) == []
    # An L0 cache with NO_DATA / no items still counts as missing.
    local_lake.write_json(keys.SUMMARY_LATEST, {"status": "NO_DATA", "date": "2026-02-18", "items": []})
    assert len(requests_of(tick())) == 1
    local_lake.write_json(
        keys.SUMMARY_LATEST, {"status": "OK", "date": "2026-02-13", "items": [{"t": "BBRI"}]}
    )
    assert requests_of(tick()) == []
    # After the intraday window today itself is the newest date with data.
    evening = summary_missing.build_summary_fallback_sensor(clock=clock(at(WED, 17)))
    local_lake.delete(keys.SUMMARY_LATEST)
    (late,) = requests_of(evening(build_sensor_context(instance=instance, resources=res)))
    assert late.partition_key == "2026-02-18"
    # Not a trading day: no rebuild.
    sat = summary_missing.build_summary_fallback_sensor(clock=clock(at(date(2026, 2, 21), 10)))
    local_lake.delete(keys.SUMMARY_LATEST)
    assert requests_of(sat(build_sensor_context(instance=instance, resources=res))) == []


# -- freshness sensor ---------------------------------------------------------------------------


class Receiver:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.messages.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def write_summary(lake: Lake, d: date, generated: datetime) -> None:
    gen = generated.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lake.write_json(
        keys.summary_key(d),
        {"status": "OK", "date": d.isoformat(), "generated_at": gen, "items": [{"t": "BBRI"}]},
    )


def test_freshness_sensor_alerts_once_on_a_stale_summary_in_market_hours(
    local_lake: Lake, instance: DagsterInstance, receiver: Receiver
) -> None:
    write_summary(local_lake, WED, at(WED, 9, 40))  # 20 min old at 10:00
    local_lake.write_bytes(raw_key(at(WED, 9, 55)), b"")  # tape 5 min behind: fine
    res = resources(local_lake, webhook=receiver.url)
    sensor = data_freshness.build_freshness_sensor(clock=clock(at(WED, 10)))
    for _ in range(3):  # three ticks, one problem
        sensor(build_sensor_context(instance=instance, resources=res))
    assert len(receiver.messages) == 1
    msg = receiver.messages[0]
    assert (msg["kind"], msg["key"]) == ("stale:summary_fresh", "2026-02-18")
    assert msg["payload"]["check"]["metadata"]["age_seconds"] == 20 * 60

    # Outside market hours nothing is checked, even though the summary is hours old.
    for t in (at(WED, 19), at(WED, 8, 30), at(date(2026, 2, 21), 10)):
        out = data_freshness.build_freshness_sensor(clock=clock(t))(
            build_sensor_context(instance=instance, resources=res)
        )
        assert isinstance(out, SkipReason) and "outside market hours" in out.skip_message
    assert len(receiver.messages) == 1

    # Recovers (fresh summary at 10:05), then goes stale again at 10:30: a new alert.
    write_summary(local_lake, WED, at(WED, 10, 4))
    data_freshness.build_freshness_sensor(clock=clock(at(WED, 10, 5)))(
        build_sensor_context(instance=instance, resources=res)
    )
    data_freshness.build_freshness_sensor(clock=clock(at(WED, 10, 30)))(
        build_sensor_context(instance=instance, resources=res)
    )
    kinds = [m["kind"] for m in receiver.messages]
    assert kinds.count("stale:summary_fresh") == 2


def test_freshness_sensor_alerts_on_tape_lag(
    s3_lake: Lake, instance: DagsterInstance, receiver: Receiver
) -> None:
    write_summary(s3_lake, WED, at(WED, 9, 58))  # fresh
    s3_lake.write_bytes(raw_key(at(WED, 9, 30)), b"")  # newest tape 09:30 -> 30 min lag at 10:00
    data_freshness.build_freshness_sensor(clock=clock(at(WED, 10)))(
        build_sensor_context(instance=instance, resources=resources(s3_lake, webhook=receiver.url))
    )
    assert [m["kind"] for m in receiver.messages] == ["stale:raw_tape_lag"]
    assert receiver.messages[0]["payload"]["check"]["metadata"]["lag_seconds"] == 30 * 60


def test_freshness_rules_respect_the_session_clock(local_lake: Lake) -> None:
    def outcome(now: datetime) -> dict[str, bool]:
        return {o.name: o.passed for o in freshness_outcomes(local_lake, WED, now)}

    # No summary of today, 09:05: 5 minutes into the session -> still fine; 09:20 -> stale.
    assert outcome(at(WED, 9, 5))["summary_fresh"] is True
    assert outcome(at(WED, 9, 20))["summary_fresh"] is False
    # Tape last seen 11:59; the afternoon session opens 13:30: at 13:40 the lag counts from 13:30.
    local_lake.write_bytes(raw_key(at(WED, 11, 59)), b"")
    assert outcome(at(WED, 13, 40))["raw_tape_lag"] is True
    assert outcome(at(WED, 13, 55))["raw_tape_lag"] is False  # 25 min since the session opened
    assert outcome(at(WED, 12, 45))["raw_tape_lag"] is True  # lunch break: not applicable
    # Another date than today is never stale.
    assert all(o.passed for o in freshness_outcomes(local_lake, date(2026, 2, 13), at(WED, 10)))


# -- integrity report ---------------------------------------------------------------------------


def test_integrity_report_never_crashes_and_reports_cross_cutting_checks(tmp_path: Path) -> None:
    s = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'missing.duckdb'}")
    report = integrity_report(s, "2026-02-18", now=at(WED, 10))
    assert report["date"] == "2026-02-18" and report["warehouse"] == "missing"
    names = {c["name"]: c for c in report["checks"]}
    assert names["context_prev_session"]["passed"] is False
    assert names["context_prev_session"]["metadata"]["prev_session"] == "2026-02-13"
    assert names["summary_fresh"]["passed"] is False  # 60 min into the session without a summary
    assert report["status"] in {"WARN", "ERROR"}
    json.dumps(report)  # JSON-ready
    # Context of the previous session present in the lake -> that check passes.
    Lake(s.lake).write_json(keys.zscore_daily_key("2026-02-13"), [])
    again = integrity_report(s, "2026-02-18", now=at(WED, 10))
    assert {c["name"]: c["passed"] for c in again["checks"]}["context_prev_session"] is True


# -- the workspace -------------------------------------------------------------------------------


def test_workspace_yaml_loads_the_reviewed_code_location() -> None:
    """workspace.yaml (what `dagster dev` and the daemon load) names the code location whose
    assets, checks, jobs, schedules and sensors are exactly the reviewed snapshot."""
    import importlib

    from test_definitions import ASSETS, CHECKS, JOBS, SCHEDULES, SENSORS, snapshot

    spec = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    defs = getattr(importlib.import_module(spec["module_name"]), spec["attribute"])
    expected = {"assets": ASSETS, "checks": CHECKS, "jobs": JOBS, "schedules": SCHEDULES, "sensors": SENSORS}
    assert snapshot(defs) == expected


def test_orderflow_check_cli_prints_the_report_and_exits_1_on_error(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from orderflow_pipeline.cli import main

    rc = main(["check", "--date", "2026-02-18"])
    report = json.loads(capsys.readouterr().out)
    assert report["date"] == "2026-02-18"
    # An empty lake: "the lake has no footprint files" is an ERROR check (SPEC §11) -> exit 1.
    failed_errors = [c["name"] for c in report["checks"] if not c["passed"] and c["severity"] == "ERROR"]
    assert failed_errors and report["status"] == "ERROR" and rc == 1
    assert {"context_prev_session", "summary_fresh", "raw_tape_lag"} <= {c["name"] for c in report["checks"]}


def test_sensor_requests_run_through_the_real_layers(
    env: dict[str, str], instance: DagsterInstance, real: Path
) -> None:
    """Lake sensor -> intraday run; an upstream ticker the warehouse lacks -> coverage sensor ->
    source=lake run that heals the warehouse -> coverage satisfied (read from real metadata)."""
    from assets.definitions import build_defs

    lake = Lake(env["ORDERFLOW_LAKE"])
    key = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
    lake.write_bytes(key, (real / key).read_bytes())
    defs = build_defs()
    res = {"lake": LakeResource(root=lake.root), "settings": SettingsResource()}

    def run(req: RunRequest) -> None:
        job = defs.resolve_job_def(req.job_name)
        result = job.execute_in_process(
            instance=instance, partition_key=req.partition_key, run_config=req.run_config, tags=req.tags
        )
        assert result.success

    (req,) = requests_of(
        lake_objects.build_lake_sensor(clock=clock(at(WED, 18)))(
            build_sensor_context(instance=instance, resources=res)
        )
    )
    run(req)
    lake_tickers = len(inventory.footprint_tickers(inventory.footprint_objects(lake, WED)))
    assert warehouse_coverage.warehouse_tickers_reported(instance, WED) == lake_tickers > 50

    coverage = warehouse_coverage.build_coverage_sensor(clock=clock(at(WED, 10)))
    assert requests_of(coverage(build_sensor_context(instance=instance, resources=res))) == []
    put_footprint(lake, "ZZZZ9", WED)  # a ticker landed upstream after the run
    (heal,) = requests_of(coverage(build_sensor_context(instance=instance, resources=res)))
    assert heal.run_config == {"ops": {"footprint_summary": {"config": {"source": "lake"}}}}
    run(heal)
    doc = lake.read_json(keys.summary_key(WED))
    assert doc["source"] == "lake" and "ZZZZ9" in {i["t"] for i in doc["items"]}
    assert warehouse_coverage.warehouse_tickers_reported(instance, WED) == lake_tickers + 1
    assert requests_of(coverage(build_sensor_context(instance=instance, resources=res))) == []

    # The runs evaluated the cross-cutting checks; no daily_features exist for 13 Feb, so the
    # WARN check context_prev_session failed -> the check sensor raises one alert for it.
    check_failures.build_check_alert_sensor()(build_sensor_context(instance=instance, resources=res))
    state = lake.read_json(alerts.STATE_KEY)
    assert "check_failed|footprint_summary:context_prev_session:2026-02-18" in state
    assert "check_failed|footprint_summary:summary_has_items:2026-02-18" not in state  # it passed


def test_a_crashing_layer_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orderflow_pipeline.layers.summary import build as summary

    def broken(*args: object) -> list:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(summary, "checks", broken)  # fault injection: a bug in one layer
    s = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'missing.duckdb'}")
    report = integrity_report(s, "2026-02-18", now=at(WED, 19))
    crashed = [c for c in report["checks"] if c["name"] == "summary_checks_ran"]
    assert crashed and crashed[0]["severity"] == "ERROR" and "disk on fire" in crashed[0]["description"]
    assert report["status"] == "ERROR"
    assert any(c["asset"] == "footprint_ndjson" for c in report["checks"])  # the other layers still ran


def test_tape_time_from_the_name_or_else_the_object_mtime(local_lake: Lake) -> None:
    import os

    from orderflow_pipeline.read.integrity import tape_latest

    assert tape_latest(local_lake, WED) is None
    local_lake.write_bytes(raw_key(at(WED, 9, 12)), b"")
    local_lake.write_bytes(raw_key(at(WED, 9, 7)), b"")
    assert tape_latest(local_lake, WED) == at(WED, 9, 12)  # newest name wins, whatever the mtime
    # A capture that names objects differently: the modification time tells.
    key = "raw_lt/2026/02/18/03/capture-a.jsonl"  # 03 UTC = 10 WIB, a newer hour folder
    local_lake.write_bytes(key, b"")
    os.utime(local_lake.path(key), (at(WED, 10, 3).timestamp(), at(WED, 10, 3).timestamp()))
    assert tape_latest(local_lake, WED) == at(WED, 10, 3)


def test_glob_listing_agrees_with_the_warehouse_listing(any_lake: Lake) -> None:
    """A plain glob of the date's two UTC day folders (an independent oracle) sees the same
    objects and fingerprints as the shared listing every layer uses."""
    from orderflow_pipeline.storage.inventory import footprint_objects

    def glob_listing(lake: Lake, d: date) -> dict[str, object]:
        hours = set(keys.footprint_hours_utc(d))
        # a WIB date spans two UTC day folders (17:00 UTC the day before to 16:59 UTC)
        days = sorted({f"{h:%Y/%m/%d}" for h in hours})
        found = [k for day in days for k in lake.glob(f"footprint/*/1m/{day}/*.jsonl")]
        return {
            k: lake.info(k)
            for k in sorted(found)
            if keys.FOOTPRINT_KEY_RE.match(k) and keys.parse_footprint_key(k)[1] in hours
        }

    for t in ("BBRI", "TLKM"):
        put_footprint(any_lake, t, WED, 9)
        put_footprint(any_lake, t, WED, 14)
    put_footprint(any_lake, "BBRI", date(2026, 2, 13))  # another date: not listed
    # 06:00 WIB on the 18th is 23:00 UTC on the 17th: a WIB date spans two UTC day folders.
    put_footprint(any_lake, "ASII", WED, 6)
    assert any(k.startswith("footprint/ASII/1m/2026/02/17/23") for k in any_lake.list("footprint/ASII/"))
    listed = footprint_objects(any_lake, WED)
    assert listed == glob_listing(any_lake, WED)
    assert len(listed) == 5 and {keys.parse_footprint_key(k)[0] for k in listed} == {"BBRI", "TLKM", "ASII"}
