"""First start of the sensors on an up-to-date lake requests 0 runs (issue 19).

The lake sensor's cursor is empty on a first `dagster dev` (or after a reset); it used to re-run
the newest dates although nothing changed. It now asks the layers' manifests: tape objects the
footprint manifest holds with the same fingerprints are built, and footprint files whose listing
digest the latest footprint_1m materialization recorded are loaded. Real layers, real instance."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import DagsterInstance, RunRequest, build_sensor_context

from assets.automation.sensors import lake_objects, summary_missing, warehouse_coverage
from assets.definitions import build_defs
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

WIB = timezone(timedelta(hours=7))
WED = date(2026, 2, 18)
TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
EVENING = datetime(2026, 2, 18, 18, 0, tzinfo=WIB)  # after the intraday schedule's window


def _requests(result: object) -> list[RunRequest]:
    return list(getattr(result, "run_requests", None) or [])


def test_first_start_on_an_up_to_date_lake_requests_nothing(
    env: dict[str, str], instance: DagsterInstance, real: Path
) -> None:
    lake = Lake(env["ORDERFLOW_LAKE"])
    lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    res = {"lake": LakeResource(root=lake.root), "settings": SettingsResource()}
    defs = build_defs()
    result = defs.resolve_job_def("intraday_job").execute_in_process(
        instance=instance, partition_key=WED.isoformat()
    )
    assert result.success

    def clock() -> datetime:
        return EVENING

    sensors = {
        "lake_sensor": lake_objects.build_lake_sensor(clock=clock),
        "coverage_sensor": warehouse_coverage.build_coverage_sensor(clock=clock),
        "summary_fallback_sensor": summary_missing.build_summary_fallback_sensor(clock=clock),
    }
    for name, sensor in sensors.items():  # a first start: no cursor
        assert _requests(sensor(build_sensor_context(instance=instance, resources=res))) == [], name

    lake_sensor = sensors["lake_sensor"]
    first = lake_sensor(build_sensor_context(instance=instance, resources=res))
    assert (
        _requests(lake_sensor(build_sensor_context(instance=instance, cursor=first.cursor, resources=res)))
        == []
    )

    # Negative controls: what the layers do not hold yet still runs, even on a first start.
    late = "raw_lt/2026/02/18/03/1771383600000_1.jsonl"  # 10:00 WIB, a new tape object
    lake.write_bytes(late, (real / TAPE_KEY).read_bytes().splitlines(keepends=True)[0])
    (req,) = _requests(lake_sensor(build_sensor_context(instance=instance, resources=res)))
    assert (req.job_name, req.partition_key) == ("intraday_job", WED.isoformat())
    lake.delete(late)
    assert _requests(lake_sensor(build_sensor_context(instance=instance, resources=res))) == []
    upstream = keys.footprint_key("ZZZZ9", datetime(2026, 2, 18, 3, tzinfo=timezone.utc))
    lake.write_bytes(
        upstream, lake.read_bytes(keys.footprint_key("BBCA", datetime(2026, 2, 18, 2, tzinfo=timezone.utc)))
    )
    (req,) = _requests(lake_sensor(build_sensor_context(instance=instance, resources=res)))
    assert (req.job_name, req.partition_key) == ("warehouse_summary_job", WED.isoformat())
