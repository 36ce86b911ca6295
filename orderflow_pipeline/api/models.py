"""Response models of the HTTP API (OpenAPI at /docs).

Bodies are served pre-serialised for speed; these models document them, schemathesis checks real
responses against them, and `tests/test_api.py` checks the ones mirroring a `documents` shape
(§6 candle, §10 item and document) field for field against those TypedDicts, so the schema cannot
drift from what the builders produce.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable kind: bad_request, warehouse_busy, not_found")
    detail: str = Field(description="what was wrong and how to fix it")


class SummaryItem(BaseModel):
    """documents.SummaryItem."""

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
    # Optional here although always written now: summary files of older versions lack them.
    vel: float | None = None
    vel_accel: float | None = None


class SummaryDoc(BaseModel):
    """documents.SummaryDocument (and the range endpoint's RangeDocument, via extra keys)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["OK", "FALLBACK", "NO_DATA"]
    date: str | None = None
    generated_at: str | None = None
    source: Literal["warehouse", "lake"] | None = None
    ctx_date: str | None = None
    ctx_found: bool | None = None
    count: int = 0
    reason: str | None = None
    message: str | None = None
    items: list[SummaryItem] = Field(default_factory=list)


class Level(BaseModel):
    """documents.Level."""

    p: int
    bv: int
    av: int


class Ohlc(BaseModel):
    """documents.Ohlc."""

    o: int
    h: int
    l: int  # noqa: E741 - the §6 field name
    c: int


class Candle(BaseModel):
    """documents.Candle."""

    model_config = ConfigDict(extra="allow")
    t0: int = Field(description="UTC epoch ms of the minute start")
    ohlc: Ohlc
    vol: int
    delta: int
    levels: list[Level] = Field(default_factory=list)


WarehouseState = Literal["ok", "busy", "missing"]


class RawHist(BaseModel):
    ticker: str
    date: str
    source: Literal["warehouse", "lake"]
    warehouse: WarehouseState = Field(description="why the lake was used, if it was")
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
    warehouse: WarehouseState
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


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input: the message says which parameter and why"},
}


# -- operator endpoints (issue 19): /integrity-scan, /signal, /range ----------------------------


class ScanGap(BaseModel):
    """scan.Gap."""

    date: str
    layer: Literal["footprint", "warehouse", "broksum"]
    detail: str


class IntegrityScan(BaseModel):
    """scan.ScanReport: one ticker's gaps over its last `days` trading days ending on `to`."""

    model_config = ConfigDict(populate_by_name=True)
    ticker: str
    from_: str = Field(alias="from", description="first trading day of the window")
    to: str
    days: int
    gaps: list[ScanGap] = Field(description="sorted by date, then layer")


class TickerSignal(BaseModel):
    """ticker_signal.TickerSignal: the ticker's §10 item in the resolved summary."""

    status: Literal["OK", "FALLBACK"]
    date: str | None
    source: Literal["warehouse", "lake"] | None
    ctx_date: str | None
    item: SummaryItem


class BrokerRangeRow(BaseModel):
    """broker_range.BrokerRow: integer sums over the range's sessions (IDR and lots)."""

    code: str
    type: str | None = Field(description="IPOT broker type of the newest session (Asing / Lokal)")
    bval: int
    sval: int
    blot: int
    slot: int
    net: int = Field(description="bval - sval")


class BrokerRange(BaseModel):
    """broker_range.RangeReport."""

    symbol: str
    start: str
    end: str
    sessions: int = Field(description="dates in range with a broker-summary file of a trading session")
    brokers: list[BrokerRangeRow] = Field(description="sorted by net descending, then code")


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "the ticker has no item in that summary"},
}
