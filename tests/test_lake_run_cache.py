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
