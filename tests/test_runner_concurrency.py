"""Issue 17 concurrency and issue 16's waiting rule, with real `materialize` subprocesses.

- Two `orderflow materialize` of the same dates at once give the same lake and warehouse as one
  run, and their footprint builds never overlap (pool `footprint_build`, limit 1).
- A run whose writer slot is held by a live run sleeps (it does not spin a core), says every
  10 s which run holds the slot, and goes on once `orderflow runs free-slot` frees it by hand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import runner_lab as lab
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus


@pytest.fixture(scope="module")
def raw_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("raw") / "lake"
    lab.simulate(path)
    return path


@pytest.fixture
def ws(tmp_path: Path, raw_lake: Path) -> Iterator[tuple[dict[str, str], DagsterInstance]]:
    env = lab.workspace(tmp_path, raw_lake)
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        yield env, instance
    finally:
        instance.dispose()


def _step_window(instance: DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    events = [
        e
        for e in instance.all_logs(
            run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
        )
        if e.step_key == step
    ]
    start = min(e.timestamp for e in events if e.dagster_event_type == DagsterEventType.STEP_START)
    end = max(e.timestamp for e in events if e.dagster_event_type == DagsterEventType.STEP_SUCCESS)
    return start, end


def test_two_concurrent_materializes_equal_one_run(
    ws: tuple[dict[str, str], DagsterInstance], tmp_path_factory: pytest.TempPathFactory, raw_lake: Path
) -> None:
    env, instance = ws
    a = lab.start_materialize(env, Path(env["DAGSTER_HOME"]) / "a.log")
    b = lab.start_materialize(env, Path(env["DAGSTER_HOME"]) / "b.log")
    for proc, name in ((a, "a"), (b, "b")):
        rc = proc.wait(timeout=180)
        assert rc == 0, (Path(env["DAGSTER_HOME"]) / f"{name}.log").read_text()[-4000:]

    runs = instance.get_runs()
    assert len(runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
    # One footprint build at a time: the two runs' footprint_ndjson steps do not overlap.
    (s1, e1), (s2, e2) = sorted(_step_window(instance, r.run_id, "footprint_ndjson") for r in runs)
    assert e1 <= s2, (
        f"footprint builds overlapped: {datetime.fromtimestamp(s2)} < {datetime.fromtimestamp(e1)}"
    )

    one = lab.workspace(tmp_path_factory.mktemp("one"), raw_lake)
    out = lab.materialize(one, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert lab.fingerprint(env) == lab.fingerprint(one)


def test_waiting_run_sleeps_names_the_holder_and_resumes_after_free_slot(
    ws: tuple[dict[str, str], DagsterInstance],
) -> None:
    env, instance = ws
    # A live holder: a run recorded as executed by this (living) test process, holding the slot.
    holder = str(uuid.uuid4())
    instance.add_run(
        DagsterRun(
            job_name="holder",
            run_id=holder,
            status=DagsterRunStatus.STARTED,
            tags={"orderflow/host": socket.gethostname(), "orderflow/pid": str(os.getpid())},
        )
    )
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("duckdb_writer")
    assert storage.claim_concurrency_slot("duckdb_writer", holder, "holder_step").is_claimed

    log = Path(env["DAGSTER_HOME"]) / "waiting.log"
    proc = lab.start_materialize(env, log)
    try:
        wanted = f"waiting for pool 'duckdb_writer', held by {holder} (pid {os.getpid()} on host"
        deadline = time.monotonic() + 120
        while wanted not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert wanted in log.read_text(), log.read_text()[-4000:]

        # Once the footprint step (no writer pool) is done, every step left needs the held slot.
        (run_id,) = [r.run_id for r in instance.get_runs() if r.run_id != holder]
        while (
            proc.poll() is None
            and time.monotonic() < deadline
            and not any(
                e.step_key == "footprint_ndjson"
                for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)
            )
        ):
            time.sleep(0.2)
        # Sleeping, not spinning: over 6 s of waiting the process uses a small fraction of a core
        # (the unpatched Dagster loop uses all it can get, ~0.9 core on an idle box).
        p = psutil.Process(proc.pid)
        cpu0 = sum(p.cpu_times()[:2])
        time.sleep(6)
        used = sum(p.cpu_times()[:2]) - cpu0
        assert used < 0.6, f"waiting run used {used:.2f} s CPU in 6 s"
        assert proc.poll() is None  # still waiting: the holder is alive, it must not be reaped

        free = subprocess.run(
            [sys.executable, "-m", "assets.cli", "runs", "free-slot", "--run-id", holder],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert free.returncode == 0 and f"freed pool slots held by run {holder}" in free.stdout, free.stderr
        assert proc.wait(timeout=60) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = instance.get_run_by_id(holder)
    assert run is not None and run.status == DagsterRunStatus.FAILURE
