"""The `footprint_summary` asset (SPEC §10, §11 writer side): thin, calls `summary.build_summary`.

It takes the DuckDB writer pool because the lake path self-heals the warehouse. Checks are
computed by `summary.checks` (the same code `GET /integrity` runs) and folded over the run's dates:
a backfill of many dates passes a check only when every date passes it.
"""

# no `from __future__ import annotations`: Dagster resolves the config and resource annotations at runtime

import time
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.check_results import check_specs, fold_checks
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, LakeResource, SettingsResource, WarehouseResource
from orderflow_pipeline import summary
from orderflow_pipeline.checks import CheckOutcome

ASSET = summary.ASSET


class SummaryConfig(Config):
    """Run config: `source: lake` rebuilds straight from the lake's footprint files (and heals)."""

    source: str | None = None


@asset(
    deps=[AssetKey("footprint_1m"), AssetKey("daily_features")],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    # Only "no items" blocks downstream (ERROR); the rest alert (WARN). Registry: checks.py.
    check_specs=check_specs(ASSET),
    group_name="summary",
    description="Scored, signalled line per ticker for a trading date (features/footprint-summary/{date}.json).",
)
def footprint_summary(
    context: AssetExecutionContext,
    config: SummaryConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    settings: SettingsResource,
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    the_lake = lake.get()
    per_date: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, list[CheckOutcome]] = {}
    with warehouse.write() as con:
        for key in sorted(context.partition_keys):
            started = time.perf_counter()
            doc = summary.build_summary(
                the_lake, con, key, source=config.source, min_tickers=settings.min_warehouse_tickers
            )
            seconds = round(time.perf_counter() - started, 3)
            per_date[key] = {
                "items": doc["count"],
                "source": doc["source"],
                "ctx_date": doc["ctx_date"],
                "signals": summary.signal_counts(doc),
                "seconds": seconds,
            }
            outcomes[key] = summary.checks(the_lake, con, key)
            context.log.info(f"footprint_summary {key}: {per_date[key]}")
    last = per_date[max(per_date)]
    return MaterializeResult(
        metadata={
            "items": sum(int(v["items"]) for v in per_date.values()),
            "signal_counts": MetadataValue.json(last["signals"]),
            "source": str(last["source"]),
            "ctx_date": str(last["ctx_date"]),
            "seconds": sum(float(v["seconds"]) for v in per_date.values()),
            "dates": MetadataValue.json(per_date),
        },
        check_results=fold_checks(ASSET, outcomes),
    )


defs = Definitions(assets=[footprint_summary])
