"""The lake behaves the same on a local folder and on a real S3 server (moto, loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow_pipeline.storage.lake import Lake


def test_roundtrip_list_and_fingerprints(any_lake: Lake) -> None:
    any_lake.write_bytes("a/b/one.jsonl", b'{"x":1}\n{"x":2}\n')
    any_lake.write_json("a/two.json", {"k": [1, 2]})
    any_lake.write_bytes("other/three.txt", b"3")

    assert any_lake.read_ndjson("a/b/one.jsonl") == [{"x": 1}, {"x": 2}]
    assert any_lake.read_json("a/two.json") == {"k": [1, 2]}
    assert any_lake.exists("a/two.json") and not any_lake.exists("a/nope.json")

    infos = any_lake.list_info("a/")
    assert sorted(infos) == ["a/b/one.jsonl", "a/two.json"]
    assert infos["a/b/one.jsonl"].size == len(b'{"x":1}\n{"x":2}\n')
    before = infos["a/two.json"].fingerprint

    time.sleep(0.01)  # local mtime resolution
    any_lake.write_json("a/two.json", {"k": [1, 2, 3]})
    assert any_lake.list_info("a/")["a/two.json"].fingerprint != before
    assert any_lake.glob("a/*/*.jsonl") == ["a/b/one.jsonl"]


def test_cat_many_is_concurrent_and_skips_missing(any_lake: Lake) -> None:
    payload = {f"m/{i:03d}.jsonl": f"{i}\n".encode() for i in range(60)}
    any_lake.write_many(payload)
    got = any_lake.cat_many([*payload, "m/missing.jsonl"])
    assert got == payload


def test_map_many_matches_cat_many_and_survives_replacement(any_lake: Lake) -> None:
    any_lake.write_bytes("t/a.jsonl", b"line 1\nline 2\n")
    any_lake.write_bytes("t/empty.jsonl", b"")
    got = any_lake.map_many(["t/a.jsonl", "t/empty.jsonl", "t/missing.jsonl"])
    assert set(got) == {"t/a.jsonl", "t/empty.jsonl"}  # a vanished key is left out, like cat_many
    assert bytes(got["t/a.jsonl"]) == b"line 1\nline 2\n" and bytes(got["t/empty.jsonl"]) == b""
    # an atomic replace (new object) does not change what an open mapping reads
    any_lake.write_bytes("t/a.jsonl", b"replaced\n")
    assert bytes(got["t/a.jsonl"]) == b"line 1\nline 2\n"
    assert bytes(any_lake.map_many(["t/a.jsonl"])["t/a.jsonl"]) == b"replaced\n"


def test_write_if_changed_leaves_identical_objects_alone(any_lake: Lake) -> None:
    assert any_lake.write_if_changed("x.json", b"same") is True
    fp = any_lake.info("x.json").fingerprint
    time.sleep(0.01)
    assert any_lake.write_if_changed("x.json", b"same") is False
    assert any_lake.info("x.json").fingerprint == fp
    assert any_lake.write_if_changed("x.json", b"different") is True


def test_interrupted_write_keeps_previous_object(any_lake: Lake) -> None:
    any_lake.write_bytes("state/summary.json", b'{"v":"old"}')

    def chunks() -> Iterator[bytes]:
        yield b'{"v":"ne'
        raise RuntimeError("producer died half-way")

    with pytest.raises(RuntimeError):
        any_lake.write_bytes("state/summary.json", chunks())
    assert any_lake.read_bytes("state/summary.json") == b'{"v":"old"}'
    assert any_lake.list("state/") == ["state/summary.json"]  # no temporary object visible


def test_killed_process_mid_write_leaves_previous_file(tmp_path: Path) -> None:
    """SIGKILL a real writer process between its chunks: the old object stays, whole."""
    lake = Lake(str(tmp_path / "lake"))
    lake.write_bytes("f/h.jsonl", b"old\n")
    script = (
        "import sys,time\n"
        "from orderflow_pipeline.storage.lake import Lake\n"
        "def gen():\n"
        "    yield b'new-part-1\\n'\n"
        "    print('half', flush=True)\n"
        "    time.sleep(60)\n"
        "    yield b'new-part-2\\n'\n"
        f"Lake({str(tmp_path / 'lake')!r}).write_bytes('f/h.jsonl', gen())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "half"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert lake.read_bytes("f/h.jsonl") == b"old\n"
    assert lake.list("f/") == ["f/h.jsonl"]


def test_keys_cannot_escape_the_root(local_lake: Lake) -> None:
    with pytest.raises(ValueError):
        local_lake.write_bytes("../outside.json", b"x")


def test_stale_temp_files_of_killed_writes_are_removed_by_the_next_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer SIGKILLed mid-write leaves its `.tmp-*` file; the next footprint run removes the
    ones older than an hour (aged here with utime), logs each, and leaves a young one alone."""
    from orderflow_pipeline.layers.footprint import build as footprint

    lake = Lake(str(tmp_path / "lake"))
    hour_file = "footprint/AAAA/1m/2026/02/18/02.jsonl"  # a folder of the date 2026-02-18
    script = (
        "import time\n"
        "from orderflow_pipeline.storage.lake import Lake\n"
        "def gen():\n"
        "    yield b'part\\n'\n"
        "    print('half', flush=True)\n"
        "    time.sleep(60)\n"
        f"Lake({str(tmp_path / 'lake')!r}).write_bytes({hour_file!r}, gen())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "half"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    [killed] = lake.temp_files("footprint/AAAA/1m/2026/02/18")
    # leftovers in the other folders a footprint run lists or writes
    others = [
        "raw_lt/2026/02/18/02/.tmp-1-2-x.jsonl",
        "_state/footprint/.tmp-1-2-2026-02-18.json",
        "quarantine/2026-02-18/footprint/.tmp-1-2-x.jsonl",
    ]
    young = "footprint/BBBB/1m/2026/02/18/.tmp-1-2-03.jsonl"
    for key in [*others, young]:
        p = Path(lake.path(key))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    for key in [killed, *others]:
        os.utime(lake.path(key), (old, old))
    with caplog.at_level("WARNING", logger="orderflow_pipeline.storage.lake"):
        res = footprint.build_footprint(lake, "2026-02-18")
    assert res.stale_temps_removed == 4
    for key in [killed, *others]:
        assert not os.path.exists(lake.path(key)), key
        assert any(key in r.getMessage() and "stale temp" in r.getMessage() for r in caplog.records)
    assert os.path.exists(lake.path(young))  # may be a write in progress: kept
    assert footprint.build_footprint(lake, "2026-02-18").stale_temps_removed == 0


def test_s3_client_has_explicit_timeouts_and_retries(moto_server: str) -> None:
    from orderflow_pipeline.storage import s3 as lake_mod

    lake = Lake("s3://any-bucket/p", endpoint_url=moto_server)
    lake.fs.connect()
    cfg = lake.fs.s3.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (
        lake_mod.S3_CONNECT_TIMEOUT_S,
        lake_mod.S3_READ_TIMEOUT_S,
    )
    assert cfg.retries == {"total_max_attempts": lake_mod.S3_MAX_ATTEMPTS, "mode": "standard"}
    assert lake.fs.retries == lake_mod.S3FS_RETRIES
    # the caller's storage options still win
    own = Lake("s3://any-bucket/p", endpoint_url=moto_server, config_kwargs={"read_timeout": 7}, retries=1)
    own.fs.connect()
    assert (own.fs.s3.meta.config.read_timeout, own.fs.s3.meta.config.connect_timeout, own.fs.retries) == (
        7,
        lake_mod.S3_CONNECT_TIMEOUT_S,
        1,
    )


def test_a_frozen_s3_endpoint_times_out_and_logs_each_retry(caplog: pytest.LogCaptureFixture) -> None:
    """An endpoint that accepts connections and never answers (a frozen S3): the read gives up
    after the configured attempts instead of hanging, and every retry is a WARNING in the log."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)  # read nothing, answer nothing
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        port = srv.getsockname()[1]
        lake = Lake(
            "s3://frozen/p",
            endpoint_url=f"http://127.0.0.1:{port}",
            config_kwargs={
                "connect_timeout": 0.3,
                "read_timeout": 0.3,
                "retries": {"total_max_attempts": 2, "mode": "standard"},
            },
            retries=1,
        )
        with caplog.at_level("WARNING"), pytest.raises(Exception) as err:  # noqa: PT011 - any failure, not a hang
            lake.read_bytes("raw_lt/x.jsonl")
        assert "timeout" in f"{err.type.__name__} {err.value}".lower()
        retries = [r for r in caplog.records if "S3 waiting/retrying" in r.getMessage()]
        assert retries and all(r.levelname == "WARNING" for r in retries)
    finally:
        stop.set()
        th.join(timeout=5)
        for c in held:
            c.close()
        srv.close()


def test_write_many_async_writes_in_the_background_in_submission_order(any_lake: Lake) -> None:
    """The bulk write a caller overlaps with its next compute (storage.background): the future
    gives what `write_many` gives, and a later batch's version of a key lands last."""
    from orderflow_pipeline.storage.background import write_many_async

    first = {f"footprint/T{i:03d}/1m/2026/02/18/02.jsonl": b"a%d\n" % i for i in range(40)}
    second = {"footprint/T000/1m/2026/02/18/02.jsonl": b"b\n"}
    f1, f2 = write_many_async(any_lake, first), write_many_async(any_lake, second)
    written = f1.result(timeout=60)
    assert set(written) == set(first) and set(f2.result(timeout=60)) <= set(second)
    assert any_lake.read_bytes("footprint/T000/1m/2026/02/18/02.jsonl") == b"b\n"
    assert any_lake.cat_many(list(first)[1:]) == dict(list(first.items())[1:])
    assert {k: any_lake.info(k) for k in list(first)[1:]} == {k: written[k] for k in list(first)[1:]}
