"""Read-side fallback chain for the summary (SPEC §11): L0 cache -> L1 recent sessions -> L2.

The API and `orderflow summary` call `resolve_summary`; it never raises for missing data or a
busy warehouse, because a trader's dashboard must degrade (FALLBACK, NO_DATA), not fail.

L1 computes a previous session with formula B from the warehouse (`summary.compute_range`).
DuckDB has one writer and a run may hold its lock for a while; then — or when the warehouse
does not exist yet — L1 reads the per-date summary files the pipeline left in the lake instead.
A date whose warehouse computation is empty also gets its lake file as a second chance (a date
summarised from the lake while the warehouse was sparse).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.summary.build import compute_range
from orderflow_pipeline.layers.summary.documents import (
    SummaryDocument,
    fallback_document,
    iso_utc,
    no_data_document,
)
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck, queries

log = logging.getLogger(__name__)

# L1 looks back this many previous *trading sessions* for a date with data (§11). Not the same
# rule as `context.MAX_CTX_AGE_SESSIONS` (how old smart-money context may be), though the SPEC
# sets both to 7: changing one does not change the other.
LOOKBACK_SESSIONS = 7
# SPEC §11 L2, word for word.
NO_DATA_MESSAGE = "No recent trading data found in last 7 days."


@dataclass(frozen=True)
class Resolved:
    """What the chain answered, and whether a writer held the warehouse while it looked (then a
    NO_DATA may only mean "busy": the API keeps serving its last good body instead)."""

    doc: SummaryDocument
    warehouse_busy: bool = False


def _has_items(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("items"), list) and len(doc["items"]) > 0


def _read_doc(lake: Lake, key: str) -> SummaryDocument | None:
    try:
        doc = lake.read_json(key)
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        log.warning("summary file %s unreadable: %s", key, exc)
        return None
    return doc if isinstance(doc, dict) else None  # type: ignore[return-value]


def l0_summary(lake: Lake, d: date | None = None) -> SummaryDocument | None:
    """L0: the newest summary (or date d's own file) when it exists with items, else None.

    The summary fallback sensor asks the same question to decide whether to rebuild."""
    doc = _read_doc(lake, keys.summary_key(d) if d else keys.SUMMARY_LATEST)
    return doc if _has_items(doc) else None


def resolve_summary(
    settings: Settings, date: date | str | None = None, now: datetime | None = None
) -> SummaryDocument:
    """The summary a reader should see now (SPEC §11), from the configured lake and warehouse."""
    return resolve(settings, date=date, now=now).doc


def resolve(settings: Settings, *, date: date | str | None = None, now: datetime | None = None) -> Resolved:
    """`resolve_summary` that also says whether the warehouse was busy (the API's cache uses it)."""
    return resolve_from(Lake.from_settings(settings), settings.warehouse_target, date=date, now=now)


def resolve_from(
    lake: Lake,
    target: str | duck.Target | None,
    *,
    date: date | str | None = None,
    now: datetime | None = None,
) -> Resolved:
    """`resolve` with the lake and warehouse target (or file path) given (tests, tools without
    Settings)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    asked = keys.as_date(date) if date is not None else None
    today = asked or idx_calendar.wib_date(now)

    # L0: the cache (or the asked date's own file).
    l0 = l0_summary(lake, asked)
    if l0 is not None:
        return Resolved({**l0, "status": "OK"})

    # L1: the previous trading sessions, newest first.
    sessions = idx_calendar.previous_sessions(today, LOOKBACK_SESSIONS)
    found, busy = _first_recent(lake, target, sessions, now)
    if found is not None:
        n, d, doc = found
        return Resolved(fallback_document(doc, d, n), busy)

    # L2: nothing usable.
    reason = "NO_DATA" if idx_calendar.is_trading_day(today) else "WEEKEND_NO_DATA"
    return Resolved(
        no_data_document(today, reason=reason, message=NO_DATA_MESSAGE, generated_at=iso_utc(now)), busy
    )


def _first_recent(
    lake: Lake, target: str | duck.Target | None, sessions: list[date], now: datetime
) -> tuple[tuple[int, date, SummaryDocument] | None, bool]:
    """((sessions ago, date, document) of the newest session with items, or None; warehouse busy)."""
    if not sessions:
        return None, False
    con, busy = _open_reader(target)
    try:
        for n, d in enumerate(sessions, start=1):
            doc: SummaryDocument | None = None
            if con is not None:
                try:
                    doc = compute_range(con, d, d, now=now)
                except Exception as exc:  # noqa: BLE001 - no table yet, lock lost, a bug: use the lake
                    log.warning("warehouse unusable for L1 (%s); reading lake summary files", exc)
                    con.close()
                    con = None
            if not _has_items(doc):
                doc = _read_doc(lake, keys.summary_key(d))
            if _has_items(doc):
                assert doc is not None
                return (n, d, doc), busy
        return None, busy
    finally:
        if con is not None:
            con.close()


def _open_reader(target: str | duck.Target | None) -> tuple[duckdb.DuckDBPyConnection | None, bool]:
    """(read-only connection or None, whether a writer held the lock)."""
    if not target:
        return None, False
    try:
        return duck.connect(target, read_only=True, retries=queries.READER_RETRIES), False
    except duck.WarehouseBusy as exc:
        log.info("warehouse busy (%s); L1 reads lake summary files", exc)
        return None, True
    except duck.WarehouseMissing as exc:
        log.info("warehouse not readable (%s); L1 reads lake summary files", exc)
        return None, False
    except duckdb.Error as exc:
        log.warning("warehouse open failed (%s); L1 reads lake summary files", exc)
        return None, False
