"""HTTP API and dashboard (SPEC §10, §11 read side, §13).

The API computes nothing of its own: every number comes from the core function that the
pipeline also uses (`fallback.resolve_summary`, `summary.compute_range`, `warehouse.candles_for`,
`integrity.integrity_report`). What lives here is what only a server needs:

* input checks that turn every bad query into a 400 with a sentence a person can act on
  (FastAPI's 422 included) — a trader's typo must never look like an outage;
* read-only warehouse access that survives the single DuckDB writer: retry briefly, then answer
  from the lake (raw history, coverage) or from the last summary we served, never a 500;
* a few-second in-process cache of the summary body (JSON and gzip, ETag, If-None-Match → 304),
  because the dashboard and its many viewers poll the same document every minute.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

import duckdb
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import duck, idx_calendar, keys
from .config import Settings, get_settings
from .inventory import footprint_objects
from .lake import Lake

STATIC_DIR = Path(__file__).resolve().parent / "static"
SUMMARY_TTL_S = 5.0  # how long a served summary body is reused before the lake is looked at again
MAX_RANGE_DAYS = 90
MAX_CACHED_DATES = 16  # summary bodies kept in memory (newest + dates asked with ?date=)
READ_RETRIES = 6  # ≈1 s of backoff in duck.connect before a reader gives up on a busy warehouse
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
TICKER_PATTERN = keys.TICKER_RE.pattern


# --------------------------------------------------------------------------------------------
# Response models (OpenAPI at /docs). Bodies are served pre-serialised for speed; the models
# document them and the API tests validate real responses against them.
# --------------------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable kind: bad_request, warehouse_busy, not_found")
    detail: str = Field(description="what was wrong and how to fix it")


class SummaryItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    t: str = Field(description="ticker")
    d: float = Field(description="deltaPct, 2 dp")
    p: float = Field(description="pricePct, 2 dp")
    v: int = Field(description="lots traded")
    h: int
    l: int  # noqa: E741 - the §10 field name
    r: int = Field(description="high - low")
    f: float = Field(description="range / low * 100, 2 dp")
    div: float = Field(description="|d| / (1 + |p|), 2 dp")
    ctx_net: float | None = Field(None, description="context z_ngr; null without context")
    ctx_st: str | None = Field(None, description="context state; null without context")
    sc: float = Field(description="score, 3 dp")
    sig: str = Field(description="signal (§9)")
    vel: float | None = None
    vel_accel: float | None = None


class SummaryDoc(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: Literal["OK", "FALLBACK", "NO_DATA"]
    date: str | None = None
    generated_at: str | None = None
    source: str | None = None
    ctx_date: str | None = None
    ctx_found: bool | None = None
    count: int = 0
    reason: str | None = None
    message: str | None = None
    items: list[SummaryItem] = Field(default_factory=list)


class Level(BaseModel):
    p: int
    bv: int
    av: int


class Ohlc(BaseModel):
    o: int
    h: int
    l: int  # noqa: E741 - the §6 field name
    c: int


class Candle(BaseModel):
    model_config = ConfigDict(extra="allow")
    t0: int = Field(description="UTC epoch ms of the minute start")
    ohlc: Ohlc
    vol: int
    delta: int
    levels: list[Level] = Field(default_factory=list)


class RawHist(BaseModel):
    ticker: str
    date: str
    source: Literal["warehouse", "lake"]
    warehouse: Literal["ok", "busy", "missing"] = Field(description="why the lake was used, if it was")
    count: int
    candles: list[Candle]


class CoverageHour(BaseModel):
    hour_utc: int
    hour_wib: int
    lake: int = Field(description="tickers with a footprint file for this hour")
    warehouse: int | None = Field(description="tickers with rows in footprint_1m; null if unreadable")
    missing_in_warehouse: list[str]


class Coverage(BaseModel):
    date: str
    warehouse: Literal["ok", "busy", "missing"]
    lake_tickers: int
    warehouse_tickers: int | None
    missing_in_warehouse: list[str]
    hours: list[CoverageHour]


class HealthWarehouse(BaseModel):
    reachable: bool
    state: Literal["ok", "busy", "missing", "error"]
    newest_date: str | None = None
    tickers_on_newest: int | None = None
    detail: str | None = None


class HealthSummary(BaseModel):
    exists: bool
    date: str | None = None
    generated_at: str | None = None
    age_seconds: float | None = None
    count: int | None = None
    newest_dated_summary: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    now: str
    warehouse: HealthWarehouse
    summary: HealthSummary


class IntegrityReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    date: str
    status: str
    checks: list[dict[str, Any]]


class BadInput(ValueError):
    """A request the client can fix; always answered with 400."""


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input: the message says which parameter and why"},
}


# --------------------------------------------------------------------------------------------
# Input parsing
# --------------------------------------------------------------------------------------------
def parse_date(value: str | None, name: str = "date", *, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise BadInput(f"missing required query parameter '{name}' (YYYY-MM-DD)")
        return None
    try:
        d = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        d = None
    if d is None:
        raise BadInput(f"query parameter '{name}' is not a date (YYYY-MM-DD): {value!r}")
    lo, hi = idx_calendar.calendar_bounds()
    if not lo <= d <= hi:
        raise BadInput(f"query parameter '{name}' = {d} is outside the IDX calendar ({lo} to {hi})")
    return d


def parse_ticker(value: str | None, name: str = "kode") -> str:
    if value is None or value == "":
        raise BadInput(f"missing required query parameter '{name}' (ticker, e.g. BBRI)")
    try:
        return keys.check_ticker(value)
    except keys.InvalidTicker as exc:
        raise BadInput(f"query parameter '{name}': {exc}") from exc


def parse_range(start: str | None, end: str | None) -> tuple[date, date]:
    a = parse_date(start, "from")
    b = parse_date(end, "to")
    assert a is not None and b is not None
    if a > b:
        raise BadInput(f"'from' ({a}) is after 'to' ({b})")
    if (b - a).days > MAX_RANGE_DAYS:
        raise BadInput(f"range {a}..{b} spans {(b - a).days} days; at most {MAX_RANGE_DAYS} are allowed")
    return a, b


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where, name = (loc[0], loc[-1]) if loc else ("request", "?")
        if err.get("type") == "missing":
            parts.append(f"missing required {where} parameter '{name}'")
        elif err.get("type") == "string_pattern_mismatch":
            hint = "a date (YYYY-MM-DD)" if name in ("date", "from", "to") else f"a ticker matching {TICKER_PATTERN}"
            parts.append(f"{where} parameter '{name}' = {err.get('input')!r} is not {hint}")
        else:
            parts.append(f"invalid {where} parameter '{name}': {err.get('msg')}")
    return "; ".join(parts) or "invalid request"


# --------------------------------------------------------------------------------------------
# Summary cache
# --------------------------------------------------------------------------------------------
@dataclass
class CachedBody:
    body: bytes
    gz: bytes
    etag: str
    status: str
    l0_fingerprint: str | None
    expires: float


def encode_body(doc: dict[str, Any], l0_fingerprint: str | None, ttl: float) -> CachedBody:
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    return CachedBody(body, gzip.compress(body, 6, mtime=0), etag, str(doc.get("status")), l0_fingerprint,
                      time.monotonic() + ttl)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def _body_response(entry: CachedBody, request: Request, extra: dict[str, str] | None = None) -> Response:
    headers = {"ETag": entry.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding", **(extra or {})}
    if _etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(entry.gz, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(entry.body, media_type="application/json", headers=headers)


# --------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------
class Api:
    """Per-app state: settings (read lazily so importing the module reads no environment), the
    lake handle and the summary cache."""

    def __init__(self, settings: Settings | None, summary_ttl: float,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._settings = settings
        self.now = clock or (lambda: datetime.now(timezone.utc))
        self._lake: Lake | None = None
        self.summary_ttl = summary_ttl
        self.cache: dict[str, CachedBody] = {}
        self.locks: dict[str, asyncio.Lock] = {}

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
        with duck.reading(self.settings.duckdb_path, retries=READ_RETRIES) as con:
            yield con

    def l0_fingerprint(self) -> str | None:
        try:
            return self.lake.info(keys.SUMMARY_LATEST).fingerprint
        except FileNotFoundError:
            return None

    # -- summary ---------------------------------------------------------------------------
    def resolve(self, d: date | None) -> CachedBody:
        from .fallback import resolve_summary

        fp = self.l0_fingerprint() if d is None else None
        doc = resolve_summary(self.settings, date=d, now=self.now())
        return encode_body(doc, fp, self.summary_ttl)

    async def summary(self, d: date | None) -> tuple[CachedBody, bool]:
        """(body, stale). Within the TTL the body is reused as is; after it, an unchanged L0
        object (same fingerprint) only extends the TTL; anything else is resolved again."""
        key = d.isoformat() if d else ""
        if self.summary_ttl <= 0:  # cache off: every request walks the chain (tests, bench baseline)
            return await run_in_threadpool(self.resolve, d), False
        entry = self.cache.get(key)
        if entry and entry.expires > time.monotonic():
            return entry, False
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self.cache.get(key)
            now = time.monotonic()
            if entry and entry.expires > now:
                return entry, False
            if entry and d is None and entry.status == "OK" and entry.l0_fingerprint:
                fp = await run_in_threadpool(self.l0_fingerprint)
                if fp == entry.l0_fingerprint:
                    entry.expires = now + self.summary_ttl
                    return entry, False
            try:
                fresh = await run_in_threadpool(self.resolve, d)
            except duck.WarehouseBusy:
                if entry:  # a writer holds the warehouse: the last body we served beats an error
                    return entry, True
                raise
            self.cache[key] = fresh
            if len(self.cache) > MAX_CACHED_DATES:  # ?date= is client-chosen: keep memory bounded
                oldest = min((k for k in self.cache if k != key), key=lambda k: self.cache[k].expires)
                del self.cache[oldest]
                self.locks.pop(oldest, None)
            return fresh, False

    # -- raw history -----------------------------------------------------------------------
    def raw_hist(self, ticker: str, d: date) -> dict[str, Any]:
        state: Literal["ok", "busy", "missing"] = "ok"
        candles: list[dict[str, Any]] | None = None
        try:
            from .warehouse import candles_for

            with self.reading() as con:
                candles = candles_for(con, ticker, d)
        except duck.WarehouseBusy:
            state = "busy"
        except duck.WarehouseMissing:
            state = "missing"
        except duckdb.CatalogException:  # a warehouse file created but never consolidated
            state = "missing"
        source: Literal["warehouse", "lake"] = "warehouse"
        if not candles:
            lake_candles = lake_candles_for(self.lake, ticker, d)
            if lake_candles or candles is None:
                candles, source = lake_candles, "lake"
        candles = candles or []
        return {"ticker": ticker, "date": d.isoformat(), "source": source, "warehouse": state,
                "count": len(candles), "candles": candles}

    # -- coverage --------------------------------------------------------------------------
    def coverage(self, d: date) -> dict[str, Any]:
        hours = keys.footprint_hours_utc(d)
        wanted = {h: i for i, h in enumerate(hours)}
        lake_by_hour: dict[datetime, set[str]] = {h: set() for h in hours}
        for key in footprint_objects(self.lake, d):
            t, h = keys.parse_footprint_key(key)
            if h in wanted:
                lake_by_hour[h].add(t)
        state: Literal["ok", "busy", "missing"] = "ok"
        wh_by_hour: dict[datetime, set[str]] | None = {h: set() for h in hours}
        try:
            with self.reading() as con:
                rows = con.execute(
                    "SELECT DISTINCT ticker, time_key // 3600000 AS hr FROM footprint_1m WHERE date = ?", [d]
                ).fetchall()
            for t, hr in rows:
                h = datetime.fromtimestamp(int(hr) * 3600, tz=timezone.utc)
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
                "hour_utc": h.hour, "hour_wib": (h.hour + 7) % 24, "lake": len(lake_t),
                "warehouse": None if wh_t is None else len(wh_t),
                "missing_in_warehouse": sorted(lake_t - wh_t) if wh_t is not None else [],
            })
        lake_all = set().union(*lake_by_hour.values())
        wh_all = set().union(*wh_by_hour.values()) if wh_by_hour is not None else None
        return {"date": d.isoformat(), "warehouse": state, "lake_tickers": len(lake_all),
                "warehouse_tickers": None if wh_all is None else len(wh_all),
                "missing_in_warehouse": sorted(lake_all - wh_all) if wh_all is not None else [],
                "hours": out_hours}

    # -- health ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        now = self.now()
        wh: dict[str, Any] = {"reachable": False, "state": "error"}
        try:
            with self.reading() as con:
                newest = con.execute("SELECT max(date) FROM footprint_1m").fetchone()
                n = None
                if newest and newest[0] is not None:
                    n = con.execute("SELECT count(DISTINCT ticker) FROM footprint_1m WHERE date = ?",
                                    [newest[0]]).fetchone()[0]  # type: ignore[index]
                wh = {"reachable": True, "state": "ok",
                      "newest_date": newest[0].isoformat() if newest and newest[0] else None,
                      "tickers_on_newest": n}
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
                    "count": doc.get("count", len(doc.get("items") or []))}
        except FileNotFoundError:
            pass
        except (ValueError, AttributeError):
            summ = {"exists": True}
        dated = [k.rsplit("/", 1)[-1].removesuffix(".json") for k in self.lake.list("features/footprint-summary/")]
        summ["newest_dated_summary"] = max(dated) if dated else None
        ok = wh["state"] == "ok" and summ.get("exists", False)
        return {"status": "ok" if ok else "degraded", "now": now.isoformat().replace("+00:00", "Z"),
                "warehouse": wh, "summary": summ}


def lake_candles_for(lake: Lake, ticker: str, d: date) -> list[dict[str, Any]]:
    """The ticker's minute candles straight from its lake hour files (warehouse busy or missing).

    Lines go through the same validator as the warehouse load (`candles.validate_objects`), so a
    line the warehouse would quarantine is not drawn either.
    """
    wanted = [keys.footprint_key(ticker, h) for h in keys.footprint_hours_utc(d)]
    objects = lake.cat_many(wanted)
    if not objects:
        return []
    from .candles import validate_objects

    v = validate_objects(objects)
    cand = v.candles.to_pylist()
    levels: dict[int, list[dict[str, int]]] = {}
    for row in sorted(v.levels.to_pylist(), key=lambda r: (r["time_key"], r["price"])):
        levels.setdefault(int(row["time_key"]), []).append({"p": row["price"], "bv": row["bv"], "av": row["av"]})
    out = []
    for row in sorted(cand, key=lambda r: r["time_key"]):
        tk = int(row["time_key"])
        out.append({"t0": tk, "ohlc": {"o": row["open"], "h": row["high"], "l": row["low"], "c": row["close"]},
                    "vol": row["vol"], "delta": row["delta"], "levels": levels.get(tk, [])})
    return out


def create_app(settings: Settings | None = None, *, summary_ttl: float = SUMMARY_TTL_S,
               clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The API; `settings=None` reads the environment on first use (uvicorn target `app`).

    `clock` pins "now" (tests, replays): it decides which sessions the fallback chain looks at.
    """
    api = Api(settings, summary_ttl, clock)
    app = FastAPI(
        title="orderflow-pipeline API",
        version="0.1.0",
        description="IDX order-flow scanner: footprint summary (fallback chain), range scores, minute "
                    "history, diagnostics and integrity. Bad input is a 400 with a message, never a 500.",
    )
    app.state.api = api

    @app.exception_handler(BadInput)
    async def _bad_input(_: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "detail": _validation_message(exc)}, status_code=400)

    @app.exception_handler(duck.WarehouseBusy)
    async def _busy(_: Request, exc: duck.WarehouseBusy) -> JSONResponse:
        return JSONResponse({"error": "warehouse_busy", "detail": f"{exc}; retry in a few seconds"},
                            status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse({"error": kind, "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.get("/footprint/summary", response_model=SummaryDoc, tags=["summary"],
             responses={**ERRORS, 304: {"description": "unchanged (If-None-Match)"},
                        503: {"model": ErrorBody, "description": "warehouse busy and nothing cached"}})
    async def footprint_summary(
        request: Request,
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                           description="trading date; default = newest (L0 file)"),
    ) -> Response:
        """The summary for the dashboard: L0 file → L1 previous 7 sessions from the warehouse
        (FALLBACK) → L2 NO_DATA (SPEC §11)."""
        d = parse_date(date, required=False)
        entry, stale = await api.summary(d)
        return _body_response(entry, request, {"X-Stale": "1"} if stale else None)

    @app.get("/footprint/range", response_model=SummaryDoc, tags=["summary"],
             responses={**ERRORS, 503: {"model": ErrorBody, "description": "warehouse busy; retry"}})
    def footprint_range(
        from_: str | None = Query(None, alias="from", pattern=DATE_PATTERN, examples=["2026-02-09"],
                                    description="first date (YYYY-MM-DD)"),
        to: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"], description=f"last date; at most {MAX_RANGE_DAYS} days after 'from'"),
    ) -> Any:
        """Formula B over [from, to] from the warehouse (SPEC §9), in the §10 shape."""
        a, b = parse_range(from_, to)
        from .summary import compute_range

        try:
            with api.reading() as con:
                return compute_range(con, a, b, now=api.now())
        except (duck.WarehouseMissing, duckdb.CatalogException):
            return {"status": "NO_DATA", "date": b.isoformat(), "generated_at": None, "source": "warehouse",
                    "ctx_date": None, "ctx_found": False, "count": 0, "reason": "NO_DATA",
                    "message": "The warehouse has no data yet.", "items": []}

    @app.get("/footprint-raw-hist", response_model=RawHist, tags=["history"], responses=ERRORS)
    def footprint_raw_hist(
        kode: str | None = Query(None, pattern=TICKER_PATTERN, examples=["T001"], description="ticker, e.g. BBRI"),
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"], description="trading date (YYYY-MM-DD)"),
    ) -> Any:
        """One ticker's 1-minute candles with price levels: warehouse first, lake files when the
        warehouse is busy, missing or has no rows for the day."""
        t = parse_ticker(kode)
        d = parse_date(date)
        assert d is not None
        return api.raw_hist(t, d)

    @app.get("/diag/coverage", response_model=Coverage, tags=["diagnostics"], responses=ERRORS)
    def diag_coverage(
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"], description="trading date (YYYY-MM-DD)"),
    ) -> Any:
        """Tickers per UTC hour in the lake vs the warehouse, and which ones the warehouse misses."""
        d = parse_date(date)
        assert d is not None
        return api.coverage(d)

    @app.get("/integrity", response_model=IntegrityReport, tags=["diagnostics"], responses=ERRORS)
    def integrity(
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"], description="trading date (YYYY-MM-DD)"),
    ) -> Any:
        """Every layer's integrity checks for the date (SPEC §11), as the asset checks see them."""
        d = parse_date(date)
        from .integrity import integrity_report

        return integrity_report(api.settings, d, now=api.now())

    @app.get("/health", response_model=Health, tags=["diagnostics"])
    def health() -> Any:
        """Warehouse reachable? How old is the newest summary? Newest date in the warehouse."""
        return api.health()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


app = create_app()
