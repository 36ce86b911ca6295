"""The lake behaves the same on a local folder and on a real S3 server (moto, loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orderflow_pipeline.lake import Lake


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

    def chunks():
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
        "from orderflow_pipeline.lake import Lake\n"
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
