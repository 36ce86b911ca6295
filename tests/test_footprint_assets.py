"""The footprint_ndjson asset on a real Dagster instance: metadata and asset-check results."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, DagsterInstance, materialize

from assets.layers.footprint import footprint_ndjson
from assets.resources import LakeResource
from orderflow_pipeline.storage.lake import Lake

TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"


def _checks(result) -> dict[str, object]:  # noqa: ANN001 - ExecuteInProcessResult
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_materialize_partition_with_metadata_and_checks(
    env: dict[str, str], instance: DagsterInstance, real: Path
) -> None:
    lake = Lake(env["ORDERFLOW_LAKE"])
    lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    resources = {"lake": LakeResource(root=env["ORDERFLOW_LAKE"])}
    result = materialize(
        [footprint_ndjson], partition_key="2026-02-18", resources=resources, instance=instance
    )
    assert result.success
    mat = result.asset_materializations_for_node("footprint_ndjson")[0]
    md = {k: v.value for k, v in mat.metadata.items()}
    # 386 lines = 386 trades in 94 ticker candles: 385 + the PJHB-W warrant (SPEC §7 admits `-W`
    # codes), which used to be quarantined as a bad ticker; nothing neutral
    assert (md["tape_objects_read"], md["trades"], md["tickers"], md["candles_written"]) == (1, 386, 94, 94)
    assert (md["quarantined"], md["neutral_share"]) == (0, 0.0)
    assert mat.partition == "2026-02-18"
    checks = _checks(result)
    assert checks["footprint_files_exist"].passed
    assert checks["footprint_quarantine_empty"].passed  # the warrant line is a trade now
    assert checks["footprint_completeness"].passed  # one minute of tape: nobody traded all session
    ev = instance.get_latest_materialization_event(AssetKey("footprint_ndjson"))
    assert ev is not None and ev.asset_materialization is not None

    again = materialize(
        [footprint_ndjson], partition_key="2026-02-18", resources=resources, instance=instance
    )
    md2 = {
        k: v.value for k, v in again.asset_materializations_for_node("footprint_ndjson")[0].metadata.items()
    }
    assert (md2["tape_objects_read"], md2["hour_files_written"], md2["quarantined"]) == (0, 0, 0)


def test_no_files_fails_the_blocking_error_check(env: dict[str, str], instance: DagsterInstance) -> None:
    resources = {"lake": LakeResource(root=env["ORDERFLOW_LAKE"])}
    result = materialize(
        [footprint_ndjson],
        partition_key="2026-02-19",
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    checks = _checks(result)
    assert not checks["footprint_files_exist"].passed
    assert checks["footprint_files_exist"].severity.value == "ERROR"
    assert not result.success  # blocking: the step fails so downstream layers do not run


def test_single_run_backfill_over_two_dates(
    env: dict[str, str], instance: DagsterInstance, real: Path
) -> None:
    # BackfillPolicy.single_run(): one run, the asset loops over both partition keys
    from assets.definitions import build_defs
    from assets.runtime.range_runs import materialize_range

    lake = Lake(env["ORDERFLOW_LAKE"])
    body = (real / TAPE_KEY).read_bytes()
    lake.write_bytes(TAPE_KEY, body)
    # same minute, next day, plus one bad line (a lower-case ticker) so only the 19th quarantines
    bad = b'{"raw":"B|090005|0|pjhb|RG|1|67|1|--|-|--|-|67|7|00|0|1|66|0|1"}\n'
    lake.write_bytes(TAPE_KEY.replace("2026/02/18", "2026/02/19"), body + bad)
    result = materialize_range(
        build_defs(), "2026-02-18", "2026-02-19", instance=instance, asset_keys=["footprint_ndjson"]
    )
    assert result.success
    mats = result.asset_materializations_for_node("footprint_ndjson")
    assert sorted(m.partition for m in mats) == ["2026-02-18", "2026-02-19"]
    for m in mats:  # each date its own: 385 trades + PJHB-W, not the run's 2 x 386
        md = {k: v.value for k, v in m.metadata.items()}
        assert (md["trades"], md["candles_written"], md["quarantined"]) == (
            386,
            94,
            int(m.partition == "2026-02-19"),
        )
    assert lake.exists("footprint/BBCA/1m/2026/02/19/02.jsonl")
    checks = _checks(result)
    assert checks["footprint_files_exist"].passed
    assert checks["footprint_quarantine_empty"].metadata["dates_failed"].value == ["2026-02-19"]
