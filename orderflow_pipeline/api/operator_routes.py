"""The operator's per-ticker endpoints (issue 19, SPEC §15): `/integrity-scan`, `/signal`, `/range`.

Each route parses its query into a 400 on bad input (`params`) and calls one core function
(`scan.scan_ticker`, `ticker_signal.ticker_signal`, `broker_range.broker_range`); a busy warehouse
reaching the scan is the app's 503 with Retry-After, like every other route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query
from starlette.exceptions import HTTPException as StarletteHTTPException

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api.models import (
    ERRORS,
    NOT_FOUND,
    BrokerRange,
    ErrorBody,
    IntegrityScan,
    TickerSignal,
)
from orderflow_pipeline.api.params import (
    DATE_PATTERN,
    TICKER_PATTERN,
    BadInput,
    parse_date,
    parse_ticker,
    require_date,
)
from orderflow_pipeline.api.reads import Reads
from orderflow_pipeline.read import scan
from orderflow_pipeline.read.broker_range import MAX_RANGE_DAYS as BROKER_RANGE_MAX_DAYS
from orderflow_pipeline.read.broker_range import broker_range
from orderflow_pipeline.read.ticker_signal import ticker_signal


def register(app: FastAPI, reads: Reads) -> None:
    """Add the three routes to `app` (called once by `create_app`)."""

    @app.get("/integrity-scan", response_model=IntegrityScan, response_model_by_alias=True,
             tags=["diagnostics"],
             responses={**ERRORS, **NOT_FOUND, 503: {"model": ErrorBody, "description": "warehouse busy; retry"}})  # fmt: skip
    def integrity_scan(
        ticker: str | None = Query(None, pattern=TICKER_PATTERN, examples=["BBRI"], description="ticker"),
        days: int = Query(scan.DEFAULT_DAYS, ge=1, le=scan.MAX_DAYS,
                          description=f"trading days to scan, 1..{scan.MAX_DAYS}"),
        to: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                               description="last date of the window; default today (WIB)"),
    ) -> Any:  # fmt: skip
        """Gaps of one ticker over its last `days` trading days: for each date the tape mentions it,
        missing footprint hour files, minutes missing in the warehouse, a missing broker summary."""
        t = parse_ticker(ticker, "ticker")
        end = parse_date(to, "to", required=False) or idx_calendar.wib_date(reads.now())
        try:
            return scan.scan_known(reads.lake, reads.settings.warehouse_target, t, end, days)
        except scan.UnknownTicker as exc:
            raise StarletteHTTPException(404, str(exc)) from None

    @app.get("/signal", response_model=TickerSignal, tags=["summary"], responses={**ERRORS, **NOT_FOUND})
    def signal(
        kode: str | None = Query(None, pattern=TICKER_PATTERN, examples=["BBRI"], description="ticker"),
        date: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-02-10"],
                                 description="trading date; default = the newest summary"),
    ) -> Any:  # fmt: skip
        """One ticker's §10 item in the summary the dashboard would show (same fallback chain);
        with `date`, only that date's own summary counts (a fallback to an earlier session is a 404)."""
        t = parse_ticker(kode)
        d = parse_date(date, required=False)
        doc = reads.resolve(d).doc
        found = ticker_signal(doc, t)
        if d is not None and doc.get("date") != d.isoformat():
            raise StarletteHTTPException(404, f"there is no summary of {d} (the newest before it: "
                                              f"{doc.get('date')}, status {doc['status']})")  # fmt: skip
        if found is None:
            when = doc.get("date") or (d.isoformat() if d else "the newest summary")
            raise StarletteHTTPException(
                404, f"{t} has no item in the summary of {when} (status {doc['status']})"
            )
        return found

    @app.get("/range", response_model=BrokerRange, tags=["history"], responses=ERRORS)
    def range_(
        symbol: str | None = Query(None, pattern=TICKER_PATTERN, examples=["BBRI"], description="ticker"),
        start: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-01-19"], description="first date"),
        end: str | None = Query(None, pattern=DATE_PATTERN, examples=["2026-01-22"],
                                description=f"last date; at most {BROKER_RANGE_MAX_DAYS} days after start"),
    ) -> Any:  # fmt: skip
        """Broker summary over [start, end]: per-broker sums of bval, sval, blot, slot and net."""
        s = parse_ticker(symbol, "symbol")
        a, b = require_date(start, "start"), require_date(end, "end")
        if a > b:
            raise BadInput(f"'start' ({a}) is after 'end' ({b})")
        if (b - a).days > BROKER_RANGE_MAX_DAYS:
            raise BadInput(
                f"range {a}..{b} spans {(b - a).days} days; at most {BROKER_RANGE_MAX_DAYS} are allowed"
            )
        return broker_range(reads.lake, s, a, b)
