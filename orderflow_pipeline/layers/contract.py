"""What a layer is, and the one registry of the layers.

A layer is what becomes one Dagster asset over the trading-date partitions. The integrity report
(`read/integrity.py`, behind `orderflow check` and `GET /integrity`), the asset checks and the
jobs treat every layer alike, so every layer exposes the same things:

- **`ASSET`**, a module constant: the asset's name, spelled once in the core; the asset module,
  the check registry (`checks.REGISTRY`) and the jobs take it from there.
- **A build function** in the same module (`build_footprint`, `consolidate`,
  `build_daily_features`, `build_summary`, `update_universe`, `build_outcomes`) over the lake and,
  when the layer writes the warehouse, a connection, for one date or a range of dates, with
  operator controls as keywords (`force`, `tickers`, `source`). It is incremental by the
  fingerprints of its inputs and says in its docstring what invalidates its state. Its signature
  differs by layer (what it reads and which controls apply), so it is not part of the protocol.
- **`checks(lake, con, d) -> list[CheckOutcome]`** for one date, where `con` is a read connection
  or `None` (warehouse busy or missing: only the lake checks run). Every check is declared once in
  `checks.REGISTRY`. A layer whose checks crash shows in the report as one failed
  `<name>_checks_ran` outcome, never as a missing report. `signal_outcomes` has no checks.
- **Result metadata**: the build returns what the asset reports on its materialization (counts,
  seconds, quarantined lines) and sensors read: a result dataclass with `as_metadata()`
  (`metadata()` for daily_features; the summary document itself for footprint_summary).

`ASSET` and the build live in the layer's home module, `checks` there too or in a `checks` module
beside it (footprint, warehouse). `LAYERS` below names both, and looks `checks` up on its module
at call time: the module's function is the one truth, so replacing it (a test's fault injection)
replaces it for every caller of the registry as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

import duckdb

from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers import outcomes, smart_money, universe
from orderflow_pipeline.layers.footprint import build as footprint_build
from orderflow_pipeline.layers.footprint import checks as footprint_checks
from orderflow_pipeline.layers.summary import build as summary_build
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import checks as warehouse_checks
from orderflow_pipeline.warehouse import load as warehouse_load


@runtime_checkable
class AssetModule(Protocol):
    """The module that owns a layer's asset name (and its build)."""

    ASSET: str


@runtime_checkable
class ChecksModule(Protocol):
    """The module that owns a layer's integrity checks for one date."""

    def checks(
        self, lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str
    ) -> list[CheckOutcome]: ...


@runtime_checkable
class Layer(Protocol):
    """A layer as the integrity report and the assets see it."""

    @property
    def name(self) -> str:
        """Keys the layer in reports: the `<name>_checks_ran` outcome when its checks crash."""
        ...

    @property
    def asset(self) -> str: ...

    def checks(
        self, lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str
    ) -> list[CheckOutcome]: ...


@dataclass(frozen=True)
class ModuleLayer:
    """A layer made of its home module (`ASSET`, build) and the module holding its `checks`."""

    name: str
    home: AssetModule
    checks_in: ChecksModule | None  # None: the layer has no checks of its own

    @property
    def asset(self) -> str:
        return self.home.ASSET

    def checks(self, lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str) -> list[CheckOutcome]:
        if self.checks_in is None:
            return []
        return self.checks_in.checks(lake, con, d)


# In run order; the integrity report lists the layers' outcomes in this order.
LAYERS: tuple[ModuleLayer, ...] = (
    ModuleLayer("footprint", footprint_build, footprint_checks),
    ModuleLayer("warehouse", warehouse_load, warehouse_checks),
    ModuleLayer("smart_money", smart_money, smart_money),
    ModuleLayer("summary", summary_build, summary_build),
    ModuleLayer("universe", universe, universe),
    ModuleLayer("outcomes", outcomes, None),
)
