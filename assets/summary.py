"""The `footprint_summary` asset (SPEC §10, §11 writer side): thin, calls `summary.build_summary`.

It takes the DuckDB writer pool because the lake path self-heals the warehouse. Checks are
computed by `summary.checks` (the same code `GET /integrity` runs) and folded over the run's dates:
a backfill of many dates passes a check only when every date passes it.
"""

# no `from __future__ import annotations`: Dagster resolves the config and resource annotations at runtime

import time

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.check_results import fold_checks
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, LakeResource, SettingsResource, WarehouseResource
from orderflow_pipeline import summary
from orderflow_pipeline.checks import CheckOutcome

ASSET = "footprint_summary"
# (name, blocking): only "no items" blocks downstream (ERROR); the rest alert (WARN).
CHECKS: tuple[tuple[str, bool, str], ...] = (
    ("summary_has_items", True, "The summary of the date lists at least one ticker (ERROR, blocking)."),
    ("summary_scores_in_range", False, "Every sc within [0, 1]."),
    ("summary_signals_in_table", False, "Every sig is a signal of the SPEC §9 table."),
    ("summary_count_within_warehouse", False, "Item count ≤ the warehouse's distinct tickers for the date."),
    ("summary_matches_warehouse", False, "Summary totals agree with the warehouse for 5 sampled tickers."),
)


class SummaryConfig(Config):
    """Run config: `source: lake` rebuilds straight from the lake's footprint files (and heals)."""

    source: str | None = None


@asset(
    deps=[AssetKey("footprint_1m"), AssetKey("daily_features")],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    check_specs=[AssetCheckSpec(name, asset=ASSET, blocking=blocking, description=desc) for name, blocking, desc in CHECKS],
    group_name="summary",
    description="Scored, signalled line per ticker for a trading date (features/footprint-summary/{date}.json).",
)
def footprint_summary(
    context: AssetExecutionContext,
    config: SummaryConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    settings: SettingsResource,
) -> MaterializeResult:
    the_lake = lake.get()
    per_date: dict[str, dict[str, object]] = {}
    outcomes: dict[str, list[CheckOutcome]] = {}
    with warehouse.write() as con:
        for key in sorted(context.partition_keys):
            started = time.perf_counter()
            doc = summary.build_summary(
                the_lake, con, key, source=config.source, min_tickers=settings.min_warehouse_tickers
            )
            seconds = round(time.perf_counter() - started, 3)
            per_date[key] = {
                "items": doc["count"], "source": doc["source"], "ctx_date": doc["ctx_date"],
                "signals": summary.signal_counts(doc), "seconds": seconds,
            }
            outcomes[key] = summary.checks(the_lake, con, key)
            context.log.info(f"footprint_summary {key}: {per_date[key]}")
    last = per_date[max(per_date)]
    return MaterializeResult(
        metadata={
            "items": sum(int(v["items"]) for v in per_date.values()),  # type: ignore[call-overload]
            "signal_counts": MetadataValue.json(last["signals"]),
            "source": str(last["source"]),
            "ctx_date": str(last["ctx_date"]),
            "seconds": sum(float(v["seconds"]) for v in per_date.values()),  # type: ignore[arg-type]
            "dates": MetadataValue.json(per_date),
        },
        check_results=fold_checks("footprint_summary", (n for n, _, _ in CHECKS), outcomes),
    )


defs = Definitions(assets=[footprint_summary])
