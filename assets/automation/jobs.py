"""The jobs the schedules and sensors start (SPEC §12): each a selection of the layer assets over
the trading-date partitions. Names are stable: run history, run keys and alerts refer to them."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job

from assets.partitions import trading_days

FOOTPRINT, WAREHOUSE, FEATURES, SUMMARY = (
    "footprint_ndjson",
    "footprint_1m",
    "daily_features",
    "footprint_summary",
)

intraday_job = define_asset_job(
    "intraday_job",
    selection=AssetSelection.assets(FOOTPRINT, WAREHOUSE, SUMMARY),
    partitions_def=trading_days,
    description="Today's tape -> footprint -> warehouse -> summary (every minute in market hours).",
)
eod_features_job = define_asset_job(
    "eod_features_job",
    selection=AssetSelection.assets(FEATURES, "ticker_universe"),
    partitions_def=trading_days,
    description="End-of-day smart-money features after broker summaries land, and the ticker "
    "universe (its completeness check names the tickers missing since the previous session).",
)
final_summary_job = define_asset_job(
    "final_summary_job",
    selection=AssetSelection.assets(SUMMARY),
    partitions_def=trading_days,
    description="The day's final summary, after the end-of-day features.",
)
warehouse_summary_job = define_asset_job(
    "warehouse_summary_job",
    selection=AssetSelection.assets(WAREHOUSE, SUMMARY),
    partitions_def=trading_days,
    description="Consolidate footprint files into the warehouse and rebuild the summary "
    "(footprint files landed upstream; coverage self-heal with source=lake).",
)
broksum_job = define_asset_job(
    "broksum_job",
    selection=AssetSelection.assets("raw_broksum"),
    partitions_def=trading_days,
    description="Fetch the day's broker summaries over the IPOT WebSocket (after the close).",
)
# What `orderflow materialize` and the demos launch (assets/runtime/range_runs.py): every layer but
# the IPOT fetch, which talks to the feed and has its own job and schedule. A `--layers` subset
# that is exactly one of the jobs above runs as that job; any other subset runs as this one.
materialize_layers = define_asset_job(
    "materialize_layers",
    selection=AssetSelection.all() - AssetSelection.assets("raw_broksum"),
    partitions_def=trading_days,
    description="Every layer for a range of trading dates in one run (orderflow materialize, make demo).",
)
JOBS = [
    materialize_layers,
    intraday_job,
    eod_features_job,
    final_summary_job,
    warehouse_summary_job,
    broksum_job,
]

defs = Definitions(jobs=JOBS)
