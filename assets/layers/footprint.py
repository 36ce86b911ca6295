"""footprint_ndjson: trade tape -> 1-minute footprint hour files in the lake (SPEC §5, §6).

Thin on purpose: for each trading date of the run it calls `build_footprint` (which is
incremental via its own manifest, so the 5-minute schedule stays cheap) and reports metadata and
the layer's integrity checks (`layers/footprint/checks.py`). It writes no DuckDB; it takes its
own pool "footprint_build" (limit 1, dagster.yaml) so two builds of a date never run at once.
"""

from datetime import date
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Config,
    Definitions,
    MaterializeResult,
    asset,
)

from assets.checks.results import check_specs, fold_checks
from assets.layers.metadata import report_partition
from assets.partitions import trading_days
from assets.resources import IO_RETRY, LakeResource
from orderflow_pipeline import parallel
from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.footprint import checks as footprint_checks
from orderflow_pipeline.layers.footprint import manifest, minutes
from orderflow_pipeline.layers.footprint.result import FootprintResult
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.quarantine import quarantine_folder

raw_lt = AssetSpec(
    "raw_lt",
    partitions_def=trading_days,
    description="Trade tape raw_lt/{Y}/{M}/{D}/{HH}/*.jsonl (UTC hour folders), written by the upstream feed.",
    group_name="sources",
)


class FootprintConfig(Config):
    """Operator controls (the same as `orderflow materialize --force --tickers A,B`): `force`
    ignores the manifest and rebuilds the date; `tickers` rebuilds only those tickers' hour files
    and touches no other file."""

    force: bool = False
    tickers: list[str] | None = None


@asset(
    partitions_def=trading_days,
    deps=[raw_lt],
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=IO_RETRY,
    pool="footprint_build",
    # "no footprint files" is the ERROR of SPEC §11 that stops downstream layers (registry: checks.py).
    check_specs=check_specs(footprint.ASSET),
    group_name="footprint",
    description="1-minute footprint candles with price levels, footprint/{T}/1m/{Y}/{M}/{D}/{HH}.jsonl "
    "(built from the trade tape; upstream-landed hour files are validated and kept).",
)
def footprint_ndjson(
    context: AssetExecutionContext, config: FootprintConfig, lake: LakeResource
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    lk = lake.get()
    dates = sorted(date.fromisoformat(k) for k in context.partition_keys)
    per_date: dict[date, list[CheckOutcome]] = {}
    # Dates are independent: built on every core (one date per worker process at a time, so
    # memory stays that of a few days), reported here in date order; in-process on S3.
    # What the dates build from the tape is handed to the run's warehouse step (its rows, spooled),
    # so the warehouse does not read back the files written here.
    # S3: what each date's build asks for first (its manifest and minutes state, its tape and
    # quarantine listings), for every date in one concurrent batch, not a round trip each (a
    # single date, the schedule's, reads them in its own order: nothing to overlap)
    if len(dates) > 1:
        lk.prefetch(
            keys=[k for d in dates for k in (manifest.key(d), minutes.key(d))],
            prefixes=[p for d in dates for p in (*inventory.tape_prefixes(d), quarantine_folder(d))],
        )
    hand = lake.handover()
    workers = parallel.workers_for(lk.is_s3)
    # Worker processes take seconds to start: an unchanged re-run of many dates lists them here
    # (on S3 the work is in-process anyway, and a pre-check would cost a GET per manifest).
    if (
        workers != 1
        and len(dates) > 1
        and not any(footprint.has_work(lk, d, force=config.force, tickers=config.tickers) for d in dates)
    ):
        workers = 1
    # one date per core: each worker's DuckDB keeps to its share of the cores (build.connect)
    threads = parallel.threads_per_worker(workers, len(dates))
    jobs = [(lk, d, config.force, config.tickers, hand.folder if hand else None, threads) for d in dates]
    for d, (r, checked, handed) in zip(
        dates,
        parallel.ordered_map(footprint_checks.build_and_check, jobs, workers=workers),
        strict=True,
    ):
        if hand is not None:
            hand.put(handed)
        context.log.info(f"footprint {d}: {r.as_metadata()}")
        report_partition(context, d.isoformat(), partition_facts(r))
        per_date[d] = checked
    return MaterializeResult(check_results=fold_checks(footprint.ASSET, per_date))


def partition_facts(r: FootprintResult) -> dict[str, Any]:
    """What the date's materialization shows: the counters an operator reads first."""
    return {
        "tape_objects_read": r.tape_objects_read,
        "trades": r.trades,
        "candles_written": r.candles,
        "hour_files_written": r.hour_files_written,
        "quarantined": r.quarantined,
        "neutral_lots": r.neutral_lots,
        "total_lots": r.total_lots,
        "tickers": r.tickers,
        "neutral_share": round(r.neutral_share, 4),
        "seconds": r.seconds,
        # how the sides were decided (order numbers / tick rule / neutral) and the agreement of
        # the two rules; absent when the run loaded no tape (nothing new)
        **({"aggressor_quality": r.aggressor} if r.aggressor is not None else {}),
    }


defs = Definitions(assets=[raw_lt, footprint_ndjson])
