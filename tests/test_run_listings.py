"""The local run lake (`run_listings.RunListedLake`, issue 28): a date's footprint listing made
once per run, dropped by the run's own footprint writes and deletes, never served stale; and a
whole `orderflow materialize` run lists each date's footprint files twice at most (the build,
then once after its writes), where every layer used to list them itself (8 listings a date)."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterInstance

from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.run_cache import for_run
from orderflow_pipeline.storage.run_listings import RunListedLake

D = date(2026, 2, 18)
KEY = "footprint/AAAA/1m/2026/02/18/02.jsonl"


def test_a_listing_is_made_once_and_follows_the_runs_own_writes(tmp_path: Path) -> None:
    ref = Lake(str(tmp_path / "lake"))  # a plain lake lists afresh: the reference
    run = for_run(ref.root)
    assert isinstance(run, RunListedLake)
    ref.write_bytes(KEY, b"a\n")

    assert inventory.footprint_objects(run, D) == inventory.footprint_objects(ref, D)
    assert inventory.footprint_objects(run, D) == inventory.footprint_objects(ref, D)
    assert run.listings_made == 1
    got = inventory.footprint_objects(run, D)
    got.clear()  # a caller's copy: the kept listing is not changed through it
    assert list(inventory.footprint_objects(run, D)) == [KEY]

    # a write elsewhere in the lake keeps the listing; the run's footprint writes and deletes are
    # applied to it: what it then answers is what a fresh listing shows, keys, sizes, fingerprints
    run.write_bytes("_state/footprint/2026-02-18.json", b"{}")
    inventory.footprint_objects(run, D)
    assert run.listings_made == 1
    run.write_bytes(KEY, b"changed\n")
    run.write_many({f"footprint/B{i:03d}/1m/2026/02/18/03.jsonl": b"%d\n" % i for i in range(10)})
    assert inventory.footprint_objects(run, D) == inventory.footprint_objects(ref, D)
    assert list(inventory.footprint_objects(run, D)) == sorted(inventory.footprint_objects(ref, D))
    run.delete("footprint/B000/1m/2026/02/18/03.jsonl")
    assert inventory.footprint_objects(run, D) == inventory.footprint_objects(ref, D)
    assert len(inventory.footprint_objects(run, D)) == 10
    assert run.listings_made == 1
    # an hour of the next WIB date (UTC 17:00 on the 18th) is not D's: D's listing is unchanged
    run.write_bytes("footprint/C000/1m/2026/02/18/17.jsonl", b"c\n")
    assert inventory.footprint_objects(run, D) == inventory.footprint_objects(ref, D)
    assert "footprint/C000/1m/2026/02/18/17.jsonl" not in inventory.footprint_objects(run, D)
    assert run.listings_made == 1

    # a caller collecting temp files always lists (and the listing it made is kept)
    temps: list[str] = []
    inventory.footprint_objects(run, D, temps)
    inventory.footprint_objects(run, D)
    assert run.listings_made == 2


def test_a_failed_write_or_one_the_store_does_not_describe_drops_the_listings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = Lake(str(tmp_path / "lake"))
    run = for_run(ref.root)
    assert isinstance(run, RunListedLake)
    inventory.footprint_objects(run, D)
    real = Lake.write_many

    def half_then_fail(
        self: Lake, items: dict[str, bytes], max_workers: int = 4
    ) -> dict[str, inventory.ObjectInfo]:
        first = dict(list(items.items())[:1])
        real(self, first, max_workers)
        raise OSError("disk full")

    monkeypatch.setattr(Lake, "write_many", half_then_fail)
    with pytest.raises(OSError):
        run.write_many({KEY: b"a\n", "footprint/B000/1m/2026/02/18/03.jsonl": b"b\n"})
    monkeypatch.setattr(Lake, "write_many", real)
    assert inventory.footprint_objects(run, D) == inventory.footprint_objects(ref, D)
    assert list(inventory.footprint_objects(run, D)) == [KEY]
    assert run.listings_made == 2

    # a write whose store returns no listing info (an S3 answer without an ETag) cannot be placed
    monkeypatch.setattr(Lake, "write_bytes", lambda self, key, data, durable=True: None)
    run.write_bytes("footprint/B000/1m/2026/02/18/03.jsonl", b"b\n")
    inventory.footprint_objects(run, D)
    assert run.listings_made == 3


def test_tickers_by_date_come_from_a_kept_listing_and_the_rest_from_the_folders(tmp_path: Path) -> None:
    ref = Lake(str(tmp_path / "lake"))
    run = for_run(ref.root)
    assert isinstance(run, RunListedLake)
    e = date(2026, 2, 19)
    ref.write_bytes(KEY, b"a\n")
    ref.write_bytes("footprint/CCCC/1m/2026/02/19/02.jsonl", b"c\n")
    inventory.footprint_objects(run, D)  # the run keeps D's listing, not e's
    # a file another process adds during the run: the run answers D from the snapshot it listed
    # (as every other layer of the run sees D), e from the folders as they are now
    ref.write_bytes("footprint/BBBB/1m/2026/02/18/03.jsonl", b"b\n")
    ref.write_bytes("footprint/DDDD/1m/2026/02/19/03.jsonl", b"d\n")
    assert inventory.footprint_tickers_by_date(run, [D, e]) == {D: {"AAAA"}, e: {"CCCC", "DDDD"}}
    assert inventory.footprint_tickers_by_date(ref, [D, e]) == {D: {"AAAA", "BBBB"}, e: {"CCCC", "DDDD"}}
    # the run's own write is applied to its snapshot (the other process's file stays unseen)
    run.write_bytes("footprint/EEEE/1m/2026/02/18/03.jsonl", b"e\n")
    assert inventory.footprint_tickers_by_date(run, [D]) == {D: {"AAAA", "EEEE"}}


def test_a_write_during_a_listing_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing that raced with a footprint write (another thread of the run) may miss it."""
    run = RunListedLake(str(tmp_path / "lake"))
    real = inventory._footprint_objects

    def racing(lake: Lake, d: date, temps: list[str] | None) -> dict[str, inventory.ObjectInfo]:
        out = real(lake, d, temps)
        run.write_bytes(KEY, b"a\n")  # lands after the directory was read
        return out

    monkeypatch.setattr(inventory, "_footprint_objects", racing)
    assert inventory.footprint_objects(run, D) == {}
    monkeypatch.setattr(inventory, "_footprint_objects", real)
    assert list(inventory.footprint_objects(run, D)) == [KEY]


