"""Issue 16 item 1: a run killed (SIGKILL) inside a DuckDB-writing step never blocks later runs.

Real subprocesses of `python -m assets.cli materialize`, a real Dagster instance (SQLite storage
in a temp DAGSTER_HOME, dagster.yaml's pools: `duckdb_writer` limit 1), a real DuckDB file and a
small simulated lake (3 days x 20 tickers). Before the fix, the next run waited for the dead
run's `duckdb_writer` slot for ever: here it must finish inside the 60 s subprocess timeout, say
which dead run's slot it freed, and leave the lake and warehouse equal to a clean run's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import runner_lab as lab
from dagster import DagsterInstance, DagsterRunStatus

WRITER_POOL = "duckdb_writer"


@pytest.fixture(scope="module")
def raw_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("raw") / "lake"
    lab.simulate(path)
    return path


@pytest.fixture(scope="module")
def clean(raw_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    env = lab.workspace(tmp_path_factory.mktemp("clean"), raw_lake)
    out = lab.materialize(env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return lab.fingerprint(env)


@pytest.fixture
def kill_env(tmp_path: Path, raw_lake: Path) -> Iterator[tuple[dict[str, str], DagsterInstance]]:
    env = lab.workspace(tmp_path, raw_lake)
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        yield env, instance
    finally:
        instance.dispose()


@pytest.mark.parametrize(
    ("step", "launcher"),
    [
        ("footprint_1m", "orderflow"),
        ("daily_features", "orderflow"),
        ("footprint_summary", "orderflow"),
        # A run not started by our runner (Dagster's CLI loads the code location as a daemon's run
        # worker does): it is tagged with its process by the hook, so it is reaped the same way.
        ("footprint_1m", "dagster"),
    ],
)
def test_run_killed_inside_a_writing_step_does_not_block_the_next(
    step: str,
    launcher: str,
    kill_env: tuple[dict[str, str], DagsterInstance],
    clean: tuple[object, object],
    tmp_path: Path,
) -> None:
    env, instance = kill_env
    dead: str | None = None
    for attempt in range(3):  # a step may finish between the poll and the freeze: try again
        cmd = lab.dagster_materialize_cmd() if launcher == "dagster" else lab.materialize_cmd()
        proc = lab.start_materialize(env, tmp_path / f"killed-{attempt}.log", cmd)
        dead = lab.stop_inside_step(instance, proc, step, lab.run_ids(instance))
        if dead is not None:
            break
    assert dead is not None, f"could not stop a run inside {step}"

    # The situation of the issue: the dead run is still STARTED and holds the writer slot.
    run = instance.get_run_by_id(dead)
    assert run is not None and run.status == DagsterRunStatus.STARTED
    holders = {s.run_id for s in instance.event_log_storage.get_concurrency_info(WRITER_POOL).claimed_slots}
    assert holders == {dead}

    out = lab.materialize(env, timeout=60)  # raises TimeoutExpired if it waits for the dead slot
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert f"freed pool slot held by dead run {dead} (pid {run.tags['orderflow/pid']} on host" in log

    # The dead run is failed, no slot is left claimed, and the data equal a clean run's.
    run = instance.get_run_by_id(dead)
    assert run is not None and run.status == DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info(WRITER_POOL).claimed_slots == []
    lake, warehouse = lab.fingerprint(env)
    clean_lake, clean_warehouse = clean
    assert warehouse == clean_warehouse
    assert lake == clean_lake
