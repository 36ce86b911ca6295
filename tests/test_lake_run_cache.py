"""The S3 run cache (`run_cache.RunCachedLake`, issue 20): one listing per prefix, kept in line with
our own writes and deletes, and bodies served again only while the store holds those bytes.
Real moto server; a fresh Lake (no cache) is the reference for what the store holds."""

from __future__ import annotations

from conftest import make_s3_lake

from orderflow_pipeline.storage.run_cache import RunCachedLake


def test_run_cache_follows_our_writes_and_sees_the_store_as_a_fresh_listing(moto_server: str) -> None:
    ref = make_s3_lake(moto_server)
    run = RunCachedLake(ref.root, endpoint_url=moto_server)
    ref.write_bytes("footprint/AAAA/1m/2026/02/18/02.jsonl", b"a\n")
    ref.write_bytes("raw-broksum/AAAA/2026-02-18.json", b"{}")

    assert run.list_info("footprint/") == ref.list_info("footprint/")
    pages = run.requests["list"]
    assert run.list("footprint/AAAA/") == ["footprint/AAAA/1m/2026/02/18/02.jsonl"]  # cut from the cache
    assert run.glob("raw-broksum/*/2026-02-18.json") == ["raw-broksum/AAAA/2026-02-18.json"]
    run.list_info("footprint/")
    assert run.requests["list"] == pages + 1  # only raw-broksum/ was listed since

    # Our writes (single and batched) and deletes: the cached listing equals a fresh one.
    run.write_bytes("footprint/AAAA/1m/2026/02/18/02.jsonl", b"changed\n")
    run.write_many({f"footprint/B{i:03d}/1m/2026/02/18/03.jsonl": b"%d\n" % i for i in range(10)})
    run.delete("footprint/B000/1m/2026/02/18/03.jsonl")
    assert run.list_info("footprint/") == ref.list_info("footprint/")
    assert run.requests["list"] == pages + 1

    # Bodies: what we wrote is served without a GET; a replacement by someone else is not.
    gets = run.requests["get"]
    key = "footprint/AAAA/1m/2026/02/18/02.jsonl"
    assert run.cat_many([key]) == {key: b"changed\n"}
    assert run.requests["get"] == gets
    ref.write_bytes(key, b"upstream\n")
    assert run.cat_many([key]) == {key: b"changed\n"}  # the run's snapshot: its listing is older
    fresh = RunCachedLake(ref.root, endpoint_url=moto_server)
    assert fresh.cat_many([key]) == {key: b"upstream\n"}
    fresh.list_info("footprint/")
    assert fresh.cat_many([key]) == {key: b"upstream\n"}


def test_a_pickled_run_lake_forgets_its_listings_and_keeps_caching(moto_server: str) -> None:
    """A worker process may write through its copy: the parent's cached listing would miss it, so
    pickling forgets it; both sides go on caching (one listing per prefix afterwards)."""
    import pickle

    ref = make_s3_lake(moto_server)
    run = RunCachedLake(ref.root, endpoint_url=moto_server)
    assert run.list("footprint/") == []
    worker = pickle.loads(pickle.dumps(run))
    worker.write_bytes("footprint/AAAA/1m/2026/02/18/02.jsonl", b"a\n")
    assert run.list("footprint/") == ["footprint/AAAA/1m/2026/02/18/02.jsonl"]
    assert worker.list("footprint/") == run.list("footprint/")
    listed = run.requests["list"]
    assert run.list("footprint/") == ["footprint/AAAA/1m/2026/02/18/02.jsonl"]
    assert run.requests["list"] == listed  # served from the run's listing: still caching


def test_a_run_reads_an_unlisted_object_once_and_remembers_a_missing_one(moto_server: str) -> None:
    """Issue 28: documents no listing of the run shows (`_state/`, `features/`) were read by every
    layer again (a summary document four times per run). A GET is now the run's snapshot of its
    key, a 404 holds until the run writes the key, and exists/write_if_changed ask nothing the
    run already knows."""
    ref = make_s3_lake(moto_server)
    run = RunCachedLake(ref.root, endpoint_url=moto_server)
    ref.write_bytes("_state/a.json", b"{}")
    assert run.read_bytes("_state/a.json") == b"{}"
    gets = run.requests["get"]
    assert run.read_json("_state/a.json") == {} and run.cat_many(["_state/a.json"]) == {
        "_state/a.json": b"{}"
    }
    assert run.exists("_state/a.json") and run.requests["get"] == gets

    try:
        run.read_bytes("_state/missing.json")
        raise AssertionError("read a missing object")
    except FileNotFoundError:
        pass
    gets = run.requests["get"]
    assert run.cat_many(["_state/missing.json"]) == {} and not run.exists("_state/missing.json")
    assert run.requests["get"] == gets  # remembered: no second GET, no HEAD
    assert (
        run.write_if_changed("_state/missing.json", b"new")
        and run.read_bytes("_state/missing.json") == b"new"
    )
    assert not run.write_if_changed("_state/missing.json", b"new") and run.requests["get"] == gets
    assert ref.read_bytes("_state/missing.json") == b"new"

    # A later listing that shows another version wins over the body read before it.
    ref.write_bytes("_state/a.json", b'{"v":2}')
    run.list_info("_state/")
    assert run.read_json("_state/a.json") == {"v": 2}


def test_write_many_if_changed_compares_by_listing_not_by_reading_back(moto_server: str) -> None:
    ref = make_s3_lake(moto_server)
    files = {f"features/z/{i}.json": b"%d" % i for i in range(20)}
    ref.write_many(files)
    run = RunCachedLake(ref.root, endpoint_url=moto_server)
    assert run.write_many_if_changed({**files, "features/z/3.json": b"x", "features/z/new.json": b"n"}) == [
        "features/z/3.json",
        "features/z/new.json",
    ]
    # one listing; a GET only for the object listed with another ETag (changed, or an ETag that is
    # not the MD5: SSE-KMS, multipart), never for the 19 unchanged or the new one
    assert run.requests["get"] == 1 and run.requests["list"] == 1
    assert ref.read_bytes("features/z/3.json") == b"x" and ref.read_bytes("features/z/new.json") == b"n"
    assert run.exists("features/z/new.json") and not run.exists("features/z/gone.json")
    assert run.requests["list"] == 1  # answered by the kept listing


def test_prefetch_lists_and_reads_ahead_in_one_batch(moto_server: str) -> None:
    ref = make_s3_lake(moto_server)
    ref.write_many({f"_state/s/{i}.json": b"%d" % i for i in range(10)})
    run = RunCachedLake(ref.root, endpoint_url=moto_server)
    run.prefetch(keys=[f"_state/s/{i}.json" for i in range(12)], prefixes=["raw_lt/2026/01/05/"])
    gets, lists = run.requests["get"], run.requests["list"]
    assert gets == 12 and lists == 1
    assert [run.read_bytes(f"_state/s/{i}.json") for i in range(3)] == [b"0", b"1", b"2"]
    assert run.list("raw_lt/2026/01/05/") == [] and not run.exists("_state/s/11.json")
    assert (run.requests["get"], run.requests["list"]) == (gets, lists)
    plain = make_s3_lake(moto_server)
    plain.prefetch(keys=["_state/s/0.json"])  # a lake that keeps nothing sends nothing
    assert plain.requests["get"] == 0
