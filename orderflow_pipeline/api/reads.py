"""What the API reads, warehouse first and the lake when the warehouse is busy or missing.

Every number comes from the core function the pipeline also uses (`fallback.resolve`,
`warehouse.queries.candles_for` and the other warehouse readers, `candles.validate_objects`); this
module only chooses the source and says which one answered, so a single DuckDB writer never
turns into a 500 for a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any, Literal

import duckdb

from orderflow_pipeline import bounds, idx_calendar
from orderflow_pipeline.api.params import BadInput
from orderflow_pipeline.config import Settings, get_settings
from orderflow_pipeline.layers.footprint.candles import validate_objects
from orderflow_pipeline.layers.summary import scoring
from orderflow_pipeline.layers.summary.documents import Candle, candle
from orderflow_pipeline.read import bars, profile
from orderflow_pipeline.read.fallback import Resolved, resolve
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck, queries

WarehouseState = Literal["ok", "busy", "missing"]


class Reads:
    """Per-app state: settings (read lazily so importing the package reads no environment), the
    lake handle and the clock."""

    def __init__(self, settings: Settings | None, clock: Callable[[], datetime] | None = None) -> None:
        self._settings = settings
        self.now = clock or (lambda: datetime.now(timezone.utc))
        self._lake: Lake | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = Lake.from_settings(self.settings)
        return self._lake

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read-only warehouse connection; raises duck.WarehouseBusy / WarehouseMissing."""
        with queries.reading(self.settings.warehouse_target) as con:
            yield con

    # -- summary ---------------------------------------------------------------------------
    def l0_fingerprint(self) -> str | None:
        try:
            return self.lake.info(keys.SUMMARY_LATEST).fingerprint
        except FileNotFoundError:
            return None

    def resolve(self, d: date | None) -> Resolved:
        return resolve(self.settings, date=d, now=self.now())

    # -- raw history -----------------------------------------------------------------------
    def raw_hist(self, ticker: str, d: date) -> dict[str, Any]:
        state: WarehouseState = "ok"
        candles: list[Candle] | None = None
        try:
            with self.reading() as con:
                candles = queries.candles_for(con, ticker, d)
        except duck.WarehouseBusy:
            state = "busy"
        except (duck.WarehouseMissing, duckdb.CatalogException):  # CatalogException: never consolidated
            state = "missing"
        source: Literal["warehouse", "lake"] = "warehouse"
        if not candles:
            lake_candles = lake_candles_for(self.lake, ticker, d)
            if lake_candles or candles is None:
                candles, source = lake_candles, "lake"
        candles = candles or []
        return {"ticker": ticker, "date": d.isoformat(), "source": source, "warehouse": state,
                "count": len(candles), "candles": candles}  # fmt: skip

    # -- session chip ----------------------------------------------------------------------
    def session(self) -> dict[str, Any]:
        """The market's session state now (idx_calendar) and the newest minute of tape the
        warehouse holds, so a frozen screen (lunch, a stalled feed) says which it is."""
        now = self.now()
        newest: int | None = None
        newest_d: date | None = None
        state: WarehouseState = "ok"
        try:
            with self.reading() as con:
                newest_d, _ = queries.newest_date(con)
                if newest_d is not None:
                    newest = queries.scalar(
                        con, "SELECT max(time_key) FROM footprint_1m WHERE date = ?", [newest_d]
                    )
        except duck.WarehouseBusy:
            state = "busy"
        except (duck.WarehouseMissing, duckdb.CatalogException):
            state = "missing"
        tape = datetime.fromtimestamp(newest / 1000, tz=timezone.utc) if newest else None
        return {
            "now": now.isoformat().replace("+00:00", "Z"),
            "date": idx_calendar.wib_date(now).isoformat(),
            "trading_day": idx_calendar.is_trading_day(idx_calendar.wib_date(now)),
            "state": idx_calendar.session_state(now),
            "warehouse": state,
            "newest_tape_date": newest_d.isoformat() if newest_d else None,
            "newest_tape_t0": newest,
            "newest_tape_wib": tape.astimezone(keys.WIB).strftime("%H:%M") if tape else None,
        }

    # -- coverage --------------------------------------------------------------------------
    def coverage(self, d: date) -> dict[str, Any]:
        hours = keys.footprint_hours_utc(d)
        lake_by_hour: dict[datetime, set[str]] = {h: set() for h in hours}
        for key in footprint_objects(self.lake, d):
            t, h = keys.parse_footprint_key(key)
            if h in lake_by_hour:
                lake_by_hour[h].add(t)
        state: WarehouseState = "ok"
        wh_by_hour: dict[datetime, set[str]] | None = {h: set() for h in hours}
        try:
            with self.reading() as con:
                rows = queries.tickers_by_hour(con, d)
            for t, h in rows:
                if h in wh_by_hour:  # type: ignore[operator]
                    wh_by_hour[h].add(t)  # type: ignore[index]
        except duck.WarehouseBusy:
            state, wh_by_hour = "busy", None
        except (duck.WarehouseMissing, duckdb.CatalogException):
            state, wh_by_hour = "missing", None
        out_hours = []
        for h in hours:
            lake_t = lake_by_hour[h]
            wh_t = wh_by_hour[h] if wh_by_hour is not None else None
            if not lake_t and not wh_t:
                continue
            out_hours.append({
                "hour_utc": h.hour, "hour_wib": h.astimezone(keys.WIB).hour, "lake": len(lake_t),
                "warehouse": None if wh_t is None else len(wh_t),
                "missing_in_warehouse": sorted(lake_t - wh_t) if wh_t is not None else [],
            })  # fmt: skip
        lake_all: set[str] = set().union(*lake_by_hour.values())
        wh_all: set[str] | None = set().union(*wh_by_hour.values()) if wh_by_hour is not None else None
        return {"date": d.isoformat(), "warehouse": state, "lake_tickers": len(lake_all),
                "warehouse_tickers": None if wh_all is None else len(wh_all),
                "missing_in_warehouse": sorted(lake_all - wh_all) if wh_all is not None else [],
                "hours": out_hours}  # fmt: skip

    # -- health ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        now = self.now()
        wh: dict[str, Any] = {"reachable": False, "state": "error"}
        try:
            with self.reading() as con:
                newest, n = queries.newest_date(con)
            wh = {"reachable": True, "state": "ok", "newest_date": newest.isoformat() if newest else None,
                  "tickers_on_newest": n}  # fmt: skip
        except duck.WarehouseBusy as exc:
            wh = {"reachable": False, "state": "busy", "detail": str(exc)}
        except duck.WarehouseMissing as exc:
            wh = {"reachable": False, "state": "missing", "detail": str(exc)}
        except duckdb.Error as exc:
            wh = {"reachable": True, "state": "error", "detail": f"{type(exc).__name__}: {exc}"}
        summ: dict[str, Any] = {"exists": False}
        try:
            doc = self.lake.read_json(keys.SUMMARY_LATEST)
            gen = doc.get("generated_at")
            age = None
            if isinstance(gen, str):
                try:
                    age = round((now - datetime.fromisoformat(gen.replace("Z", "+00:00"))).total_seconds(), 1)
                except ValueError:
                    age = None
            summ = {"exists": True, "date": doc.get("date"), "generated_at": gen, "age_seconds": age,
                    "count": doc.get("count", len(doc.get("items") or []))}  # fmt: skip
        except FileNotFoundError:
            pass
        except (ValueError, AttributeError):
            summ = {"exists": True}
        dated = [
            k.rsplit("/", 1)[-1].removesuffix(".json") for k in self.lake.list("features/footprint-summary/")
        ]
        summ["newest_dated_summary"] = max(dated) if dated else None
        ok = wh["state"] == "ok" and summ.get("exists", False)
        return {"status": "ok" if ok else "degraded", "now": now.isoformat().replace("+00:00", "Z"),
                "warehouse": wh, "summary": summ}  # fmt: skip


