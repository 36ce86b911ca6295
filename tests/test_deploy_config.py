"""deploy/ as a reviewed config (issue 20): nothing there can be built or started here (no Docker
engine, no cluster), so its files are parsed and held against the project they deploy.

- the code location module and name are pyproject's [tool.dagster] ones, everywhere they appear;
- one image name (pyproject's version as tag) in compose and in the Helm values;
- storage is Postgres in dagster.prod.yaml (validated by Dagster's own schemas), and compose, the
  Postgres service and the Helm values agree on database, user, port, scheme and env names;
- pools, run limits, tag limits and run monitoring equal the laptop's dagster.yaml where they
  should, and dagster.prod.yaml and the Helm values agree on every one;
- every ORDERFLOW_* variable the deploy files set is one orderflow_pipeline/config.py reads (the
  list is taken by running get_settings, not restated);
- the Dockerfile installs the `prod` extra under the lock; compose has the services the issue
  lists and its webserver/daemon reach the code location where it listens.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCAL = yaml.safe_load((ROOT / "dagster.yaml").read_text())
PROD = yaml.safe_load((DEPLOY / "dagster.prod.yaml").read_text())
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
HELM = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
WORKSPACE = yaml.safe_load((DEPLOY / "workspace.prod.yaml").read_text())
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
ENV_EXAMPLE = (DEPLOY / "orderflow.env.example").read_text()

MODULE = PYPROJECT["tool"]["dagster"]["module_name"]
LOCATION = PYPROJECT["tool"]["dagster"]["code_location_name"]
SERVICES = COMPOSE["services"]
USER_CODE = HELM["dagster-user-deployments"]["deployments"]


def _snake(name: str) -> str:
    """The Helm chart's camelCase key as dagster.yaml spells it (maxConcurrentRuns -> max_concurrent_runs)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _pipeline_services() -> dict[str, dict[str, Any]]:
    """Compose services that run our image (built from deploy/Dockerfile)."""
    return {
        name: svc
        for name, svc in SERVICES.items()
        if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def _module_arg(args: list[str]) -> str:
    """The value after -m / --module-name in a dagster command line."""
    for flag in ("-m", "--module-name"):
        if flag in args:
            return args[args.index(flag) + 1]
    raise AssertionError(f"no -m in {args}")


def _dockerfile_cmd() -> list[str]:
    (line,) = [ln for ln in DOCKERFILE.splitlines() if ln.startswith("CMD ")]
    cmd: list[str] = yaml.safe_load(line[len("CMD ") :])
    return cmd


def _env_refs(node: Any) -> Iterator[str]:
    """Every `{env: NAME}` a Dagster config references."""
    if isinstance(node, Mapping):
        if set(node) == {"env"}:
            yield node["env"]
        for v in node.values():
            yield from _env_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _env_refs(v)


def test_code_location_module_and_name_are_pyprojects() -> None:
    assert _module_arg(_dockerfile_cmd()) == MODULE
    assert _module_arg(SERVICES["code"]["command"]) == MODULE
    (deployment,) = USER_CODE
    assert _module_arg(deployment["dagsterApiGrpcArgs"]) == MODULE
    (location,) = WORKSPACE["load_from"]
    assert location["grpc_server"]["location_name"] == LOCATION
    # and the laptop's workspace loads the same module under the same name
    (local,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    assert (local["python_module"]["module_name"], local["python_module"]["location_name"]) == (
        MODULE,
        LOCATION,
    )


def test_one_image_in_compose_and_helm() -> None:
    images = {svc["image"] for svc in _pipeline_services().values()}
    assert len(images) == 1, images
    (image,) = images
    assert image == f"orderflow-pipeline:{PYPROJECT['project']['version']}"
    helm_images = [d["image"] for d in USER_CODE] + [
        HELM["dagsterWebserver"]["image"],
        HELM["dagsterDaemon"]["image"],
    ]
    assert {f"{i['repository']}:{i['tag']}" for i in helm_images} == {image}
    # Every service that runs pipeline code uses it (the rest are Postgres and MinIO).
    assert set(_pipeline_services()) == {"code", "webserver", "daemon", "capture", "api"}


def test_storage_is_postgres_and_compose_and_helm_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres import DagsterPostgresStorage

    pg = PROD["storage"]["postgres"]["postgres_db"]
    names = set(_env_refs(PROD))
    assert {pg[k]["env"] for k in ("hostname", "port", "username", "password", "db_name")} <= names
    # Dagster's own validation: the instance schema, and the Postgres storage's config schema
    # (which resolves the env references; nothing connects here — tests/test_postgres_instance.py
    # runs the same file against a real server).
    for name in names:
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    dagster_instance_config(str(DEPLOY), "dagster.prod.yaml")
    assert validate_config(DagsterPostgresStorage.config_type(), PROD["storage"]["postgres"]).success

    # Every Dagster process in compose gets the variables the file references.
    for svc in ("code", "webserver", "daemon"):
        assert names <= set(SERVICES[svc]["environment"]), svc
    env = SERVICES["code"]["environment"]
    db = SERVICES["postgres"]
    assert env["DAGSTER_PG_HOST"] == "postgres" and "postgres" in SERVICES
    assert env["DAGSTER_PG_DB"] == db["environment"]["POSTGRES_DB"]
    assert env["DAGSTER_PG_USERNAME"] == db["environment"]["POSTGRES_USER"]
    assert env["DAGSTER_PG_PASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
    # Helm's rendered instance: same database, user, port and driver.
    hp = HELM["postgresql"]
    assert hp["postgresqlDatabase"] == env["DAGSTER_PG_DB"]
    assert hp["postgresqlUsername"] == env["DAGSTER_PG_USERNAME"]
    assert str(hp["service"]["port"]) == env["DAGSTER_PG_PORT"]
    assert hp["postgresqlScheme"] == pg["scheme"] == "postgresql+psycopg2"


def test_pools_runs_and_tag_limits_match() -> None:
    # Pools: the laptop's, unchanged, in the prod file and in Helm.
    assert PROD["concurrency"]["pools"] == LOCAL["concurrency"]["pools"]
    assert {_snake(k): v for k, v in HELM["concurrency"]["pools"].items()} == LOCAL["concurrency"]["pools"]
    assert HELM["concurrency"]["enabled"] is True
    # Runs: same limit everywhere; tag limits identical in the prod file and Helm.
    runs, helm_runs = PROD["concurrency"]["runs"], HELM["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == LOCAL["concurrency"]["runs"]["max_concurrent_runs"]
    assert helm_runs["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert helm_runs["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert runs["tag_concurrency_limits"], "no tag limits"
    # The queued coordinator, with its limits under `concurrency` only (Dagster and the chart
    # reject them in both places).
    assert PROD["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "config" not in PROD["run_coordinator"]
    rc = HELM["dagsterDaemon"]["runCoordinator"]
    assert (rc["enabled"], rc["type"], rc["config"]["queuedRunCoordinator"]) == (
        True,
        "QueuedRunCoordinator",
        {},
    )
    # Run monitoring: the laptop's timers in both.
    assert PROD["run_monitoring"] == LOCAL["run_monitoring"]
    helm_mon = HELM["dagsterDaemon"]["runMonitoring"]
    assert {_snake(k): v for k, v in helm_mon.items()} == LOCAL["run_monitoring"]
    assert PROD["telemetry"] == LOCAL["telemetry"] == HELM["telemetry"] == {"enabled": False}


def test_pools_and_limited_tags_are_the_codes() -> None:
    """The pools the prod file explains are the pools the assets take, and a tag limit with a
    value matches a tag the code really sets (a limit on a tag nobody sets limits nothing)."""
    from dagster import RunRequest, build_schedule_context

    from assets.automation.schedules import broksum_schedule
    from assets.definitions import build_defs

    defs = build_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    pools = {p for node in job.graph.node_defs for p in node.pools}
    assert pools == {"duckdb_writer", "footprint_build"}
    prod_text = (DEPLOY / "dagster.prod.yaml").read_text()
    assert all(f'"{p}"' in prod_text for p in pools)

    # 17:30 WIB on a trading day (10:30 UTC, Wednesday 2026-02-04).
    ctx = build_schedule_context(scheduled_execution_time=datetime(2026, 2, 4, 10, 30, tzinfo=timezone.utc))
    request = broksum_schedule(ctx)
    assert isinstance(request, RunRequest)
    for limit in PROD["concurrency"]["runs"]["tag_concurrency_limits"]:
        if isinstance(limit.get("value"), str):
            assert request.tags.get(limit["key"]) == limit["value"], limit


def _settings_read() -> set[str]:
    """The variables orderflow_pipeline/config.get_settings reads, found by running it on an
    environment that records every lookup."""
    from orderflow_pipeline.config import get_settings

    seen: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> str:
            seen.add(key)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            seen.add(str(key))
            return super().__contains__(key)

    get_settings(Recording())
    return seen


def _deploy_orderflow_vars() -> dict[str, str]:
    """Every ORDERFLOW_* name set in deploy/, with where."""
    found: dict[str, str] = {}
    for name, svc in SERVICES.items():
        for var in svc.get("environment") or {}:
            found.setdefault(var, f"compose {name}")
    for d in USER_CODE:
        for item in d.get("env") or []:
            found.setdefault(item["name"], "helm env")
    for line in ENV_EXAMPLE.splitlines():
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            found.setdefault(line.split("=", 1)[0], "orderflow.env.example")
    for var in re.findall(r"\bORDERFLOW_[A-Z0-9_]+", DOCKERFILE):
        found.setdefault(var, "Dockerfile")
    return {k: v for k, v in found.items() if k.startswith("ORDERFLOW_")}


def test_every_orderflow_variable_is_a_setting() -> None:
    known = {n for n in _settings_read() if n.startswith("ORDERFLOW_")}
    assert "ORDERFLOW_LAKE" in known  # the recorder sees lookups at all
    used = _deploy_orderflow_vars()
    unknown = {k: where for k, where in used.items() if k not in known}
    assert not unknown, f"deploy/ sets variables config.py does not read: {unknown}"
    # The multi-writer layout the issue asks for is what compose and Helm configure.
    for env in (SERVICES["code"]["environment"], {i["name"]: i["value"] for i in USER_CODE[0]["env"]}):
        assert env["ORDERFLOW_LAKE"].startswith("s3://")
        assert env["ORDERFLOW_WAREHOUSE"].startswith("ducklake:")
        assert env["ORDERFLOW_WAREHOUSE_DATA"].startswith("s3://")


def test_dockerfile_installs_prod_extra_under_the_lock() -> None:
    installs = [ln for ln in DOCKERFILE.splitlines() if "pip install" in ln]
    assert any("-c requirements.lock" in ln and ".[prod]" in ln for ln in installs), installs
    assert "COPY deploy/dagster.prod.yaml ${DAGSTER_HOME}/dagster.yaml" in DOCKERFILE
    # The extra holds what the instance and the launcher load, and the lock pins each of them.
    prod = {
        re.split(r"[<>=\[ ]", req, maxsplit=1)[0]
        for req in PYPROJECT["project"]["optional-dependencies"]["prod"]
    }
    assert {"dagster-postgres", "dagster-k8s", "psycopg2-binary"} <= prod
    lock = (ROOT / "requirements.lock").read_text()
    for pkg in prod:
        assert re.search(rf"^{re.escape(pkg)}==", lock, re.M), f"{pkg} not pinned in requirements.lock"


def test_compose_services_and_wiring() -> None:
    assert {"webserver", "daemon", "postgres", "minio", "capture", "api", "code"} <= set(SERVICES)
    (location,) = WORKSPACE["load_from"]
    grpc = location["grpc_server"]
    code_cmd = SERVICES["code"]["command"]
    assert grpc["host"] == "code"
    assert str(grpc["port"]) == code_cmd[code_cmd.index("-p") + 1]
    workspace_in_image = "/opt/dagster/workspace.yaml"
    assert f"COPY deploy/workspace.prod.yaml {workspace_in_image}" in DOCKERFILE
    for svc in ("webserver", "daemon"):
        cmd = SERVICES[svc]["command"]
        assert cmd[cmd.index("-w") + 1] == workspace_in_image, svc
    # `dagster dev` is for a laptop: the production layout runs the webserver and daemon apart.
    assert not any("dev" in (svc.get("command") or []) for svc in SERVICES.values())
    # The DuckLake catalog database the compose warehouse DSN names is created by the init script.
    dsn = SERVICES["code"]["environment"]["ORDERFLOW_WAREHOUSE"].split(":", 1)[1]
    params = dict(p.split("=", 1) for p in dsn.split())
    init = (DEPLOY / "postgres-init" / "10-warehouse.sql").read_text()
    assert f"CREATE DATABASE {params['dbname']};" in init
    assert params["host"] == "postgres"
