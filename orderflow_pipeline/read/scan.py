"""One ticker's gap scan over its last N trading days (the seed's `/integrity-scan`, issue 19).

`orderflow scan` and `GET /integrity-scan` answer the on-call question "where is this ticker's
history broken?" layer by layer, for every date on which the tape mentions the ticker:

- `footprint`: an hour file is missing for a UTC hour in which the tape has the ticker's trades;
- `warehouse`: `footprint_1m` lacks minutes that the ticker's hour files hold (or, for an hour
  whose file is missing too, has no row in that hour at all);
- `broksum`: `raw-broksum/{T}/{date}.json` does not exist (it lands after the close, so today's
  is missing during the session).

Which hours the tape has comes from the footprint manifest (`objects[key].hours`, written when
the layer read the object) for every tape object whose fingerprint it recorded; only objects it
has not seen (footprint never built, or the object changed) are parsed, and only those whose
bytes mention the ticker. So a scan of a built lake reads 90 small manifests, the ticker's hour
files and one warehouse query, and a scan of an unbuilt lake still finds the footprint gaps.

A report without gaps for a ticker nothing has ever heard of would read as "history intact" for a
typo, so `scan_known` (the CLI's) says the ticker is unknown instead: known is listed in the
packaged IDX snapshot or the universe, or holding anything in the lake or the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Literal, TypedDict

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.footprint import manifest as footprint_manifest
from orderflow_pipeline.layers.footprint import tape
from orderflow_pipeline.layers.footprint.candles import validate_objects
from orderflow_pipeline.layers.universe import snapshot_tickers
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.lake import Blob, Lake, ObjectInfo
from orderflow_pipeline.warehouse import duck, queries

Layer = Literal["footprint", "warehouse", "broksum"]
LAYERS: tuple[Layer, ...] = ("footprint", "warehouse", "broksum")
DEFAULT_DAYS = 90
MAX_DAYS = 366


class UnknownTicker(ValueError):
    """No source the project reads knows the ticker (a typo, not a clean history)."""


class Gap(TypedDict):
    date: str
    layer: Layer
    detail: str


# "from" is a keyword, hence the functional form.
ScanReport = TypedDict("ScanReport", {"ticker": str, "from": str, "to": str, "days": int, "gaps": list[Gap]})


def scan_window(to: date, days: int) -> list[date]:
    """The `days` trading days ending on `to` (inclusive when `to` trades), oldest first."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be within 1..{MAX_DAYS}, got {days}")
    own = [to] if idx_calendar.is_trading_day(to) else []
    return sorted([*own, *idx_calendar.previous_sessions(to, days - len(own))])


def _hours_from_tape(lake: Lake, d: date, ticker: str, unseen: Iterable[str]) -> set[int]:
    """UTC hour starts (epoch ms) of the ticker's regular-board trades in tape objects the
    manifest has not recorded: parsed with the footprint layer's own parser (`tape.load_tape`)."""
    needle = f"|{ticker}|".encode()
    bodies: list[Blob] = []
    for key, blob in lake.map_many(list(unseen)).items():
        try:
            text = tape.object_text(key, blob)
        except tape.BadObject:
            continue  # quarantined by the footprint layer; no trade of it can be expected
        if needle in bytes(text):
            bodies.append(text)
    if not bodies:
        return set()
    con = duckdb.connect()
    try:
        tape.load_tape(con, d, bodies)
        return {h for pairs in tape.hours_by_object(con, d).values() for t, h in pairs if t == ticker}
    finally:
        con.close()


def tape_hours(lake: Lake, d: date, ticker: str, objects: Mapping[str, ObjectInfo]) -> set[datetime]:
    """UTC hour starts in which the tape of `d` has the ticker's regular-board trades."""
    by_hh = {f"{h:%H}": h for h in keys.footprint_hours_utc(d)}
    man = footprint_manifest.load(lake, d)
    seen = man.get("objects", {})
    hours: set[datetime] = set()
    unseen: list[str] = []
    for key, info in objects.items():
        entry = seen.get(key)
        if entry is None or entry.get("fp") != info.fingerprint:
            unseen.append(key)
            continue
        hours.update(by_hh[hh] for hh, tickers in entry.get("hours", {}).items() if ticker in tickers)
    if unseen:
        for ms in _hours_from_tape(lake, d, ticker, unseen):
            hours.add(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))
    return hours


def _hh(hours: Iterable[datetime]) -> str:
    return ", ".join(f"{h:%H}" for h in sorted(hours))


