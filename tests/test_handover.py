"""The footprint -> warehouse hand-over (issue 28, layers/footprint/handover.py): within one run the
warehouse loads what the footprint build made from the build's own candle rows, and the result
is exactly what reading the files back gives; a file changed after the build is read and
validated as before; separate runs fall back to the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from dagster import DagsterInstance

from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.footprint import handover, minutes
from orderflow_pipeline.layers.footprint.candles import validate_objects
from orderflow_pipeline.layers.footprint.hour_files import footprint_files
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import backfill, load
from orderflow_pipeline.warehouse.schema import ensure_schema

D = date(2026, 2, 18)  # a Wednesday
D2 = date(2026, 2, 19)
TABLES = (
    "SELECT * FROM footprint_1m ORDER BY ALL",
    "SELECT * FROM footprint_levels ORDER BY ALL",
    "SELECT key, size, date, ticker, hour, rows, quarantined FROM ingest_manifest ORDER BY ALL",
)


class CountingLake(Lake):
    """A real local lake that notes the keys it reads in bulk."""

    def __init__(self, root: str, reads: list[str]) -> None:
        super().__init__(root)
        self.reads = reads

    def cat_many(self, keys: Iterable[str], max_workers: int = 32) -> dict[str, bytes]:
        keys = list(keys)
        self.reads += keys
        return super().cat_many(keys, max_workers)


def _market(lake: Lake, end: date = D) -> None:
    simulate_range(lake, D, end, n_tickers=6, seed=5)


def _sorted(t: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = t.to_pylist()
    return sorted(rows, key=lambda r: (r["source_key"], r["time_key"], r.get("price", 0)))


def _tables(con: duckdb.DuckDBPyConnection) -> list[list[tuple[object, ...]]]:
    return [con.execute(q).fetchall() for q in TABLES]


def test_handed_rows_are_the_files_validated(tmp_path: Path) -> None:
    """The hand-over's rows equal the validator's reading of the very files the build wrote, and
    the files are byte for byte those of a build without a hand-over."""
    lake, plain = Lake(str(tmp_path / "a")), Lake(str(tmp_path / "b"))
    _market(lake)
    _market(plain)
    spool = tmp_path / "spool"
    spool.mkdir()
    res, handed = footprint.build_footprint_handing(lake, D, str(spool))
    footprint.build_footprint(plain, D)
    files = footprint_files(lake, D)
    assert files == footprint_files(plain, D) and len(files) > 20
    assert all(lake.read_bytes(k) == plain.read_bytes(k) for k in files)

    assert handed is not None and sorted(handed.files) == files
    assert handed.files == footprint_objects(lake, D)  # what the write returned is what a listing shows
    assert res.hour_files_handed == len(files)
    got = handover.tables(handed, files)
    want = validate_objects(lake.cat_many(files))
    assert not want.rejects
    assert got.candles.schema == want.candles.schema and got.levels.schema == want.levels.schema
    assert _sorted(got.candles) == _sorted(want.candles) and got.candles.num_rows > 500
    assert _sorted(got.levels) == _sorted(want.levels)
    assert got.rows_by_source == want.rows_by_source

    # the completeness check's minutes: from the hand-over, the same as read from the files
    reads: list[str] = []
    counting = CountingLake(lake.root, reads)
    got_minutes = minutes.minutes_by_ticker(counting, D, handed.files, handover.minutes(handed))
    assert reads == []  # none read back
    assert got_minutes == minutes.minutes_by_ticker(plain, D, footprint_objects(plain, D))
    assert sum(len(m) for m in got_minutes.values()) > 500

    some = files[::3]  # a subset: only those files' rows
    part = handover.tables(handed, some)
    assert set(part.rows_by_source) == set(some)
    assert _sorted(part.candles) == _sorted(validate_objects(lake.cat_many(some)).candles)
    assert _sorted(part.levels) == _sorted(validate_objects(lake.cat_many(some)).levels)


def _consolidate(
    lake: Lake, db: Path, hand: handover.Handover | None
) -> tuple[Any, duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(db))
    ensure_schema(con)
    [(res, _)] = list(backfill.consolidate_dates(lake, con, [D], workers=1, handover=hand))
    return res, con


def test_a_file_altered_after_the_build_is_read_and_validated(any_lake: Lake, tmp_path: Path) -> None:
    """One hour file changed outside the run after the build (a line broken, as an upstream might):
    the warehouse reads that one and quarantines its bad line, exactly as without a hand-over;
    every other file comes from the hand-over. Local (mtime) and S3 (ETag) fingerprints."""
    _market(any_lake)
    hand = handover.Handover()
    _, handed = footprint.build_footprint_handing(any_lake, D, hand.folder)
    hand.put(handed)
    files = footprint_files(any_lake, D)
    altered = files[1]
    lines = any_lake.read_bytes(altered).split(b"\n")
    first = json.loads(lines[0])
    first["ohlc"]["h"] = first["ohlc"]["l"] - 1  # broken OHLC
    any_lake.write_bytes(altered, b"\n".join([json.dumps(first).encode(), *lines[1:]]))

    res, con = _consolidate(any_lake, tmp_path / "handed.duckdb", hand)
    assert (res.objects_handed, res.objects_read, res.quarantined) == (len(files) - 1, 1, 1)
    assert hand.get(D) is None and not os.listdir(hand.folder)  # the date's spool went once loaded
    q_key = keys.quarantine_key(D, load.QUARANTINE_LAYER, altered)
    quarantined = any_lake.read_bytes(q_key)
    assert b"broken OHLC" in quarantined

    any_lake.delete(q_key)
    ref, ref_con = _consolidate(any_lake, tmp_path / "read.duckdb", None)
    assert (ref.objects_handed, ref.objects_read, ref.quarantined) == (0, len(files), 1)
    assert any_lake.read_bytes(q_key) == quarantined
    assert _tables(con) == _tables(ref_con) and _tables(con)[0]
    # both loads record the listing as it is: an unchanged re-run reads nothing
    again = list(backfill.consolidate_dates(any_lake, con, [D], workers=1))[0][0]
    assert (again.objects_read, again.objects_skipped) == (0, len(files))


def _run(env: dict[str, str], instance: DagsterInstance, layers: list[str]) -> Any:
    from assets.definitions import build_defs
    from assets.runtime.range_runs import LAYERS, materialize_range

    result = materialize_range(
        build_defs(), D, D2, instance=instance, asset_keys=[LAYERS[n] for n in layers], log_level="WARNING"
    )
    assert result.success
    return result


def _warehouse_md(result: Any) -> dict[str, dict[str, Any]]:
    return {
        m.partition: {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("footprint_1m")
    }


@pytest.mark.parametrize("mode", ["one run", "no hand-over", "two runs"])
def test_materialize_outputs_are_the_same_with_and_without_the_handover(
    mode: str, env: dict[str, str], instance: DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """footprint + warehouse of two dates: in one run (handed over), in one run with the hand-over
    off, and as two runs (no hand-over across runs): the same hour files, the same tables."""
    from assets.resources import LakeResource

    lake = Lake(env["ORDERFLOW_LAKE"])
    _market(lake, D2)
    if mode == "no hand-over":
        monkeypatch.setattr(LakeResource, "handover", lambda self: None)
    if mode == "two runs":
        _run(env, instance, ["footprint"])
        md = _warehouse_md(_run(env, instance, ["warehouse"]))
    else:
        md = _warehouse_md(_run(env, instance, ["footprint", "warehouse"]))
    listed = {d: len(footprint_files(lake, d)) for d in (D, D2)}
    for d, n in listed.items():
        m = md[d.isoformat()]
        handed = n if mode == "one run" else 0
        assert (m["objects_listed"], m["objects_handed"], m["objects_read"]) == (n, handed, n - handed)
        assert m["quarantined"] == 0

    # the reference: the same market built and loaded by the core alone, reading files back
    ref = Lake(str(tmp_path / "ref"))
    _market(ref, D2)
    con_ref = duckdb.connect()
    ensure_schema(con_ref)
    for d in (D, D2):
        footprint.build_footprint(ref, d)
        load.consolidate(ref, con_ref, d)
        files = footprint_files(ref, d)
        assert files == footprint_files(lake, d)
        assert all(ref.read_bytes(k) == lake.read_bytes(k) for k in files)
    con = duckdb.connect(env["ORDERFLOW_DUCKDB"], read_only=True)
    assert _tables(con) == _tables(con_ref)
    con.close()


class Noting(Lake):
    """A real local lake that notes every single-object read and write."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.writes: list[str] = []

    def read_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return super().read_bytes(key)

    def write_bytes(self, key: str, data: bytes | Iterable[bytes], *, durable: bool = True) -> Any:
        self.writes.append(key)
        return super().write_bytes(key, data, durable=durable)


def test_an_unchanged_footprint_rerun_reads_its_manifest_once_and_writes_nothing(tmp_path: Path) -> None:
    """Beyond its listings a re-run with nothing new reads the date's manifest once (it used to
    read it again to see whether it changed: a second GET per date on S3) and writes nothing."""
    lake = Noting(str(tmp_path / "lake"))
    _market(lake)
    first = footprint.build_footprint(lake, D)
    assert first.hour_files_written > 20
    lake.reads.clear()
    lake.writes.clear()
    again = footprint.build_footprint(lake, D)
    assert (again.tape_objects_read, again.hour_files_written) == (0, 0)
    assert lake.reads == [f"_state/footprint/{D}.json"] and lake.writes == []
