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
    val: int | None = Field(None, description="traded value, Rp (Σ minute vol × close × 100)")
    ins: str | None = Field(
        None,
        description="instrument kind from the ticker's form: share, etf, "
        "structured_warrant, warrant, right, other",
    )
    lim: Literal["ARA", "ARB"] | None = Field(
        None,
        description="last price at the auto-rejection limit against the previous close (ARA: a buy "
        "cannot be filled there, ARB: a sell cannot); null inside the band or without a previous close",
    )


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


class VolumeProfile(BaseModel):
    """profile.Profile: POC (ties -> lower price), value area 70% grown one tick at a time."""

    poc: int = Field(description="price with the most lots (bv + av); ties -> lower price")
    vah: int = Field(description="value area high (70% of the volume)")
    val: int = Field(description="value area low")
    poc_bv: int = Field(description="buyer-initiated lots at the POC")
    poc_av: int = Field(description="seller-initiated lots at the POC")
    total: int = Field(description="Σ(bv + av) of the profile")
    va_vol: int = Field(description="lots inside the value area")


class DayVolumeProfile(VolumeProfile):
    """profile.DayProfile: the day's profile plus its levels summed by price."""

    levels: list[Level]


class ImbalanceStack(BaseModel):
    side: Literal["buy", "sell"]
    lo: int
    hi: int
    n: int = Field(description="consecutive prices (one IDX tick apart), >= 3")


class CandleImbalances(BaseModel):
    buy: list[int] = Field(description="prices with bv(p) >= ratio * av(p - 1 tick)")
    sell: list[int] = Field(description="prices with av(p) >= ratio * bv(p + 1 tick)")
    stacked: list[ImbalanceStack]


class CandleFootprint(BaseModel):
    """profile.CandleFootprint: one per candle, same order, keyed by t0."""

    t0: int
    profile: VolumeProfile | None
    imbalances: CandleImbalances


class ImbalanceCounts(BaseModel):
    """profile.ImbalanceCounts: the ticker-day's totals."""

    ratio: float
    min_lots: int
    buy: int
    sell: int
    stacked_buy: int
    stacked_sell: int
    candles_with_stack: int


class TickTable(BaseModel):
    """IDX price fractions: `sizes[i]` applies below `edges[i]` (and the last above the last edge)."""

    edges: list[int]
    sizes: list[int]


class RawHist(BaseModel):
    ticker: str
    date: str
    source: Literal["warehouse", "lake"]
    warehouse: WarehouseState = Field(description="why the lake was used, if it was")
    count: int
    bar: int = Field(1, description="minutes per candle: 1 (the stored minutes), 5 or 15 (bars.resample)")
    candles: list[Candle]
    profile: DayVolumeProfile | None = Field(None, description="the day's profile; null without levels")
    footprint: list[CandleFootprint] = Field(default_factory=list, description="per candle, same order")
    imbalances: ImbalanceCounts | None = None
    ticks: TickTable | None = Field(None, description="the IDX tick table (read/profile.py), for gridlines")
    phases: list[str] = Field(default_factory=list, description="per candle, its session state at t0")


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


class HealthLive(BaseModel):
    """The live engine of this API (SPEC §16; `live_routes.health`)."""

    state: Literal["running", "no_live", "not_running"]
    reason: str | None = Field(None, description="why not running: NO_TRADES, NO_CAPTURE, STARTING, …")
    date: str | None = Field(None, description="the trading date the engine follows")
    newest_trade_time: str | None = Field(None, description="newest trade by trade time (WIB ISO)")
    newest_trade_received_at: str | None = Field(None, description="when the newest trades came in (UTC)")
    trades: int = Field(description="trades so far today (after de-duplication)")
    clients: int = Field(description="clients on /live/stream now")
    capture: str | None = Field(None, description="the capture's heartbeat state in its spool")
    ready: bool | None = Field(None, description="the restart's rebuild is done")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    now: str
    warehouse: HealthWarehouse
    summary: HealthSummary
    live: HealthLive


class SessionState(BaseModel):
    """The dashboard's session chip (`Reads.session`)."""

    now: str
    date: str = Field(description="today in WIB")
    trading_day: bool
    state: Literal["pre-open", "session 1", "lunch", "session 2", "pre-close", "post", "closed"]
    warehouse: WarehouseState
    newest_tape_date: str | None = Field(None, description="newest date with minutes in the warehouse")
    newest_tape_t0: int | None = Field(None, description="UTC epoch ms of that date's newest minute")
    newest_tape_wib: str | None = Field(None, description="that minute as HH:MM WIB")


class LegendRule(BaseModel):
    rule: int | None = Field(description="row of the §9 signal table; null for NEUTRAL")
    signal: str
    text: str = Field(description='e.g. "HIDDEN_ACCUM: d < 40, z > 0.7, ACCUMULATION"')


class SignalWhy(BaseModel):
    """Why each item of the served summary has its signal (`reads.explain`)."""

    status: Literal["OK", "FALLBACK", "NO_DATA"]
    asked: str | None = Field(description="the date asked for; null = newest")
    asked_trading_day: bool | None = None
    date: str | None = Field(description="the date the summary shows")
    formula: Literal["A", "B"] | None = Field(
        description="A: the summary's score; B: rescored from the warehouse"
    )
    reason: str | None = None
    legend: list[LegendRule]
    items: dict[str, str] = Field(
        description='ticker -> "HIDDEN_ACCUM: d 7.8 < 40, z 1.97 > 0.7, ACCUMULATION"'
    )


class IntegrityReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    date: str
    status: str
    checks: list[dict[str, Any]]


class RangeProfile(BaseModel):
    """GET /footprint/profile: a ticker's volume profile over a date range."""

    model_config = ConfigDict(populate_by_name=True)
    ticker: str
    from_: str = Field(alias="from")
    to: str
    sessions: int = Field(description="dates with levels in the range")
    profile: DayVolumeProfile | None


class OutcomeFigures(BaseModel):
    """outcome_stats.stats: one set of returns (gross or net of costs)."""

    count: int
    direction: Literal["up", "down"]
    hit_rate: float | None = Field(description="share > 0 (up) or < 0 (down)")
    mean: float | None = Field(description="mean return, %")
    median: float | None
    ci95: list[float] | None = Field(
        None, description="95% bootstrap interval of the mean (whole window only)"
    )
    t: float | None = Field(description="one-sample t of the mean (null below 2 values or with no spread)")
    p: float | None = Field(description="two-sided Student-t p of t")
    p_bh: float | None = Field(description="Benjamini–Hochberg p over every figure of the report")


class OutcomeHalf(BaseModel):
    gross: OutcomeFigures
    net: OutcomeFigures


class OutcomeHorizon(BaseModel):
    """One horizon of a line: whole window (gross, net), entries left out at the limit, halves."""

    gross: OutcomeFigures
    net: OutcomeFigures = Field(description="after fees and half a tick of spread each way")
    at_limit: int = Field(description="entries at the auto-rejection limit that blocks them (left out)")
    first: OutcomeHalf = Field(description="the first half of the sessions")
    second: OutcomeHalf = Field(description="the second half (out of sample)")


class OutcomeStats(BaseModel):
    """One line of outcome_report.report_from_rows (a signal, a family or the baseline); the
    top-level figures are the gross next-day close-to-close ones (issue 21)."""

    model_config = ConfigDict(extra="allow")
    signal: str
    count: int
    direction: Literal["up", "down"]
    hit_rate: float | None = Field(description="share of ret_next_cc > 0 (up) or < 0 (down)")
    mean: float | None = Field(description="mean ret_next_cc, %")
    median: float | None
    ci95: list[float] | None = Field(description="95% bootstrap interval of the mean (seeded)")
    baseline_hit_rate: float | None = None
    edge: float | None = Field(None, description="hit_rate - NEUTRAL's share moving the same way")
    horizons: dict[str, OutcomeHorizon] = Field(description="ret_next_oc, ret_next_cc, ret_5d")


class LiquidityView(BaseModel):
    """liquidity.Filter.as_dict: the dashboard's default view (Settings.liquidity)."""

    min_value: int = Field(description="rupiah a ticker must trade on the date")
    kinds: list[str] = Field(description="instrument kinds kept (from the ticker's form)")


class OutcomesReport(BaseModel):
    """outcome_report.rolling_report."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    status: Literal["OK", "NO_DATA"]
    message: str | None = Field(description="with NO_DATA: the missing layer and the command that fills it")
    days: int
    from_: str | None = Field(alias="from")
    to: str | None
    horizons: list[str]
    costs: dict[str, Any] = Field(description="the fees (%) and spread (ticks) applied to the net figures")
    halves: dict[str, list[str] | None] = Field(description="first/second half: [first date, last date]")
    tests: int = Field(description="p values in the Benjamini–Hochberg pass")
    criterion: str
    passing: list[dict[str, Any]] = Field(description="signal x horizon figures passing the criterion")
    verdict: str
    limit: dict[str, Any]
    baseline: OutcomeStats
    families: list[OutcomeStats]
    signals: list[OutcomeStats]
    liquidity: LiquidityView | None = Field(None, description="the liquid-view filter applied, or null")
    unpriced: str | None = Field(
        None,
        description="sessions built before the prices that net figures need, and the command that rebuilds them",
    )


class AggressorShares(BaseModel):
    order_numbers: float | None
    tick_rule: float | None
    unclassified: float | None


class AggressorAgreement(BaseModel):
    moved: float | None = Field(description="tick rule = order-number side, trades whose price moved")
    tick_rule: float | None = Field(description="the same with a zero tick inheriting (Lee–Ready's form)")


class AggressorQuality(BaseModel):
    """aggressor_quality.AggressorQuality.as_dict: how the date's trade sides were decided."""

    model_config = ConfigDict(extra="allow")
    date: str
    scope: str
    trades: int = Field(description="regular-board trades after dedupe")
    order_numbers: int = Field(description="side from order numbers [13]/[14]")
    tick_rule: int = Field(description="side from the tick rule (both or neither order number set)")
    unclassified: int = Field(description="neither buy nor sell: auction prints + undetermined")
    auction: int
    undetermined: int
    moved: int
    moved_agree: int
    ticked: int
    ticked_agree: int
    share: AggressorShares
    agreement: AggressorAgreement


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
