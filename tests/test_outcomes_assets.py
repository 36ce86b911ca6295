"""The signal_outcomes asset and outcomes_sensor on a real Dagster instance (temp DAGSTER_HOME)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import duckdb
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    SkipReason,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from test_outcomes import D1, D2, D3, candle, write_candles, write_summary_items

from assets.layers.outcomes import is_final, outcomes_sensor, signal_outcomes
from assets.resources import build_resources
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import load, schema

WIB = keys.WIB


def test_materialize_a_range(instance: DagsterInstance) -> None:
    s = get_settings()
    lake = Lake(s.lake)
    write_candles(lake, "AAA", [candle(D1, 0, 100, 102), candle(D2, 0, 103, 105), candle(D3, 0, 104, 99)])
    con = duckdb.connect(s.warehouse_target.location)
    schema.ensure_schema(con)
    for d in (D1, D2, D3):
        load.consolidate(lake, con, d)
        write_summary_items(lake, d, [{"t": "AAA", "sig": "BUY", "sc": 0.65}])
    con.close()
    res = materialize(
        [signal_outcomes],
        resources=build_resources(),
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: D1.isoformat(), ASSET_PARTITION_RANGE_END_TAG: D3.isoformat()},
    )
    assert res.success
    mats = res.asset_materializations_for_node("signal_outcomes")
    assert {m.partition for m in mats} == {D1.isoformat(), D2.isoformat(), D3.isoformat()}
    # each partition's own outcome figures (not the run's): D1 and D2 have their next session,
    # D3 not yet; nobody has 5 later sessions: none complete
    per = {m.partition: {k: v.value for k, v in m.metadata.items()} for m in mats}
    assert [per[d.isoformat()]["with_next"] for d in (D1, D2, D3)] == [1, 1, 0]
    assert not any(per[d.isoformat()]["complete"] for d in (D1, D2, D3))
    con = duckdb.connect(s.warehouse_target.location, read_only=True)
    try:
        # (105 - 102) / 102 * 100 on D1; (99 - 105) / 105 * 100 on D2
        rows = con.execute("SELECT date, ret_next_cc FROM signal_outcomes ORDER BY date").fetchall()
    finally:
        con.close()
    assert rows[0] == (D1, (105 - 102) / 102 * 100) and rows[1] == (D2, (99 - 105) / 105 * 100)
    assert rows[2] == (D3, None)
    assert lake.exists(keys.signal_outcomes_key(D3))


def test_is_final_only_after_the_post_trading_close() -> None:
    d = date(2026, 2, 20)
    at = lambda h, m: datetime(2026, 2, 20, h, m, tzinfo=WIB).timestamp()  # noqa: E731
    assert not is_final(d.isoformat(), at(10, 0)) and not is_final(d.isoformat(), at(16, 10))
    assert is_final(d.isoformat(), at(16, 15)) and is_final(d.isoformat(), at(18, 45))
    assert is_final("2026-02-19", at(10, 0))  # yesterday's summary rebuilt today is final


def summary_event(instance: DagsterInstance, d: date) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key="footprint_summary", partition=d.isoformat())
    )


def outcomes_event(instance: DagsterInstance, d: date, complete: bool) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(
            asset_key="signal_outcomes",
            partition=d.isoformat(),
            metadata={"complete": complete},
        )
    )


def test_sensor_requests_the_session_and_the_incomplete_ones_before_it(instance: DagsterInstance) -> None:
    s = date(2026, 2, 20)
    first = idx_calendar.trading_days(s - timedelta(days=45), s)[0]
    ctx = build_sensor_context(instance=instance, cursor=None)
    assert isinstance(outcomes_sensor(ctx), SkipReason)  # nothing materialized yet

    summary_event(instance, s)  # recorded "now" (after 2026-02-20 16:15 WIB): a final summary
    res = outcomes_sensor(build_sensor_context(instance=instance, cursor=None))
    (req,) = res.run_requests
    assert req.tags[ASSET_PARTITION_RANGE_START_TAG] == first.isoformat()  # nothing complete yet
    assert req.tags[ASSET_PARTITION_RANGE_END_TAG] == s.isoformat()

    # Sessions up to 5 before S complete: the range starts at the oldest still waiting.
    waiting = idx_calendar.previous_sessions(s, 5)[-1]
    for d in idx_calendar.trading_days(first, waiting - timedelta(days=1)):
        outcomes_event(instance, d, complete=True)
    outcomes_event(instance, waiting, complete=False)
    summary_event(instance, s)
    res2 = outcomes_sensor(build_sensor_context(instance=instance, cursor=res.cursor))
    (req2,) = res2.run_requests
    assert (req2.tags[ASSET_PARTITION_RANGE_START_TAG], req2.tags[ASSET_PARTITION_RANGE_END_TAG]) == (
        waiting.isoformat(),
        s.isoformat(),
    )
    assert req2.run_key != req.run_key
    # Nothing new since: skip.
    assert isinstance(
        outcomes_sensor(build_sensor_context(instance=instance, cursor=res2.cursor)), SkipReason
    )


def test_sensor_ignores_intraday_summaries(instance: DagsterInstance) -> None:
    today = datetime.now(timezone.utc).astimezone(WIB)
    if today.time() >= datetime.min.replace(hour=16, minute=15).time():
        # after today's close every summary of today is final; test with a future-dated partition
        d = today.date() + timedelta(days=1)
    else:
        d = today.date()
    summary_event(instance, d)
    res = outcomes_sensor(build_sensor_context(instance=instance, cursor=None))
    assert not res.run_requests and res.cursor is not None