def lake_candles_for(lake: Lake, ticker: str, d: date) -> list[Candle]:
    """The ticker's minute candles straight from its lake hour files (warehouse busy or missing).

    Lines go through the same validator as the warehouse load (`candles.validate_objects`), so a
    line the warehouse would quarantine is not drawn either.
    """
    wanted = [keys.footprint_key(ticker, h) for h in keys.footprint_hours_utc(d)]
    objects = lake.cat_many(wanted)
    if not objects:
        return []
    v = validate_objects(objects)
    levels: dict[int, list[tuple[int, int, int]]] = {}
    for row in sorted(v.levels.to_pylist(), key=lambda r: (r["time_key"], r["price"])):
        levels.setdefault(int(row["time_key"]), []).append((row["price"], row["bv"], row["av"]))
    return [
        candle(r["time_key"], r["open"], r["high"], r["low"], r["close"], r["vol"], r["delta"],
               levels.get(int(r["time_key"]), []))
        for r in sorted(v.candles.to_pylist(), key=lambda r: r["time_key"])
    ]  # fmt: skip


def hist_view(body: dict[str, Any], bar: int, ratio: float, min_lots: int) -> dict[str, Any]:
    """A `/footprint-raw-hist` answer from a body with minute `candles`: N-minute bars (so each
    bar's POC and imbalances are profile.py's own), profile and imbalance extras, chart extras.
    One shape for the batch route and the live one (`live_routes`), so the page draws both alike."""
    if bar not in bars.BAR_MINUTES:
        raise BadInput(f"query parameter 'bar' must be one of {bars.BAR_MINUTES} (minutes), got {bar}")
    body = dict(body)
    if bar != 1:
        body["candles"] = bars.resample(body["candles"], bar)
        body["count"] = len(body["candles"])
    body["bar"] = bar
    extras = profile.raw_hist_extras(body["candles"], ratio=ratio, min_lots=min_lots)
    return {**body, **extras, **chart_extras(body["candles"])}


def chart_extras(candles: list[Candle]) -> dict[str, Any]:
    """What the footprint chart needs besides the numbers: the IDX tick table (bounds.py's, so
    the page draws gridlines only on real ticks without a copy of it) and each bar's session
    state by its start (auction and post-trading bars are drawn as such)."""
    return {
        "ticks": {"edges": list(bounds.TICK_EDGES), "sizes": list(bounds.TICKS)},
        "phases": [
            idx_calendar.session_state(datetime.fromtimestamp(c["t0"] / 1000, tz=timezone.utc))
            for c in candles
        ],
    }


def explain(doc: dict[str, Any], asked: date | None) -> dict[str, Any]:
    """The served summary's "why": per item the rule that fired with its numbers
    (`scoring.fired_rule`), the legend of the signal table, and which date and formula answered.

    A FALLBACK computed from the warehouse is `summary.compute_range`'s range document (it carries
    `from`/`to`): formula B. A FALLBACK read from a per-date summary file, or an OK summary, was
    scored by the summary asset: formula A.
    """
    status = doc.get("status")
    formula = None if status == "NO_DATA" else ("B" if "from" in doc else "A")
    return {
        "status": status,
        "asked": asked.isoformat() if asked else None,
        "asked_trading_day": idx_calendar.is_trading_day(asked) if asked else None,
        "date": doc.get("date"),
        "formula": formula,
        "reason": doc.get("reason"),
        "legend": scoring.signal_legend(),
        "items": {it["t"]: scoring.fired_rule(it)["text"] for it in doc.get("items") or []},
    }
