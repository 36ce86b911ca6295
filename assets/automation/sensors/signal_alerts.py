"""signal_alert_sensor: when a ticker's intraday signal becomes STRONG_BUY, TRAP_WARNING or
STRONG_SELL, one webhook POST per ticker, signal and day to ORDERFLOW_SIGNAL_WEBHOOK (issue 21).

Driven by the summary's materializations: each tick reads the `footprint_summary`
materializations recorded since its cursor (an event storage id), and for every one of today's
(WIB) partitions among them reads the date's summary file from the lake (never DuckDB: a run
holds its write lock most of the day) and announces the items whose signal is one of the three.

Why "today" only: the alert tells a trader something is happening now. A backfill of old dates
re-materializes their summaries too, and must not page about last month's signals.

Deduplication survives restarts and a lost cursor: what was sent lives in the lake under
`_state/signal-alerts/{date}.json` (`alerts.send_alert` with a per-date store, so the store of
problem alerts is not filled with signals and each day's object stays small). A ticker that
flips STRONG_BUY -> BUY -> STRONG_BUY on one day is announced once; the same signal the next day
is announced again. A delivery that fails is not recorded and its date is kept in the cursor,
so the next tick retries it even when no new materialization arrives.

The payload carries the §10 item as the summary holds it and a link that opens the dashboard on
that date with the ticker's footprint chart (`{ORDERFLOW_DASHBOARD_URL}/?date=D&ticker=T`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.automation.sensors._shared import Clock, load_cursor, settings_of, utc_now
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts, idx_calendar
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

ALERT_SIGNALS: tuple[str, ...] = ("STRONG_BUY", "TRAP_WARNING", "STRONG_SELL")
KIND = "signal"
# Materializations read per tick; a longer backlog is read over the next ticks.
FETCH_LIMIT = 500


def alert_key(d: str, ticker: str, sig: str) -> str:
    return f"{d}:{ticker}:{sig}"


def dashboard_link(base: str, d: str, ticker: str) -> str:
    """The dashboard on date d with the ticker's footprint chart open (app.js reads both)."""
    return f"{base.rstrip('/')}/?{urlencode({'date': d, 'ticker': ticker})}"


def signal_payload(doc: dict[str, Any], item: dict[str, Any], base: str) -> dict[str, Any]:
    d, t, sig = str(doc["date"]), str(item["t"]), str(item["sig"])
    return {
        "text": f"{t} {sig} on {d}: score {item.get('sc')}, delta {item.get('d')} %, "
        f"price {item.get('p')} %, context {item.get('ctx_st') or 'none'}",
        "date": d,
        "ticker": t,
        "signal": sig,
        "item": item,
        "link": dashboard_link(base, d, t),
        "summary_generated_at": doc.get("generated_at"),
        "summary_source": doc.get("source"),
    }


def announce(settings: Settings, lake: Lake, d: str) -> tuple[int, int]:
    """POST every not-yet-announced alerting item of date d's summary file.
    Returns (sent, failed); a missing or unreadable file sends nothing and is not a failure
    (the materialization that wrote it will be followed by another)."""
    try:
        doc = lake.read_json(keys.summary_key(d))
    except (FileNotFoundError, ValueError, OSError):
        return 0, 0
    if not isinstance(doc, dict) or str(doc.get("date")) != d:
        return 0, 0
    hook = dataclasses.replace(settings, alert_webhook=settings.signal_webhook)
    state_key = keys.signal_alerts_state_key(d)
    sent = failed = 0
    for item in doc.get("items") or []:
        sig = item.get("sig") if isinstance(item, dict) else None
        if sig not in ALERT_SIGNALS:
            continue
        key = alert_key(d, str(item["t"]), str(sig))
        payload = signal_payload(doc, item, settings.dashboard_url)
        if alerts.send_alert(hook, KIND, key, payload, lake=lake, state_key=state_key):
            sent += 1
        elif not alerts.already_alerted(hook, KIND, key, lake=lake, state_key=state_key):
            failed += 1  # not a duplicate: the delivery failed
    return sent, failed


def _partitions_since(context: SensorEvaluationContext, after: int | None) -> tuple[list[str], int | None]:
    """Partitions of the summary materializations after storage id `after` (first tick: the
    newest FETCH_LIMIT), and the newest storage id seen."""
    asset = AssetKey(summary.ASSET)
    if after is None:
        result = context.instance.fetch_materializations(asset, limit=FETCH_LIMIT, ascending=False)
    else:
        result = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset, after_storage_id=after), limit=FETCH_LIMIT, ascending=True
        )
    newest = after
    parts: list[str] = []
    for r in result.records:
        newest = max(newest or 0, r.storage_id)
        if r.partition_key:
            parts.append(r.partition_key)
    return parts, newest


def build_signal_alert_sensor(clock: Clock = utc_now) -> SensorDefinition:
    @sensor(
        name="signal_alert_sensor",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Today's summary: a ticker's signal becomes STRONG_BUY, TRAP_WARNING or "
        "STRONG_SELL -> one POST per ticker, signal and day to ORDERFLOW_SIGNAL_WEBHOOK.",
    )
    def signal_alert_sensor(
        context: SensorEvaluationContext, lake: LakeResource, settings: SettingsResource
    ) -> SensorResult:
        state = load_cursor(context.cursor)
        after = state.get("after")
        parts, newest = _partitions_since(context, int(after) if isinstance(after, int) else None)
        today = idx_calendar.wib_date(clock()).isoformat()
        retry: Sequence[str] = [d for d in state.get("retry") or [] if d == today]
        dates = sorted({p for p in parts if p == today} | set(retry))
        s, lk = settings_of(lake, settings), lake.get()
        sent = failed = 0
        still_failing = []
        for d in dates:
            ok, bad = announce(s, lk, d)
            sent, failed = sent + ok, failed + bad
            if bad:
                still_failing.append(d)
        cursor = json.dumps({"after": newest, "retry": still_failing})
        reason = (
            f"{len(parts)} summary materializations ({len(dates)} for today {today}): "
            f"{sent} signal alerts sent, {failed} failed (retried next tick)"
        )
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)

    return signal_alert_sensor


signal_alert_sensor = build_signal_alert_sensor()