def test_a_pickled_run_lake_forgets_its_listings(tmp_path: Path) -> None:
    """A worker process may write through its copy: both sides list again afterwards."""
    run = RunListedLake(str(tmp_path / "lake"))
    assert inventory.footprint_objects(run, D) == {}
    worker = pickle.loads(pickle.dumps(run))
    worker.write_bytes(KEY, b"a\n")
    assert list(inventory.footprint_objects(run, D)) == [KEY]
    assert list(inventory.footprint_objects(worker, D)) == [KEY]


def test_a_plain_lake_lists_every_time(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    assert inventory.footprint_objects(lake, D) == {}
    lake.write_bytes(KEY, b"a\n")
    assert list(inventory.footprint_objects(lake, D)) == [KEY]


def test_one_run_of_every_layer_lists_a_date_at_most_three_times(
    env: dict[str, str], instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layers of one run share the run lake's listing of a date: made by the first layer that
    asks (the features' checks run before the footprint build), by the footprint build (with its
    temp files), once more after the build's writes, and every later layer (warehouse, universe,
    summary, the features' other checks) reuses that. Before, each asked for its own: 8 listings
    of the date per run, new or unchanged."""
    from assets.definitions import build_defs
    from assets.runtime.range_runs import materialize_range
    from orderflow_pipeline.simulator.run import simulate_range

    simulate_range(Lake(env["ORDERFLOW_LAKE"]), D, D, n_tickers=12, seed=7)
    real = inventory._footprint_objects
    calls: list[date] = []

    def counting(lake: Lake, d: date, temps: list[str] | None) -> dict[str, inventory.ObjectInfo]:
        calls.append(d)
        return real(lake, d, temps)

    monkeypatch.setattr(inventory, "_footprint_objects", counting)
    assert materialize_range(build_defs(), D, instance=instance).success
    assert 0 < calls.count(D) <= 3, calls
    calls.clear()
    assert materialize_range(build_defs(), D, instance=instance).success  # nothing new: no write
    assert 0 < calls.count(D) <= 2, calls
