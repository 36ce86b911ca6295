"""Resources chosen by deployment: the same env variables (SPEC §3) pick a local folder or S3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster import Backoff, ConfigurableResource, InitResourceContext, Jitter, RetryPolicy
from pydantic import PrivateAttr

from orderflow_pipeline.config import (
    DEFAULT_DASHBOARD_URL,
    MIN_WAREHOUSE_TICKERS,
    MIN_WAREHOUSE_TICKERS_WARN,
    Settings,
    get_settings,
)
from orderflow_pipeline.storage import run_cache
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.backend import parse_target
from orderflow_pipeline.warehouse.schema import ensure_schema

# Every asset that writes DuckDB takes this pool; dagster.yaml limits every pool to 1.
DUCKDB_POOL = "duckdb_writer"

# Every lake/S3 and DuckDB step retries (issue 19, SPEC §15): an object store that throttles or
# drops connections for longer than the S3 client's own retries (storage.s3.S3_MAX_ATTEMPTS), or a
# warehouse lock held a moment too long, costs a retry of the step, not a failed run and a page.
# Delays (Dagster: (2^n - 1) x delay, jitter +/- delay): ~1 s, ~3 s, ~7 s, each +/- 1 s, so runs
# retrying together do not hit the store in step. Only the last try's failure fails the run, and
# only a failed run alerts (run_failures.run_failure_alert_sensor), with the error and the tries.
IO_RETRY = RetryPolicy(max_retries=3, delay=1.0, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


class LakeResource(ConfigurableResource[Any]):
    root: str
    endpoint_url: str | None = None
    _lake: Lake | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # One lake per run (or sensor tick), the only place a run cache is made: on S3 its
        # listings and bodies are shared by the run's layers instead of re-fetched per date and
        # layer (storage/run_cache.py); a copy made outside a run (resource.get() in a script)
        # lists afresh every time. No teardown hook: it would make this a generator resource,
        # which `build_sensor_context(resources=...)` only accepts inside a `with` block; the
        # cache goes with this initialised copy of the resource when the run ends.
        self._lake = run_cache.for_run(self.root, endpoint_url=self.endpoint_url)

    def get(self) -> Lake:
        return self._lake or Lake(self.root, endpoint_url=self.endpoint_url)


class WarehouseResource(ConfigurableResource[Any]):
    """The warehouse (Settings.warehouse_target): `target` is `duckdb:<path>` or
    `ducklake:<dsn>`; `data`/`endpoint_url` are DuckLake's Parquet folder and its S3 endpoint."""

    target: str
    data: str | None = None
    endpoint_url: str | None = None

    def _target(self) -> duck.Target:
        return parse_target(self.target, data=self.data, endpoint_url=self.endpoint_url)

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with duck.writing(self._target()) as con:
            ensure_schema(con)
            yield con

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with duck.reading(self._target()) as con:
            yield con


class SettingsResource(ConfigurableResource[Any]):
    """Thresholds and hooks that are settings rather than formulas."""

    # The floor of the summary's warehouse fast path (with full coverage of the lake's tickers).
    min_warehouse_tickers: int = MIN_WAREHOUSE_TICKERS
    # The floor of the warehouse_min_tickers WARN (§11).
    min_warehouse_tickers_warn: int = MIN_WAREHOUSE_TICKERS_WARN
    alert_webhook: str | None = None
    signal_webhook: str | None = None
    dashboard_url: str = DEFAULT_DASHBOARD_URL
    # The `orderflow serve` whose live engine is reconciled and reported (ORDERFLOW_LIVE_API_URL).
    live_api_url: str | None = None


def build_resources(settings: Settings | None = None) -> dict[str, ConfigurableResource[Any]]:
    s = settings or get_settings()
    return {
        "lake": LakeResource(root=s.lake, endpoint_url=s.s3_endpoint_url),
        "warehouse": WarehouseResource(
            target=s.warehouse, data=s.warehouse_data, endpoint_url=s.s3_endpoint_url
        ),
        "settings": SettingsResource(
            min_warehouse_tickers=s.min_warehouse_tickers,
            min_warehouse_tickers_warn=s.min_warehouse_tickers_warn,
            alert_webhook=s.alert_webhook,
            signal_webhook=s.signal_webhook,
            dashboard_url=s.dashboard_url,
            live_api_url=s.live_api_url,
        ),
    }
