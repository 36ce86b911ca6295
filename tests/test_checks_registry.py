"""Check names and severities are declared once (orderflow_pipeline.checks.REGISTRY) and the
layers emit exactly those: every layer is run on the real fixtures (tape of 18 Feb 2026, broker
summaries of 19–22 Jan 2026) and its outcomes are compared with the registry, both ways."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from orderflow_pipeline import checks
from orderflow_pipeline.checks import REGISTRY, CheckOutcome
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers import contract, smart_money, universe
from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.read import integrity
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck, load
from orderflow_pipeline.warehouse.schema import ensure_schema

WIB = timezone(timedelta(hours=7))
TAPE_DAY, BROKSUM_DAY = date(2026, 2, 18), date(2026, 1, 22)
TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
NOW = datetime(2026, 2, 18, 10, 0, tzinfo=WIB)  # market hours: the freshness checks apply


@pytest.fixture
def built(tmp_path: Path, real: Path) -> Settings:
    """A lake and warehouse where every layer has run (the core functions the assets call)."""
    s = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'wh.duckdb'}")
    lake = Lake(s.lake)
    lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    for f in sorted((real / "raw-broksum").glob("*/*.json")):
        lake.write_bytes(f"raw-broksum/{f.parent.name}/{f.name}", f.read_bytes())
    footprint.build_footprint(lake, TAPE_DAY)
    with duck.writing(s.warehouse_target.location) as con:
        ensure_schema(con)
        load.consolidate(lake, con, TAPE_DAY)
        smart_money.build_daily_features(
            lake, con, [date(2026, 1, 19), date(2026, 1, 20), date(2026, 1, 21), BROKSUM_DAY]
        )
        summary.build_summary(lake, con, TAPE_DAY)
    return s


def emitted(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["asset"], c["severity"]) for c in report["checks"]}


def test_every_emitted_check_is_registered_and_every_registered_check_is_emitted(
    built: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, tuple[str, str]] = {}
    normal = {}
    for d in (TAPE_DAY, BROKSUM_DAY):
        normal.update(emitted(integrity.integrity_report(built, d, now=NOW)))
    # A healthy run: no layer crashed (a literal severity or asset that disagrees with the
    # registry raises in CheckOutcome and would show up here as <layer>_checks_ran).
    crashed = {
        n for n in normal if REGISTRY.get(n, None) is not None and REGISTRY[n].evaluated_by == "report"
    }
    assert not crashed, crashed
    seen.update(normal)
    # The warehouse missing: the report says so instead of the warehouse checks.
    missing = Settings(lake=built.lake, warehouse=f"duckdb:{tmp_path / 'absent.duckdb'}")
    seen.update(emitted(integrity.integrity_report(missing, TAPE_DAY, now=NOW)))
    # Each layer's checks crashing, and the cross-cutting ones: fault injection.
    for layer in contract.LAYERS:
        if layer.checks_in is None:
            continue
        with monkeypatch.context() as m:
            m.setattr(layer.checks_in, "checks", _boom)
            seen.update(emitted(integrity.integrity_report(built, TAPE_DAY, now=NOW)))
    with monkeypatch.context() as m:
        m.setattr(integrity, "context_outcome", _boom)
        seen.update(emitted(integrity.integrity_report(built, TAPE_DAY, now=NOW)))

    unregistered = sorted(set(seen) - set(REGISTRY))
    assert not unregistered, f"emitted but not in checks.REGISTRY: {unregistered}"
    wrong = {
        n: (got, (REGISTRY[n].asset, REGISTRY[n].severity))
        for n, got in seen.items()
        if got != (REGISTRY[n].asset, REGISTRY[n].severity)
    }
    assert not wrong, wrong
    never = sorted(set(REGISTRY) - set(seen))
    assert not never, f"registered but no layer emits them: {never}"


def _boom(*args: object) -> list[CheckOutcome]:
    raise RuntimeError("planted fault")


def test_layer_assets_match_the_registry_assets() -> None:
    # The registry's asset names are the layers' own ASSET constants.
    assert (footprint.ASSET, load.ASSET, summary.ASSET, universe.ASSET) == (
        checks.FOOTPRINT,
        checks.WAREHOUSE,
        checks.SUMMARY,
        checks.UNIVERSE,
    )
    assert {d.asset for d in REGISTRY.values()} == {
        checks.FOOTPRINT,
        checks.WAREHOUSE,
        checks.FEATURES,
        checks.SUMMARY,
        checks.UNIVERSE,
    }


def test_every_layer_follows_the_layer_contract() -> None:
    names = [layer.name for layer in contract.LAYERS]
    assets = [layer.asset for layer in contract.LAYERS]
    assert len(set(names)) == len(names) and len(set(assets)) == len(assets)
    for layer in contract.LAYERS:
        assert isinstance(layer, contract.Layer), layer.name
        assert isinstance(layer.home, contract.AssetModule), layer.name
        assert layer.checks_in is None or isinstance(layer.checks_in, contract.ChecksModule), layer.name
    # the layers with checks are exactly the assets the check registry declares checks for
    checked = {layer.asset for layer in contract.LAYERS if layer.checks_in is not None}
    assert checked == {d.asset for d in REGISTRY.values() if d.evaluated_by == "layer"}
    # ... and each crashing layer has its registered `<name>_checks_ran`
    ran = {f"{layer.name}_checks_ran" for layer in contract.LAYERS if layer.checks_in is not None}
    assert ran <= set(REGISTRY)


def test_an_outcome_that_contradicts_the_registry_raises() -> None:
    with pytest.raises(ValueError, match="registered as"):
        CheckOutcome("footprint_files_exist", "footprint_ndjson", False, "WARN", "downgraded by mistake")
    with pytest.raises(ValueError, match="registered as"):
        CheckOutcome("summary_has_items", "footprint_1m", False, "ERROR", "wrong asset")
    with pytest.raises(KeyError, match="not declared"):
        CheckOutcome.of("no_such_check", True, "x")
    o = CheckOutcome.of("footprint_files_exist", False, "the lake has no footprint files", {"files": 0})
    assert (o.asset, o.severity, o.metadata) == ("footprint_ndjson", "ERROR", {"files": 0})


def test_blocking_is_exactly_the_error_checks_of_spec_11() -> None:
    # SPEC §11: ERROR (blocking) = no footprint files, summary has no items; all else WARN.
    dagster_errors = {n for n, d in REGISTRY.items() if d.blocking and d.evaluated_by != "report"}
    assert dagster_errors == {"footprint_files_exist", "summary_has_items"}


def test_fold_checks_fails_a_check_that_failed_on_any_date_or_was_not_evaluated() -> None:
    """A two-date backfill: quarantine fails on the 19th only; completeness is missing on both
    dates (a layer that stopped emitting it). Severities come from the registry."""
    from assets.checks.results import check_specs, fold_checks

    def files(passed: bool, d: str) -> CheckOutcome:
        return CheckOutcome.of("footprint_files_exist", passed, f"files on {d}", {"d": d})

    per_date = {
        "2026-02-18": [
            files(True, "18"),
            CheckOutcome.of("footprint_quarantine_empty", True, "0 lines on 18"),
        ],
        "2026-02-19": [
            files(True, "19"),
            CheckOutcome.of("footprint_quarantine_empty", False, "2 lines on 19"),
        ],
    }
    got = {r.check_name: r for r in fold_checks("footprint_ndjson", per_date)}
    assert [s.name for s in check_specs("footprint_ndjson")] == list(got)
    assert got["footprint_files_exist"].passed and got["footprint_files_exist"].severity.value == "ERROR"
    assert got["footprint_files_exist"].description == "files on 19"  # the newest date when all passed
    q = got["footprint_quarantine_empty"]
    assert (
        not q.passed
        and q.description == "2 lines on 19"
        and q.metadata["dates_failed"].value == ["2026-02-19"]
    )
    assert q.metadata["dates_checked"].value == 2
    missing = got["footprint_completeness"]
    assert not missing.passed and missing.description == "footprint_completeness: not evaluated"
    assert missing.severity.value == "WARN"
