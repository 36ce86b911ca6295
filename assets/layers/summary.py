"""The `footprint_summary` asset (SPEC §10, §11 writer side): thin, calls `summary.build_summary`.

It takes the DuckDB writer pool because the lake path self-heals the warehouse: when the
warehouse holds fewer tickers than the minimum (or `source: lake` is asked for) the summary is
built from the lake and `footprint_1m` is consolidated from the same files. That write belongs to
`footprint_1m`, so the asset reports it as an `AssetMaterialization` of `footprint_1m` for the
date (objects and rows loaded, tickers after the heal — the metadata shape the warehouse asset
itself reports), which keeps lineage and the coverage sensor's view true.

Checks are computed by `summary.checks` (the same code `GET /integrity` runs) and folded over the
run's dates: a backfill of many dates passes a check only when every date passes it.
"""

# no `from __future__ import annotations`: Dagster resolves the config and resource annotations at runtime

import time
from datetime import date
from typing import Any

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    BackfillPolicy,
    Config,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.checks.results import check_specs, fold_checks
from assets.layers.metadata import report_partition
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, IO_RETRY, LakeResource, SettingsResource, WarehouseResource
from orderflow_pipeline.layers.summary import backfill
from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.layers.summary.documents import SummaryDocument
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.keys import summary_key
from orderflow_pipeline.warehouse import load, queries

ASSET = summary.ASSET

Manifest = summary.Manifest


class SummaryConfig(Config):
    """Run config: `source: lake` rebuilds straight from the lake's footprint files (and heals)."""

    source: str | None = None


def heal_facts(
    con: duckdb.DuckDBPyConnection, key: str, before: Manifest, after: Manifest
) -> dict[str, int] | None:
    """What a self-heal loaded into footprint_1m for date `key`, or None when it changed nothing.

    The warehouse's manifest records every object it loads (or quarantines) with its size and
    fingerprint, so the objects whose entry appeared or changed between `before` and `after` are
    exactly what the heal loaded; entries that disappeared are objects it removed."""
    loaded = {k: v for k, v in after.items() if before.get(k, (-1, ""))[:2] != v[:2]}
    removed = set(before) - set(after)
    if not loaded and not removed:
        return None
    return {
        "objects_read": len(loaded),
        "objects_removed": len(removed),
        "rows": sum(v[2] for v in loaded.values()),
        "quarantined": sum(v[3] for v in loaded.values()),
        "tickers": queries.tickers_for(con, key),
    }


def heal_materialization(key: str, facts: dict[str, Any]) -> AssetMaterialization:
    """The heal as a materialization of footprint_1m for the date, in the warehouse asset's own
    metadata shape (`tickers`, `per_date`), which the coverage sensor reads."""
    return AssetMaterialization(
        asset_key=AssetKey(load.ASSET),
        partition=key,
        description=f"self-heal by {ASSET}: the summary of {key} was built from the lake and "
        "the warehouse loaded what it missed",
        metadata={**facts, "healed_by": ASSET, "per_date": MetadataValue.json({key: facts})},
    )


@asset(
    deps=[AssetKey("footprint_1m"), AssetKey("daily_features")],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=IO_RETRY,
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
    docs: dict[date, SummaryDocument] = {}
    # S3: every date's previous document and check state in one concurrent batch
    the_lake.prefetch(
        [k for d in sorted(context.partition_keys) for k in (summary_key(d), summary.checked_key(d))]
    )
    with warehouse.write() as con:
        started = time.perf_counter()
        # every date of the run in one batch: each input gathered once, not once per date
        for d, built in backfill.build_many(
            the_lake,
            con,
            context.partition_keys,
            source=config.source,
            min_tickers=settings.min_warehouse_tickers,
        ):
            key = d.isoformat()
            doc = docs[d] = built.doc
            healed = heal_facts(con, key, *built.heal) if built.heal is not None else None
            if healed is not None:
                # the listing the heal brought the warehouse in line with (the lake sensor's check)
                digest = inventory.listing_digest(inventory.footprint_objects(the_lake, key).values())
                context.log_event(heal_materialization(key, {**healed, "listing_digest": digest}))
            facts = {
                "items": doc["count"],
                "signal_counts": summary.signal_counts(doc),
                "source": doc["source"],
                "ctx_date": doc["ctx_date"],
                "seconds": time.perf_counter() - started,  # this date's build and its share of the batch's
                "healed_objects": healed["objects_read"] if healed else 0,
            }
            started = time.perf_counter()
            report_partition(context, key, facts)
            context.log.info(f"footprint_summary {key}: {facts}")
        # on each date's document, i.e. the file's content (not read back)
        outcomes = {d.isoformat(): c for d, c in backfill.checks_many(the_lake, con, docs).items()}
    return MaterializeResult(check_results=fold_checks(ASSET, outcomes))


defs = Definitions(assets=[footprint_summary])
