"""Shared fixtures: real lakes (local folder and a moto S3 server on loopback), a real Dagster
instance and a real DuckDB file — no mocks where the real thing runs here."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pgserver import PgServer, running_postgres

from orderflow_pipeline.storage.lake import Lake

if TYPE_CHECKING:  # dagster is imported lazily: most test modules never start an instance
    from dagster import DagsterInstance

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORDERFLOW_SHARED", ROOT.parent / "shared"))
REAL = SHARED / "fixtures" / "real"
ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def real() -> Path:
    if not REAL.exists():
        pytest.fail(f"real fixtures not found at {REAL} (set ORDERFLOW_SHARED)")
    return REAL


@contextmanager
def running_moto(log: Path | None = None) -> Iterator[str]:
    """A real S3 server (moto) in its own process on a free loopback port; its request log goes
    to `log` when given (read it with `moto_requests`), else nowhere. Yields the endpoint URL."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with log.open("wb") if log is not None else open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=sink,
            env=env,
        )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def moto_requests(log: Path, start: int) -> tuple[list[tuple[str, str]], int]:
    """(kind, object key or listed prefix) of each request moto logged after byte `start`, and
    the new offset. A bucket listing (ListObjects, v1 or v2) is kind LIST with its prefix."""
    text = log.read_bytes()
    out: list[tuple[str, str]] = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", text[start:].decode(errors="replace")).splitlines():
        if '"' not in line or "HTTP/1.1" not in line:
            continue
        method, _, rest = line.split('"', 2)[1].partition(" ")
        target = rest.rsplit(" HTTP/", 1)[0]
        if method == "GET" and ("list-type=2" in target or "prefix=" in target):
            out.append(("LIST", re.sub(r".*[?&]prefix=([^&]*).*", r"\1", target)))
        else:
            out.append((method, target.split("/", 2)[-1]))
    return out, len(text)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real S3 server (moto) for the session, its request log discarded."""
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """A real PostgreSQL server (Debian package) on a free loopback port, for this worker."""
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def _aws_env() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def make_s3_lake(endpoint: str) -> Lake:
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return Lake(f"s3://{bucket}/prefix", endpoint_url=endpoint)


@pytest.fixture
def s3_lake(moto_server: str) -> Lake:
    return make_s3_lake(moto_server)


@pytest.fixture
def local_lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    return make_s3_lake(request.getfixturevalue("moto_server"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point every setting (SPEC §3) at a fresh temp lake, warehouse and DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    values = {
        "ORDERFLOW_LAKE": str(tmp_path / "lake"),
        "ORDERFLOW_DUCKDB": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_HOME": str(home),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    # the optional settings fall back to their defaults, whatever the developer's shell has
    for name in (
        "ORDERFLOW_S3_ENDPOINT_URL",
        "ORDERFLOW_ALERT_WEBHOOK",
        "ORDERFLOW_MIN_WAREHOUSE_TICKERS",
        "ORDERFLOW_MIN_WAREHOUSE_TICKERS_WARN",
    ):
        monkeypatch.delenv(name, raising=False)
    return values


@pytest.fixture
def instance(env: dict[str, str]) -> Iterator[DagsterInstance]:
    """A real Dagster instance on disk under the temp DAGSTER_HOME."""
    from dagster import DagsterInstance

    inst = DagsterInstance.get()
    try:
        yield inst
    finally:
        inst.dispose()
