"""Routes of the HTTP API and dashboard (SPEC §10, §11 read side, §13), and `create_app`.

The API computes nothing of its own (see `reads`); what lives here is the wiring: every bad
query is a 400 (`params`), a busy warehouse with nothing to fall back on is a 503 with
Retry-After, never a 500, and the summary goes through the body cache (`cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import duck
from ..config import Settings
from ..documents import no_data_document, range_document
from ..integrity import integrity_report
from ..summary import compute_range
from .cache import SummaryCache, body_response
from .models import ERRORS, Coverage, ErrorBody, Health, IntegrityReport, RawHist, SummaryDoc
from .operator_routes import register as register_operator_routes
from .params import (
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
from .reads import Reads

# The dashboard ships as package data next to the package (pyproject [tool.setuptools.package-data]).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SUMMARY_TTL_S = 5.0  # how long a served summary body is reused before the lake is looked at again


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
        return JSONResponse({"error": "warehouse_busy", "detail": f"{exc}; retry in a few seconds"},
                            status_code=503, headers={"Retry-After": "2"})  # fmt: skip

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
    ) -> Response:  # fmt: skip
        """The summary for the dashboard: L0 file → L1 previous 7 sessions from the warehouse
        (FALLBACK) → L2 NO_DATA (SPEC §11)."""
        d = parse_date(date, required=False)
        entry, stale = await cache.get(d)
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
    ) -> Any:  # fmt: skip
        """One ticker's 1-minute candles with price levels: warehouse first, lake files when the
        warehouse is busy, missing or has no rows for the day."""
        return reads.raw_hist(parse_ticker(kode), require_date(date))

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

    @app.get("/health", response_model=Health, tags=["diagnostics"])
    def health() -> Any:
        """Warehouse reachable? How old is the newest summary? Newest date in the warehouse."""
        return reads.health()

    register_operator_routes(app, reads)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
