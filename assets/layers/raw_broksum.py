"""raw_broksum: the day's IPOT broker summaries, fetched after the close (issue 18, SPEC §8).

Was an AssetSpec source ("written by the upstream feed"); now the project fetches them itself:
`sources.ipot.broksum.fetch.fetch_broksum` asks `en_qu_top_bs` for both sides of every ticker that traded on
the date (footprint or tape), a few connections at a time, and writes `raw-broksum/{T}/{D}.json`
(never replacing a valid file with a worse one). `daily_features` depends on it over its
20-partition window. Scheduled at 17:30 WIB by `broksum_schedule` (after the 16:15 post-trading
close, an hour before `eod_features_schedule` at 18:30 reads the files).

Tickers that still fail after the retries are in the metadata and raise one alert per date; the
run fails only when the feed answered nothing at all (every ticker failed), so a handful of
missing names never holds back the day's features (their absence is `broksum_present`'s WARN).
"""

# No `from __future__ import annotations`: Dagster inspects the real context/resource types.
from datetime import date

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Backoff,
    Definitions,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from assets.automation.sensors._shared import settings_of
from assets.layers.metadata import report_partition
from assets.partitions import trading_days
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts
from orderflow_pipeline.config import get_settings

ASSET = "raw_broksum"


@asset(
    name=ASSET,
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS),
    group_name="sources",
    description="IPOT broker summaries raw-broksum/{T}/{date}.json, fetched over the IPOT WebSocket "
    "(en_qu_top_bs, both sides, merged per broker) for every ticker that traded on the date.",
)
def raw_broksum(
    context: AssetExecutionContext, lake: LakeResource, settings: SettingsResource
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    # imported here: the feed client (websockets) is needed by this asset's runs only, not by every
    # process that loads the definitions (`orderflow materialize` never runs this asset)
    from orderflow_pipeline.sources.ipot.broksum.fetch import FetchConfig, fetch_broksum

    lk = lake.get()
    # The feed's URL, token and date style are read here, at the code location, from the one
    # environment reader: SettingsResource does not carry them.
    cfg = FetchConfig.from_settings(get_settings())
    for d in sorted(date.fromisoformat(k) for k in context.partition_keys):
        res = fetch_broksum(lk, d, None, cfg)
        context.log.info(f"raw_broksum {d}: {res.as_dict()}")
        report_partition(
            context,
            d.isoformat(),
            {
                "tickers": res.tickers,
                "written": len(res.written),
                "unchanged": len(res.unchanged),
                "kept": len(res.kept),
                "failed": len(res.failed),
                "retried": res.retried,
                "failed_tickers": res.failed,
                "seconds": res.seconds,
            },
        )
        if res.failed:
            alerts.send_alert(
                settings_of(lake, settings),
                "broksum_fetch_failed",
                d.isoformat(),
                {
                    "text": f"fetch-broksum {d}: {len(res.failed)} of {res.tickers} tickers failed",
                    "failed": res.failed,
                },
                lake=lk,
            )
        if res.tickers and len(res.failed) == res.tickers:
            raise Failure(
                f"fetch-broksum {d}: every one of {res.tickers} tickers failed; first: "
                f"{next(iter(res.failed.items()))}",
                metadata={"failed": MetadataValue.json(res.failed)},
            )
    return MaterializeResult()


defs = Definitions(assets=[raw_broksum])
