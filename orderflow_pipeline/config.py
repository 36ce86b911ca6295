"""One place that reads the environment (SPEC §3).

The CLI, the Dagster resources and the API all build their settings here, so a
variable means the same thing in every entry point and in tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    lake: str = "./data/lake"
    s3_endpoint_url: str | None = None
    duckdb_path: str = "./data/warehouse.duckdb"
    alert_webhook: str | None = None
    dagster_home: str = "./.dagster"
    # Below this many tickers in the warehouse for a date the summary is built from the lake (§11).
    min_warehouse_tickers: int = 200
    # Integrity floor for the warehouse ticker count (WARN, §11).
    min_warehouse_tickers_warn: int = 50
    storage_options: dict[str, object] = field(default_factory=dict)

    @property
    def is_s3(self) -> bool:
        return self.lake.startswith("s3://")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def get_settings() -> Settings:
    """Settings from the environment; relative paths are resolved against the working directory."""
    lake = _env("ORDERFLOW_LAKE", "./data/lake") or "./data/lake"
    if not lake.startswith(("s3://", "memory://", "file://")):
        lake = str(Path(lake).expanduser().resolve())
    duckdb_path = str(Path(_env("ORDERFLOW_DUCKDB", "./data/warehouse.duckdb") or "").expanduser().resolve())
    return Settings(
        lake=lake,
        s3_endpoint_url=_env("ORDERFLOW_S3_ENDPOINT_URL"),
        duckdb_path=duckdb_path,
        alert_webhook=_env("ORDERFLOW_ALERT_WEBHOOK"),
        dagster_home=str(Path(_env("DAGSTER_HOME", "./.dagster") or "").expanduser().resolve()),
        min_warehouse_tickers=int(_env("ORDERFLOW_MIN_WAREHOUSE_TICKERS", "200") or 200),
    )