def _date_gaps(
    lake: Lake, d: date, ticker: str, hours: set[datetime], wh_minutes: set[int], has_broksum: bool
) -> list[Gap]:
    gaps: list[Gap] = []
    iso = d.isoformat()
    wanted = {keys.footprint_key(ticker, h): h for h in hours}
    files = lake.cat_many(wanted)
    missing_files = {h for k, h in wanted.items() if k not in files}
    if missing_files:
        gaps.append({"date": iso, "layer": "footprint",
                     "detail": f"no hour file for UTC hour(s) {_hh(missing_files)} although the tape "
                               f"has {ticker} trades there (e.g. {keys.footprint_key(ticker, min(missing_files))})"})  # fmt: skip
    expected = (
        {int(t) for t in validate_objects(files).candles.column("time_key").to_pylist()} if files else set()
    )
    lost = expected - wh_minutes
    wh_hours = {t // 3_600_000 for t in wh_minutes}
    empty_hours = {h for h in missing_files if int(h.timestamp()) // 3600 not in wh_hours}
    if lost or empty_hours:
        parts = []
        if lost:
            lost_hours = {datetime.fromtimestamp(t // 3_600_000 * 3600, tz=timezone.utc) for t in lost}
            parts.append(f"{len(lost)} of {len(expected)} minutes of the hour files are not in footprint_1m "
                         f"(UTC hour(s) {_hh(lost_hours)})")  # fmt: skip
        if empty_hours:
            parts.append(f"no footprint_1m row in UTC hour(s) {_hh(empty_hours)} (hour file missing too)")
        gaps.append({"date": iso, "layer": "warehouse", "detail": "; ".join(parts)})
    if not has_broksum:
        gaps.append({"date": iso, "layer": "broksum",
                     "detail": f"{keys.broksum_key(ticker, d)} does not exist"})  # fmt: skip
    return gaps


def warehouse_minutes(target: str | duck.Target, ticker: str, window: list[date]) -> dict[date, set[int]]:
    """The ticker's footprint_1m minutes over the window, from one short read-only connection
    (closed before the lake is scanned, so a writer is never kept waiting on the scan); {} when
    the warehouse does not exist yet. A busy warehouse raises duck.WarehouseBusy."""
    if not window:
        return {}
    try:
        with queries.reading(target) as con:
            return queries.ticker_minutes(con, ticker, window[0], window[-1])
    except (duck.WarehouseMissing, duckdb.CatalogException):
        return {}


def scan(
    lake: Lake, target: str | duck.Target, ticker: str, to: date, days: int = DEFAULT_DAYS
) -> ScanReport:
    """`scan_ticker` against the configured warehouse (`orderflow scan`, `GET /integrity-scan`)."""
    keys.check_ticker(ticker)
    return scan_ticker(lake, warehouse_minutes(target, ticker, scan_window(to, days)), ticker, to, days)


def known_ticker(lake: Lake, ticker: str, minutes: Mapping[date, set[int]]) -> bool:
    """Listed (IDX snapshot, the universe's lake file), or with footprint files or broker
    summaries in the lake, or with warehouse `minutes`; the cheap sources are asked first."""
    if ticker in snapshot_tickers() or any(minutes.values()):
        return True
    try:
        universe = lake.read_json(keys.UNIVERSE_KEY)
    except (FileNotFoundError, ValueError):
        universe = {}
    rows = universe.get("tickers", []) if isinstance(universe, dict) else []
    if any(isinstance(r, dict) and r.get("ticker") == ticker for r in rows):
        return True
    return bool(lake.list(f"footprint/{ticker}/") or lake.list(f"raw-broksum/{ticker}/"))


def scan_known(
    lake: Lake, target: str | duck.Target, ticker: str, to: date, days: int = DEFAULT_DAYS
) -> ScanReport:
    """`scan`, raising UnknownTicker when there is no gap because nothing knows the ticker (a
    gap means the tape mentions it, so only a report without gaps needs the question)."""
    keys.check_ticker(ticker)
    minutes = warehouse_minutes(target, ticker, scan_window(to, days))
    report = scan_ticker(lake, minutes, ticker, to, days)
    if not report["gaps"] and not known_ticker(lake, ticker, minutes):
        raise UnknownTicker(
            f"unknown ticker {ticker}: not in the IDX snapshot or the universe, nothing in the lake "
            "or the warehouse"
        )
    return report


def scan_ticker(
    lake: Lake, minutes: Mapping[date, set[int]], ticker: str, to: date, days: int = DEFAULT_DAYS
) -> ScanReport:
    """The gap report `{"ticker", "from", "to", "days", "gaps"}` for `ticker` over the `days`
    trading days ending on `to`; `minutes` = its warehouse minutes per date ({} = no warehouse).

    Gaps are sorted by date, then layer name; a date whose tape never mentions the ticker has none.
    """
    keys.check_ticker(ticker)
    window = scan_window(to, days)
    broksum_dates = {k.rsplit("/", 1)[-1].removesuffix(".json") for k in lake.list(f"raw-broksum/{ticker}/")}
    gaps: list[Gap] = []
    for d in window:
        objects = tape_objects(lake, d)
        if not objects:
            continue
        hours = tape_hours(lake, d, ticker, objects)
        if hours:
            gaps.extend(
                _date_gaps(lake, d, ticker, hours, minutes.get(d, set()), d.isoformat() in broksum_dates)
            )
    gaps.sort(key=lambda g: (g["date"], g["layer"]))
    return {
        "ticker": ticker,
        "from": window[0].isoformat() if window else to.isoformat(),
        "to": to.isoformat(),
        "days": days,
        "gaps": gaps,
    }
