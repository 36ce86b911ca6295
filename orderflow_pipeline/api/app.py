"""Routes of the HTTP API and dashboard (SPEC §10, §11 read side, §13), and `create_app`.

The API computes nothing of its own (see `reads`); what lives here is the wiring: every bad
query is a 400 (`params`), a busy warehouse with nothing to fall back on is a 503 with
Retry-After, never a 500, and the summary goes through the body cache (`cache`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api import exports, live_routes
from orderflow_pipeline.api.cache import SummaryCache, body_response
from orderflow_pipeline.api.models import (
    ERRORS,
    AggressorQuality,
    Coverage,
    ErrorBody,
    Health,
    IntegrityReport,
    LiquidityView,
    OutcomesReport,
    RangeProfile,
    RawHist,
    SessionState,
    SignalWhy,
    SummaryDoc,
)
from orderflow_pipeline.api.operator_routes import register as register_operator_routes
from orderflow_pipeline.api.params import (
    DATE_PATTERN,
    MAX_RANGE_DAYS,
    TICKER_PATTERN,
    BadInput,
    parse_date,
    parse_range,
    parse_ticker,
    require_date,
    validation_message,
)
from orderflow_pipeline.api.reads import Reads, explain, hist_view
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers import outcomes
from orderflow_pipeline.layers.footprint import aggressor_quality
from orderflow_pipeline.layers.summary.build import compute_range
from orderflow_pipeline.layers.summary.documents import no_data_document, range_document
from orderflow_pipeline.read import bars, export, profile
from orderflow_pipeline.read.integrity import integrity_report
from orderflow_pipeline.warehouse import duck, queries

# The dashboard ships as package data next to the package (pyproject [tool.setuptools.package-data]).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SUMMARY_TTL_S = 5.0  # how long a served summary body is reused before the lake is looked at again
# A writer's lock lasts one layer transaction (seconds); the 503 says when to come back. The body
# never carries the exception text: it names the warehouse file, which is no client's business.
RETRY_AFTER_S = 2


def create_app(
    settings: Settings | None = None,
    *,
    summary_ttl: float = SUMMARY_TTL_S,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The API; `settings=None` reads the environment on first use (uvicorn target `app`).

    `clock` pins "now" (tests, replays): it decides which sessions the fallback chain looks at.
    """
    reads = Reads(settings, clock)
    cache = SummaryCache(reads.resolve, reads.l0_fingerprint, summary_ttl)
    app = FastAPI(
        docs_url=None,  # FastAPI's own pages load Swagger UI / ReDoc from a CDN: `add_docs` instead
        redoc_url=None,
        title="orderflow-pipeline API",
        version="0.1.0",
        description="IDX order-flow scanner: footprint summary (fallback chain), range scores, minute "
                    "history, diagnostics and integrity. Bad input is a 400 with a message, never a 500.",
    )  # fmt: skip
    app.state.reads = reads
    app.state.summary_cache = cache

    @app.exception_handler(BadInput)
    async def _bad_input(_: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "detail": validation_message(exc)}, status_code=400)

    @app.exception_handler(duck.WarehouseBusy)
    async def _busy(_: Request, exc: duck.WarehouseBusy) -> JSONResponse:
        return JSONResponse({"error": "warehouse_busy", "detail": f"warehouse busy, retry in {RETRY_AFTER_S} s"},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse({"error": kind, "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip

    @app.get("/footprint/summary", response_model=SummaryDoc, tags=["summary"],
             responses={**ERRORS, 304: {"description": "unchanged (If-None-Match)"},
                        503: {"model": ErrorBody, "description": "warehouse busy and nothing cached"}})  # fmt: skip
    async def footprint_summary(
        request: Request,
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                                 description="trading date; default = newest (L0 file)"),
        format: Literal["json", "csv"] = Query("json", description="csv: the items, one row per ticker"),
    ) -> Response:  # fmt: skip
        """The summary for the dashboard: L0 file → L1 previous 7 sessions from the warehouse
        (FALLBACK) → L2 NO_DATA (SPEC §11)."""
        d = parse_date(date, required=False)
        entry, stale = await cache.get(d)
        if format == "csv":
            return exports.summary_csv_response(entry.body, stale)
        return body_response(entry, request, {"X-Stale": "1"} if stale else None)

    @app.get("/footprint/range", response_model=SummaryDoc, tags=["summary"],
             responses={**ERRORS, 503: {"model": ErrorBody, "description": "warehouse busy; retry"}})  # fmt: skip
    def footprint_range(
        from_: str | None = Query(None, alias="from", pattern=DATE_PATTERN, examples=["2026-02-09"],
                                  description="first date (YYYY-MM-DD)"),
        to: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                               description=f"last date; at most {MAX_RANGE_DAYS} days after 'from'"),
    ) -> Any:  # fmt: skip
        """Formula B over [from, to] from the warehouse (SPEC §9), in the §10 shape."""
        a, b = parse_range(from_, to)
        try:
            with reads.reading() as con:
                return compute_range(con, a, b, now=reads.now())
        except (duck.WarehouseMissing, duckdb.CatalogException):
            doc = no_data_document(b, reason="NO_DATA", message="The warehouse has no data yet.",
                                   generated_at=None, source="warehouse")  # fmt: skip
            return range_document(doc, a, b)

    @app.get("/footprint-raw-hist", response_model=RawHist, tags=["history"], responses=ERRORS)
    def footprint_raw_hist(
        kode: str | None = Query(None, pattern=TICKER_PATTERN, examples=["T001"], description="ticker, e.g. BBRI"),
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                                 description="trading date (YYYY-MM-DD)"),
        imb_ratio: float = Query(profile.IMBALANCE_RATIO, gt=0, le=1000, description="imbalance ratio"),
        imb_min: int = Query(profile.IMBALANCE_MIN_LOTS, ge=0, le=10**9,
                             description="minimum lots on both sides of an imbalance"),
        bar: int = Query(1, description=f"minutes per bar, one of {bars.BAR_MINUTES} (1 = the stored minutes)"),
    ) -> Any:  # fmt: skip
        """One ticker's 1-minute candles with price levels: warehouse first, lake files when the
        warehouse is busy, missing or has no rows for the day; plus the day's volume profile and
        each candle's profile and diagonal/stacked imbalances (`profile.raw_hist_extras`)."""
        return hist_view(reads.raw_hist(parse_ticker(kode), require_date(date)), bar, imb_ratio, imb_min)

    @app.get("/footprint/profile", response_model=RangeProfile, tags=["history"],
             responses={**ERRORS, 503: {"model": ErrorBody, "description": "warehouse busy; retry"}})  # fmt: skip
    def footprint_profile(
        kode: str | None = Query(None, pattern=TICKER_PATTERN, examples=["T001"], description="ticker"),
        from_: str | None = Query(None, alias="from", pattern=DATE_PATTERN, examples=["2026-02-09"]),
        to: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"]),
    ) -> Any:  # fmt: skip
        """One ticker's volume profile (POC, value area 70%, levels) over [from, to] from the
        warehouse's footprint_levels (a range as /footprint/range allows)."""
        t = parse_ticker(kode)
        a, b = parse_range(from_, to)
        try:
            with reads.reading() as con:
                totals, sessions = queries.level_totals(con, t, a, b)
        except duck.WarehouseMissing:
            totals, sessions = [], 0
        return {"ticker": t, "from": a.isoformat(), "to": b.isoformat(), "sessions": sessions,
                "profile": profile.range_profile(totals)}  # fmt: skip

    @app.get("/diag/coverage", response_model=Coverage, tags=["diagnostics"], responses=ERRORS)
    def diag_coverage(
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                                 description="trading date (YYYY-MM-DD)"),
    ) -> Any:  # fmt: skip
        """Tickers per UTC hour in the lake vs the warehouse, and which ones the warehouse misses."""
        return reads.coverage(require_date(date))

    @app.get("/integrity", response_model=IntegrityReport, tags=["diagnostics"], responses=ERRORS)
    def integrity(
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                                 description="trading date (YYYY-MM-DD)"),
    ) -> Any:  # fmt: skip
        """Every layer's integrity checks for the date (SPEC §11), as the asset checks see them."""
        return integrity_report(reads.settings, require_date(date), now=reads.now())

    @app.get("/aggressor-quality", response_model=AggressorQuality, tags=["diagnostics"], responses=ERRORS)
    def aggressor_quality_report(
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-18"],
                                 description="trading date (YYYY-MM-DD)"),
    ) -> Any:  # fmt: skip
        """How the date's trade sides were decided (order numbers, tick rule, neutral) and how
        often the tick rule agrees with the order-number side, from the date's whole tape."""
        d = require_date(date)
        if not idx_calendar.is_trading_day(d):
            raise BadInput(f"{d} is not an IDX trading day (weekend or exchange holiday)")
        return aggressor_quality.measure_day(reads.lake, d).as_dict()

    @app.get("/liquidity", response_model=LiquidityView, tags=["summary"])
    def liquidity_view() -> Any:
        """The liquid view the dashboard shows by default: the floor (`ORDERFLOW_MIN_TRADED_VALUE`)
        and the instrument kinds (`ORDERFLOW_LIQUID_KINDS`) applied to each item's `val` and `ins`."""
        return reads.settings.liquidity.as_dict()

    @app.get("/health", response_model=Health, tags=["diagnostics"])
    def health() -> Any:
        """Warehouse reachable? How old is the newest summary? Newest date in the warehouse? The
        live engine's state (it does not make the API degraded: outside market hours it has none)."""
        return {**reads.health(), "live": live_routes.health(app)}

    @app.get("/export/{table}.parquet", tags=["export"], response_class=StreamingResponse,
             responses={**ERRORS, 200: {"content": {exports.PARQUET_MEDIA_TYPE: {}},
                                        "description": "the rows as Parquet (DuckDB COPY), streamed"},
                        404: {"model": ErrorBody, "description": "table not materialized yet"},
                        503: {"model": ErrorBody, "description": "warehouse busy; retry"}})  # fmt: skip
    def export_parquet(
        table: str,
        from_: str | None = Query(None, alias="from", pattern=DATE_PATTERN, examples=["2026-02-09"]),
        to: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"]),
        tickers: str | None = Query(None, max_length=4000, examples=["BBRI,BBCA"],
                                    description="comma-separated tickers; default all"),
    ) -> Response:  # fmt: skip
        """footprint_1m, footprint_levels, daily_features or signal_outcomes rows dated
        [from, to] as a Parquet file (`export.py`)."""
        a, b = require_date(from_, "from"), require_date(to, "to")
        return exports.parquet_response(
            reads.settings.warehouse_target, table, a, b, export.parse_tickers(tickers)
        )

    @app.get("/signals/outcomes", tags=["signals"], response_model=OutcomesReport,
             response_model_exclude_unset=True,  # the baseline line has no baseline of its own
             responses={**ERRORS, 503: {"model": ErrorBody, "description": "warehouse busy; retry"}})  # fmt: skip
    def signals_outcomes(
        days: int = Query(outcomes.REPORT_DAYS, ge=1, le=250, description="sessions in the window"),
        to: str | None = Query(None, pattern=DATE_PATTERN, description="last session; default newest"),
        liquid: bool = Query(False, description="only items of the liquid view (GET /liquidity)"),
    ) -> Any:
        """Per signal over the last `days` sessions: count, next-day hit rate, mean/median
        return, 95% bootstrap interval of the mean, against NEUTRAL (`outcomes.rolling_report`)."""
        end = parse_date(to, "to", required=False)
        flt = reads.settings.liquidity if liquid else None
        try:
            with reads.reading() as con:
                return outcomes.rolling_report(con, days=days, end=end, liquidity=flt)
        except duck.WarehouseMissing:
            return outcomes.rolling_report(None, days=days, end=end, liquidity=flt)

    @app.get("/signals/why", response_model=SignalWhy, tags=["signals"], responses=ERRORS)
    async def signals_why(
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                                 description="as /footprint/summary: default = newest"),
    ) -> Any:  # fmt: skip
        """For the summary `/footprint/summary?date=` serves (the same cached body): per item the
        §9 rule that fired with its numbers, the rule legend, and which date and formula answered."""
        d = parse_date(date, required=False)
        entry, _ = await cache.get(d)
        return explain(json.loads(entry.body), d)

    @app.get("/session", response_model=SessionState, tags=["diagnostics"])
    def session() -> Any:
        """The IDX session state now (pre-open, session 1, lunch, session 2, pre-close, post,
        closed) and the newest minute of tape in the warehouse."""
        return reads.session()

    register_operator_routes(app, reads)
    live_routes.register(app, reads)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    add_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def add_docs(app: FastAPI) -> None:
    """`/docs` and `/redoc` on the vendored Swagger UI and ReDoc under static/vendor/ (their
    SOURCE files say which npm release): the docs work with no network, like the dashboard.
    Every URL the pages load is the app's own: no favicon, font or validator from elsewhere."""
    vendor = "/static/vendor"
    favicon = f"{vendor}/swagger-ui/favicon-32x32.png"
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} - Swagger UI", oauth2_redirect_url=oauth2_redirect,
            swagger_js_url=f"{vendor}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui/swagger-ui.css", swagger_favicon_url=favicon,
            # Swagger UI's default validator badge is an image from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )  # fmt: skip

    if oauth2_redirect:

        @app.get(oauth2_redirect, include_in_schema=False)
        def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{vendor}/redoc/redoc.standalone.js", redoc_favicon_url=favicon,
            with_google_fonts=False,
        )  # fmt: skip
