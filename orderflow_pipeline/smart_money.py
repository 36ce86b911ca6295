"""Daily smart-money context from IPOT broker summaries (SPEC §8).

Three steps, each its own function so the asset, the CLI and the benchmark share them:

1. `parse_broksum` turns one `raw-broksum/{T}/{date}.json` object into a `BrokerDay` (or None for a
   non-trading day); `sync_broker_daily` keeps the warehouse table `broker_daily` (one row per
   ticker-date, with the object's fingerprint) in step with the lake, parsing only new or changed
   objects, so a re-run does no work.
2. `compute_features` derives value, vwap, signed smart-money net, ngr, ret_pct, the four
   20-session z-scores, state and score for every ticker-session of a frame at once (numpy
   sliding windows; no Python loop per ticker-day). The windows are evaluated with a two-pass
   mean/std on the window itself, not a running sum, so an incremental run reproduces a full
   recomputation bit for bit.
3. `build_daily_features` ties them together for a set of dates: history comes from
   `broker_daily` (the previous `HISTORY_SESSIONS` sessions of each ticker — enough for a z of a
   z-input that is itself a 20-session mean), results go to `daily_features` and the lake JSON files.

Broker categories: `data/broker_categories.csv` (`code,category`, category one of FOREIGN,
INSTITUTION, RETAIL; lines starting with `#` are comments). It ships empty, so by default a
broker takes its summary `type` (`Asing` -> FOREIGN, anything else -> RETAIL) and smart money is
the foreign brokers. Editing the table changes its digest, stored per parsed row, so the next run
re-parses every affected object instead of mixing two definitions of smart money.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from . import idx_calendar
from .checks import CheckOutcome
from .inventory import footprint_objects, footprint_tickers
from .keys import (
    as_date,
    check_ticker,
    zscore_daily_key,
    zscore_emiten_key,
)
from .lake import Lake, dumps
from .quarantine import QuarantineBatch, count_quarantined
from .schema import ensure_schema

LAYER = "daily_features"
ASSET = "daily_features"
WINDOW = 20  # z-score window, sessions, including the date
STATE_WINDOW = 5  # the "consistent buy/sell" look-back, sessions, including the date
STATE_MIN_DAYS = 3  # sm_net with the right sign on at least this many of those sessions
Z_STATE = 0.5
# z_elas at D needs elas_s for the 19 sessions before D; each elas_s needs the 19 sessions before s
# (m_s) and the one before that (ret_pct): 39 previous sessions make a windowed run identical to a
# full-history one.
HISTORY_SESSIONS = 2 * (WINDOW - 1) + 1
# How far back (trading days) a run looks in the lake for broker summaries the table lacks.
LAKE_LOOKBACK_DAYS = 60
EMITEN_HISTORY = 365
STATES = ("ACCUMULATION", "DISTRIBUTION", "NEUTRAL")
CATEGORIES = ("FOREIGN", "INSTITUTION", "RETAIL")
SMART = frozenset({"FOREIGN", "INSTITUTION"})
BROKSUM_KEY_RE = re.compile(r"^raw-broksum/([A-Z0-9]{1,12})/(\d{4}-\d{2}-\d{2})\.json$")


class BroksumError(ValueError):
    """A broker-summary object that cannot be read (it goes to quarantine with this reason)."""


# -- broker categories ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def default_categories() -> Mapping[str, str]:
    text = resources.files("orderflow_pipeline").joinpath("data/broker_categories.csv").read_text()
    return parse_categories(text)


def parse_categories(text: str) -> dict[str, str]:
    """`code,category` rows (header required, `#` comments allowed) -> {code: category}."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or [c.strip().lower() for c in lines[0].split(",")][:2] != ["code", "category"]:
        raise ValueError("broker category table must start with the header 'code,category'")
    out: dict[str, str] = {}
    for n, ln in enumerate(lines[1:], start=2):
        parts = [c.strip() for c in ln.split(",")]
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"broker category table line {n}: expected 'code,category', got {ln!r}")
        code, cat = parts[0].upper(), parts[1].upper()
        if cat not in CATEGORIES:
            raise ValueError(f"broker category table line {n}: category {cat!r} not in {CATEGORIES}")
        out[code] = cat
    return out


def categories_digest(categories: Mapping[str, str]) -> str:
    body = "\n".join(f"{k},{v}" for k, v in sorted(categories.items()))
    return hashlib.sha1(body.encode()).hexdigest()[:12]


def broker_category(code: str, type_: str | None, categories: Mapping[str, str]) -> str:
    """Table first; otherwise the summary's own type (`Asing` foreign, everything else retail)."""
    cat = categories.get(code.upper())
    if cat:
        return cat
    return "FOREIGN" if (type_ or "").strip().lower() == "asing" else "RETAIL"


# -- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerDay:
    ticker: str
    date: date
    value: float  # total traded value, IDR (bandar_detector.value)
    vwap: float  # bandar_detector.average
    volume: float  # shares (bandar_detector.volume)
    sm_buy: float  # Σ bval of smart-money brokers
    sm_sell: float  # Σ sval of smart-money brokers
    brokers: int  # distinct broker codes on either side

    @property
    def sm_net(self) -> float:
        return self.sm_buy - self.sm_sell

    @property
    def ngr(self) -> float:
        return self.sm_net / self.value


def _num(value: Any, what: str) -> float:
    """IPOT numbers are strings ("1442718361009"); ints and floats are accepted too."""
    if isinstance(value, bool):
        raise BroksumError(f"bad_number: {what}={value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            out = float(value.strip().replace(",", ""))
        except ValueError:
            raise BroksumError(f"bad_number: {what}={value!r}") from None
    else:
        raise BroksumError(f"bad_number: {what}={value!r}")
    if not math.isfinite(out):
        raise BroksumError(f"bad_number: {what}={value!r}")
    return out


def _is_empty_value(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return True
        try:
            return float(s) == 0
        except ValueError:
            return False
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


class _SlowPath(Exception):
    """The fast broker-row pass met something unusual; the checked pass decides."""


def _smart_sums_fast(bs: Mapping[str, Any], cats: Mapping[str, str]) -> tuple[float, float, int]:
    """Σ smart-money bval/sval for well-formed rows (the real feed): ~3× faster than the checked pass."""
    sums = [0.0, 0.0]
    codes: set[str] = set()
    for k, (side, amount) in enumerate((("brokers_buy", "bval"), ("brokers_sell", "sval"))):
        total = 0.0
        for row in bs.get(side) or ():
            code = row["netbs_broker_code"]
            v = float(row[amount])
            if not code or v != v or v in (math.inf, -math.inf):
                raise _SlowPath
            codes.add(code)
            cat = cats.get(code)
            if cat is None:
                t = row.get("type")
                if t == "Asing":
                    total += v
                elif t != "Lokal":
                    raise _SlowPath
            elif cat in SMART:
                total += v
        sums[k] = total
    if any(c != c.strip().upper() for c in codes):
        raise _SlowPath
    return sums[0], sums[1], len(codes)


def _smart_sums_checked(bs: Mapping[str, Any], cats: Mapping[str, str]) -> tuple[float, float, int]:
    """Row-by-row validation with a precise reason for the quarantine."""
    sm_buy = sm_sell = 0.0
    codes: set[str] = set()
    for side, amount in (("brokers_buy", "bval"), ("brokers_sell", "sval")):
        rows = bs.get(side) or []
        if not isinstance(rows, list):
            raise BroksumError(f"bad_broker_summary: '{side}' is not a list")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise BroksumError(f"bad_broker_row: {side}[{i}] is not an object")
            code = row.get("netbs_broker_code")
            if not isinstance(code, str) or not code.strip():
                raise BroksumError(f"bad_broker_row: {side}[{i}] has no netbs_broker_code")
            v = _num(row.get(amount), f"{side}[{i}].{amount}")
            codes.add(code.strip().upper())
            if broker_category(code.strip(), row.get("type"), cats) in SMART:
                if side == "brokers_buy":
                    sm_buy += v
                else:
                    sm_sell += v
    return sm_buy, sm_sell, len(codes)


def parse_broksum(
    data: bytes | str,
    ticker: str | None = None,
    d: date | str | None = None,
    categories: Mapping[str, str] | None = None,
) -> BrokerDay | None:
    """One IPOT broker summary -> BrokerDay; None for a non-trading day (value "0" or empty).

    `ticker`/`d` default to the summary's own `symbol` and `from` date (the lake key is the better
    source and the caller passes it). Raises BroksumError with a short reason for anything else
    that cannot be read.
    """
    cats = default_categories() if categories is None else categories
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BroksumError(f"bad_json: {exc}") from None
    body = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        raise BroksumError("no_data: missing object 'data'")
    bd = body.get("bandar_detector")
    if not isinstance(bd, dict):
        raise BroksumError("no_bandar_detector: missing object 'data.bandar_detector'")
    if _is_empty_value(bd.get("value")):
        return None
    value = _num(bd.get("value"), "bandar_detector.value")
    if value < 0:
        raise BroksumError(f"bad_number: bandar_detector.value={bd.get('value')!r} is negative")
    vwap = _num(bd.get("average"), "bandar_detector.average")
    if vwap <= 0:
        raise BroksumError(f"bad_number: bandar_detector.average={bd.get('average')!r} is not positive")
    volume = _num(bd.get("volume"), "bandar_detector.volume") if bd.get("volume") not in (None, "") else 0.0
    bs = body.get("broker_summary")
    if bs is None:
        bs = {}
    if not isinstance(bs, dict):
        raise BroksumError("bad_broker_summary: 'data.broker_summary' is not an object")
    try:
        sm_buy, sm_sell, n_brokers = _smart_sums_fast(bs, cats)
    except (KeyError, TypeError, ValueError, AttributeError, _SlowPath):
        sm_buy, sm_sell, n_brokers = _smart_sums_checked(bs, cats)
    symbol = bs.get("symbol")
    t = ticker or symbol
    if not isinstance(t, str):
        raise BroksumError("no_ticker: neither the key nor broker_summary.symbol names the ticker")
    if ticker and isinstance(symbol, str) and symbol.strip() and symbol.strip().upper() != ticker:
        # A summary filed under the wrong ticker would credit one name with another's flow.
        raise BroksumError(f"symbol_mismatch: key says {ticker}, broker_summary.symbol says {symbol}")
    day = d if d is not None else body.get("from")
    try:
        dd = as_date(day)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BroksumError(f"no_date: {day!r}") from None
    span = {body.get("from"), body.get("to")} - {None, ""}
    if d is not None and span and span != {dd.isoformat()}:
        # The proxy answering with another day's data (stale cache) must not become this day's session.
        raise BroksumError(f"date_mismatch: key says {dd}, data.from/to say {sorted(map(str, span))}")
    return BrokerDay(check_ticker(t), dd, value, vwap, volume, sm_buy, sm_sell, n_brokers)


def render_broksum(
    ticker: str,
    d: date | str,
    value: int,
    vwap: int,
    brokers: Sequence[tuple[str, str, int, int]] = (),
) -> bytes:
    """The inverse of `parse_broksum`: an IPOT-shaped summary (all numbers as strings).

    `brokers` = (code, type "Asing"/"Lokal", bval, sval) rows. For simulators and tests, so
    synthetic data goes through the same parser as the real feed. value 0 renders a non-trading day.
    """
    dd = as_date(d)
    day = dd.strftime("%Y%m%d")
    px = str(int(vwap))

    def side(amount: str, lot: str, avg: str, pick: int) -> list[dict[str, str]]:
        rows = []
        for code, type_, *vals in brokers:
            v = int(vals[pick])
            if v <= 0:
                continue
            lots = v // max(int(vwap) * 100, 1)
            rows.append({"netbs_broker_code": code, "netbs_date": day, "netbs_stock_code": ticker, "type": type_,
                         lot: str(lots), f"{lot}v": str(lots * 100), amount: str(v), f"{amount}v": str(v),
                         avg: px})
        return sorted(rows, key=lambda r: -int(r[amount]))

    doc = {
        "message": "Successfully retrieved market detector data (IPOT Proxy)",
        "data": {
            "from": dd.isoformat(), "to": dd.isoformat(),
            "bandar_detector": {"average": px if value else "0", "value": str(int(value)),
                                "volume": str(int(value) // max(int(vwap), 1))},
            "broker_summary": {"symbol": ticker, "brokers_buy": side("bval", "blot", "netbs_buy_avg_price", 0),
                               "brokers_sell": side("sval", "slot", "netbs_sell_avg_price", 1)},
        },
        "_meta": {"source": "synthetic"},
    }
    return dumps(doc)


# -- features (vectorised) ------------------------------------------------------------------


FEATURE_COLUMNS = [
    "ticker", "date", "state", "score", "z_effort", "z_result", "z_ngr", "z_elas",
    "value", "vwap", "sm_net", "ngr", "ret_pct", "elas", "sessions", "insufficient_history",
]


def _windows(x: np.ndarray, pos: np.ndarray, w: int) -> np.ndarray:
    """(n, w) matrix: row i = x[i-w+1 .. i] restricted to i's own ticker (NaN outside).

    `pos` is each row's 0-based position inside its ticker's sessions (rows sorted by ticker, date).
    """
    padded = np.concatenate([np.full(w - 1, np.nan), x.astype(float)])
    win = sliding_window_view(padded, w)
    offs = np.arange(w) - (w - 1)
    return np.where(offs[None, :] >= -pos[:, None], win, np.nan)


def _zscore(x: np.ndarray, pos: np.ndarray, w: int = WINDOW) -> np.ndarray:
    """Population z of x[i] within its window; std 0 (all equal) -> 0; NaN inputs are skipped."""
    win = _windows(x, pos, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(win, axis=1)
        std = np.nanstd(win, axis=1)
        constant = np.nanmax(win, axis=1) == np.nanmin(win, axis=1)
        z = (x - mean) / std
    z = np.where(constant & ~np.isnan(x), 0.0, z)
    return z


def compute_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Per ticker-session features for every row of `frame` (columns ticker, date, value, vwap, sm_net).

    Rows are the tickers' trading sessions (a non-trading day has no row). The result has
    FEATURE_COLUMNS, sorted by (ticker, date); rows with fewer than WINDOW sessions of history
    have null z/score, state NEUTRAL and `insufficient_history` True.
    """
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FEATURE_COLUMNS})
    cols = ["ticker", "date", "value", "vwap", "sm_net"] + (["sessions"] if "sessions" in frame else [])
    df = frame[cols].sort_values(["ticker", "date"], kind="stable")
    df = df.reset_index(drop=True)
    tickers = df["ticker"].to_numpy()
    value = df["value"].to_numpy(dtype=float)
    vwap = df["vwap"].to_numpy(dtype=float)
    sm_net = df["sm_net"].to_numpy(dtype=float)
    n = len(df)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = tickers[1:] != tickers[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    pos = np.arange(n) - group_start
    # A frame cut from a longer history carries each row's true session number; windows still only
    # see the rows given (the caller loads HISTORY_SESSIONS of look-back for that).
    sessions = df["sessions"].to_numpy(dtype=np.int64) if "sessions" in df else pos + 1

    with np.errstate(divide="ignore", invalid="ignore"):
        ngr = sm_net / value
        prev = np.concatenate([[np.nan], vwap[:-1]])
        ret_pct = np.where(pos > 0, (vwap / prev - 1.0) * 100.0, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmean(_windows(value, pos, WINDOW), axis=1)
        elas = np.abs(ret_pct) / (value / m)

    z_ngr = _zscore(ngr, pos)
    z_effort = _zscore(value, pos)
    z_result = _zscore(ret_pct, pos)
    z_elas = _zscore(elas, pos)
    enough = sessions >= WINDOW
    for z in (z_ngr, z_effort, z_result, z_elas):
        z[~enough] = np.nan

    pos_days = np.nansum(_windows((sm_net > 0).astype(float), pos, STATE_WINDOW), axis=1)
    neg_days = np.nansum(_windows((sm_net < 0).astype(float), pos, STATE_WINDOW), axis=1)
    with np.errstate(invalid="ignore"):
        acc = enough & (z_ngr > Z_STATE) & (pos_days >= STATE_MIN_DAYS)
        dist = enough & (z_ngr < -Z_STATE) & (neg_days >= STATE_MIN_DAYS)
    state = np.where(acc, "ACCUMULATION", np.where(dist, "DISTRIBUTION", "NEUTRAL"))
    score = z_effort - np.abs(z_result) + (1.0 - z_elas) + 0.5 * z_ngr

    return pd.DataFrame({
        "ticker": tickers, "date": df["date"].to_numpy(), "state": state, "score": score,
        "z_effort": z_effort, "z_result": z_result, "z_ngr": z_ngr, "z_elas": z_elas,
        "value": value, "vwap": vwap, "sm_net": sm_net, "ngr": ngr, "ret_pct": ret_pct, "elas": elas,
        "sessions": sessions, "insufficient_history": ~enough,
    })


# -- warehouse: parsed broker days ----------------------------------------------------------


@dataclass
class SyncResult:
    listed: int = 0
    parsed: int = 0  # objects read and parsed this run (new or changed)
    sessions: int = 0  # of those, trading sessions
    non_trading: int = 0  # value "0"/empty
    removed: int = 0  # table rows whose object left the lake
    quarantine: QuarantineBatch = field(default_factory=lambda: QuarantineBatch(LAYER))
    quarantine_dates: dict[str, date] = field(default_factory=dict)  # source key -> date


def list_broksum(lake: Lake, dates: Iterable[date]) -> dict[tuple[str, date], tuple[str, str]]:
    """{(ticker, date): (key, fingerprint)} for the dates, from ONE listing of `raw-broksum/`."""
    wanted = {d.isoformat() for d in dates}
    out: dict[tuple[str, date], tuple[str, str]] = {}
    for key, info in lake.list_info("raw-broksum/").items():
        m = BROKSUM_KEY_RE.match(key)
        if m and m.group(2) in wanted:
            out[(m.group(1), date.fromisoformat(m.group(2)))] = (key, info.fingerprint)
    return out


def sync_broker_daily(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[date],
    *,
    categories: Mapping[str, str] | None = None,
    force_dates: Iterable[date] = (),
    mirror_dates: Iterable[date] | None = None,
) -> SyncResult:
    """Bring `broker_daily` in line with the lake's broker summaries of `dates` (idempotent upsert).

    Only objects that are new, changed (fingerprint) or parsed under another category table are
    read (concurrently, Lake.cat_many), plus every object of `force_dates`. For `mirror_dates`
    (default: all `dates`) a row whose object left the lake is deleted; on other (look-back) dates
    parsed history is kept even if the lake no longer holds the object (lake retention must not
    erase the warehouse's history). Non-trading days are kept as `traded = false` rows so they are
    not re-read on every run.
    """
    cats = default_categories() if categories is None else categories
    digest = categories_digest(cats)
    res = SyncResult()
    dates = sorted(set(dates))
    if not dates:
        return res
    listing = list_broksum(lake, dates)
    res.listed = len(listing)
    have = con.execute(
        "SELECT ticker, date, fingerprint, categories FROM broker_daily WHERE date IN (SELECT unnest(?::DATE[]))",
        [dates],
    ).fetchall()
    known = {(t, d): (fp, c) for t, d, fp, c in have}
    forced = set(force_dates)
    todo = {k: v for k, v in listing.items() if k[1] in forced or known.get(k) != (v[1], digest)}
    mirror = set(dates if mirror_dates is None else mirror_dates)
    gone = [k for k in known if k not in listing and k[1] in mirror]
    blobs = lake.cat_many([key for key, _ in todo.values()])
    rows: list[tuple[Any, ...]] = []
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for (ticker, d), (key, fp) in sorted(todo.items()):
        data = blobs.get(key)
        if data is None:  # vanished between listing and read: treat as missing
            gone.append((ticker, d))
            continue
        res.parsed += 1
        try:
            day = parse_broksum(data, ticker, d, cats)
        except BroksumError as exc:
            res.quarantine.add(key, 0, str(exc), data[:2000])
            res.quarantine_dates[key] = d
            gone.append((ticker, d))
            continue
        if day is None:
            res.non_trading += 1
            rows.append((ticker, d, False, None, None, None, None, None, None, 0, key, fp, digest, now))
        else:
            res.sessions += 1
            rows.append((ticker, d, True, day.value, day.vwap, day.volume, day.sm_buy, day.sm_sell,
                         day.sm_net, day.brokers, key, fp, digest, now))
    con.execute("BEGIN TRANSACTION")
    try:
        if gone:
            g = pd.DataFrame(gone, columns=["ticker", "date"])
            con.register("_bd_gone", g)
            con.execute("DELETE FROM broker_daily WHERE (ticker, date) IN (SELECT (ticker, date) FROM _bd_gone)")
            con.unregister("_bd_gone")
            res.removed = len(gone)
        if rows:
            cols = ["ticker", "date", "traded", "value", "vwap", "volume", "sm_buy", "sm_sell", "sm_net",
                    "brokers", "source_key", "fingerprint", "categories", "parsed_at"]
            tbl = pa.Table.from_pandas(pd.DataFrame(rows, columns=cols), preserve_index=False)
            con.register("_bd_new", tbl)
            con.execute(f"INSERT OR REPLACE INTO broker_daily ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _bd_new")
            con.unregister("_bd_new")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return res


def load_history(con: duckdb.DuckDBPyConnection, dates: Sequence[date], history: int = HISTORY_SESSIONS) -> pd.DataFrame:
    """Trading sessions needed to compute `dates`: each ticker's sessions in [min, max] of dates
    plus its `history` sessions before min(dates)."""
    lo, hi = min(dates), max(dates)
    return con.execute(
        """
        WITH s AS (
            SELECT ticker, date, value, vwap, sm_net,
                   row_number() OVER (PARTITION BY ticker ORDER BY date) AS sessions
            FROM broker_daily WHERE traded AND date <= ?)
        SELECT ticker, date, value, vwap, sm_net, sessions FROM s
        QUALIFY date >= ? OR row_number() OVER (PARTITION BY ticker, date >= ? ORDER BY date DESC) <= ?
        ORDER BY ticker, date
        """,
        [hi, lo, lo, history],
    ).df()


# -- outputs --------------------------------------------------------------------------------


ITEM_COLUMNS = [c for c in FEATURE_COLUMNS if c != "ticker"]
METRIC_COLUMNS = ["value", "vwap", "sm_net", "ngr", "ret_pct", "elas", "sessions", "insufficient_history"]
_METRIC_TYPES = {"value": "DOUBLE", "vwap": "DOUBLE", "sm_net": "DOUBLE", "ngr": "DOUBLE", "ret_pct": "DOUBLE",
                 "elas": "DOUBLE", "sessions": "BIGINT", "insufficient_history": "BOOLEAN"}


def _struct(columns: Sequence[str], src: Mapping[str, str] | None = None) -> str:
    """SQL struct_pack over columns (dates as ISO strings), for DuckDB's vectorised to_json."""
    src = src or {}
    parts = []
    for c in columns:
        expr = src.get(c, c)
        parts.append(f"{c} := {expr}::VARCHAR" if c == "date" else f"{c} := {expr}")
    return "struct_pack(" + ", ".join(parts) + ")"


def write_features_table(con: duckdb.DuckDBPyConnection, feats: pd.DataFrame, dates: Sequence[date]) -> int:
    """Replace the `dates`' rows of daily_features with `feats` (one transaction)."""
    tbl = pa.Table.from_pandas(feats[FEATURE_COLUMNS], preserve_index=False)  # NaN -> NULL
    cols = ["date", "ticker", "state", "score", "z_effort", "z_result", "z_ngr", "z_elas"]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM daily_features WHERE date IN (SELECT unnest(?::DATE[]))", [list(dates)])
        con.register("_df_new", tbl)
        con.execute(
            f"INSERT INTO daily_features ({', '.join(cols)}, metrics_json, created_at) "
            f"SELECT {', '.join(cols)}, to_json({_struct(METRIC_COLUMNS)}), now()::TIMESTAMP FROM _df_new"
        )
        con.unregister("_df_new")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(feats)


_ROW_JSON = ("struct_pack(date := date::VARCHAR, state := state, score := score, z_effort := z_effort, "
             "z_result := z_result, z_ngr := z_ngr, z_elas := z_elas, metrics := metrics_json::JSON)")


def write_lake_files(lake: Lake, con: duckdb.DuckDBPyConnection, dates: Sequence[date], tickers: Sequence[str]) -> int:
    """Daily files for `dates` and emiten history files (newest EMITEN_HISTORY sessions) of `tickers`,
    rendered from daily_features by DuckDB in bulk; each entry mirrors a table row (metrics nested
    as stored). Unchanged bytes are not rewritten, so an unchanged re-run touches nothing.
    Returns objects written."""
    files: dict[str, bytes] = {}
    daily = {d: (n, j) for d, n, j in con.execute(
        f"""SELECT date, count(*), to_json(list(struct_insert({_ROW_JSON}, ticker := ticker) ORDER BY ticker))
            FROM daily_features WHERE date IN (SELECT unnest(?::DATE[])) GROUP BY date""",
        [list(dates)],
    ).fetchall()}
    for d in dates:
        n, items = daily.get(d, (0, "[]"))
        files[zscore_daily_key(d)] = f'{{"date":"{d.isoformat()}","count":{n},"items":{items}}}'.encode()
    if tickers:
        rows = con.execute(
            f"""
            WITH h AS (
                SELECT * FROM daily_features WHERE ticker IN (SELECT unnest(?::VARCHAR[]))
                QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY date DESC) <= ?)
            SELECT ticker, to_json(list({_ROW_JSON} ORDER BY date)) FROM h GROUP BY ticker
            """,
            [list(tickers), EMITEN_HISTORY],
        ).fetchall()
        for t, hist in rows:
            files[zscore_emiten_key(t)] = f'{{"ticker":"{check_ticker(t)}","history":{hist}}}'.encode()
    old = lake.cat_many(files.keys())
    changed = {k: v for k, v in files.items() if old.get(k) != v}
    lake.write_many(changed)
    return len(changed)


@dataclass
class DailyFeaturesResult:
    dates: list[date]
    tickers: int = 0
    rows: int = 0
    objects_listed: int = 0
    objects_parsed: int = 0
    sessions_parsed: int = 0
    non_trading: int = 0
    quarantined: int = 0
    insufficient_history: int = 0
    states: dict[str, int] = field(default_factory=dict)
    lake_files_written: int = 0
    seconds: float = 0.0
    quarantine_keys: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "dates": len(self.dates), "first_date": self.dates[0].isoformat() if self.dates else None,
            "last_date": self.dates[-1].isoformat() if self.dates else None, "tickers": self.tickers,
            "rows": self.rows, "objects_listed": self.objects_listed, "objects_parsed": self.objects_parsed,
            "sessions_parsed": self.sessions_parsed, "non_trading": self.non_trading,
            "quarantined": self.quarantined, "insufficient_history": self.insufficient_history,
            "states": dict(self.states), "lake_files_written": self.lake_files_written,
            "seconds": round(self.seconds, 3),
        }


def build_daily_features(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    dates: Iterable[date | str],
    *,
    categories: Mapping[str, str] | None = None,
    force: bool = False,
    lookback_days: int = LAKE_LOOKBACK_DAYS,
) -> DailyFeaturesResult:
    """daily_features for `dates` (any set of trading days; one call for a whole backfill).

    The broker summaries of the dates and of the `lookback_days` trading days before the first one
    are synced into `broker_daily` (only new/changed objects are read), so history a previous run
    never parsed is picked up; features use each ticker's HISTORY_SESSIONS sessions before the
    first date. `force` re-reads the objects of the requested dates.
    """
    t0 = time.perf_counter()
    ds = sorted({as_date(d) for d in dates})
    res = DailyFeaturesResult(ds)
    if not ds:
        return res
    ensure_schema(con)
    earlier = idx_calendar.previous_sessions(ds[0], lookback_days)
    sync = sync_broker_daily(lake, con, [*earlier, *ds], categories=categories,
                             force_dates=ds if force else (), mirror_dates=ds)
    for key, d in sorted(sync.quarantine_dates.items()):
        batch = QuarantineBatch(LAYER, [r for r in sync.quarantine.items if r.source == key])
        res.quarantine_keys += batch.write(lake, d)
    features_from_table(lake, con, ds, res)
    res.objects_listed, res.objects_parsed = sync.listed, sync.parsed
    res.sessions_parsed, res.non_trading = sync.sessions, sync.non_trading
    res.quarantined = len(sync.quarantine)
    res.seconds = time.perf_counter() - t0
    return res


def features_from_table(
    lake: Lake, con: duckdb.DuckDBPyConnection, dates: Iterable[date | str], res: DailyFeaturesResult | None = None
) -> DailyFeaturesResult:
    """The compute-and-write half of `build_daily_features`, from `broker_daily` as it stands
    (no lake listing): daily_features rows and lake files for `dates`."""
    t0 = time.perf_counter()
    ds = sorted({as_date(d) for d in dates})
    res = res or DailyFeaturesResult(ds)
    if not ds:
        return res
    ensure_schema(con)
    feats_all = compute_features(load_history(con, ds))
    wanted = pd.to_datetime(pd.Series(ds))
    feats = feats_all[pd.to_datetime(feats_all["date"]).isin(wanted)].reset_index(drop=True)
    feats["date"] = pd.to_datetime(feats["date"]).dt.date
    res.rows = write_features_table(con, feats, ds)
    tickers = sorted(feats["ticker"].unique().tolist())
    res.lake_files_written = write_lake_files(lake, con, ds, tickers)
    res.tickers = len(tickers)
    res.insufficient_history = int(feats["insufficient_history"].sum())
    res.states = {s: int((feats["state"] == s).sum()) for s in STATES}
    res.seconds = time.perf_counter() - t0
    return res


# -- integrity checks (SPEC §11) ------------------------------------------------------------


def traded_tickers(lake: Lake, d: date | str) -> set[str]:
    """Tickers with at least one footprint file in an hour of WIB date d."""
    return footprint_tickers(footprint_objects(lake, d))


def broksum_tickers(lake: Lake, d: date | str) -> set[str]:
    day = as_date(d).isoformat()
    out: set[str] = set()
    for key in lake.glob(f"raw-broksum/*/{day}.json"):
        m = BROKSUM_KEY_RE.match(key)
        if m:
            out.add(m.group(1))
    return out


def checks(lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str) -> list[CheckOutcome]:
    """daily_features checks for one date; all WARN (context is optional for the summary)."""
    d = as_date(d)
    out: list[CheckOutcome] = []
    traded = traded_tickers(lake, d)
    missing = sorted(traded - broksum_tickers(lake, d))
    out.append(CheckOutcome(
        "broksum_present", ASSET, not missing, "WARN",
        f"{len(missing)} of {len(traded)} tickers that traded on {d} have no broker summary"
        if missing else f"every ticker that traded on {d} ({len(traded)}) has a broker summary",
        {"date": d.isoformat(), "traded": len(traded), "missing_count": len(missing), "missing": missing[:200]},
    ))
    q = count_quarantined(lake, d, LAYER).get(LAYER, 0)
    out.append(CheckOutcome(
        "broksum_quarantined", ASSET, q == 0, "WARN",
        f"{q} broker summaries of {d} quarantined (unparsable)" if q else f"no broker summary of {d} quarantined",
        {"date": d.isoformat(), "quarantined": q},
    ))
    if con is None:
        return out
    try:
        rows = con.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE json_extract(metrics_json, '$.insufficient_history')::BOOLEAN),
                      count(*) FILTER (WHERE isinf(z_ngr) OR isnan(z_ngr) OR isinf(z_effort) OR isnan(z_effort)
                                        OR isinf(z_result) OR isnan(z_result) OR isinf(z_elas) OR isnan(z_elas)
                                        OR isinf(score) OR isnan(score)),
                      list(DISTINCT state) FILTER (WHERE state NOT IN ('ACCUMULATION', 'DISTRIBUTION', 'NEUTRAL'))
               FROM daily_features WHERE date = ?""",
            [d],
        ).fetchone()
    except duckdb.CatalogException:
        rows = (0, 0, 0, [])
    total, short, nonfinite, bad_states = rows if rows else (0, 0, 0, [])
    bad_states = list(bad_states or [])
    out.append(CheckOutcome(
        "history_20_sessions", ASSET, total > 0 and short == 0, "WARN",
        f"{short} of {total} tickers on {d} have fewer than {WINDOW} sessions (no z, NEUTRAL)"
        if total else f"no daily_features rows for {d}",
        {"date": d.isoformat(), "rows": total, "insufficient_history": short},
    ))
    out.append(CheckOutcome(
        "z_finite", ASSET, nonfinite == 0, "WARN",
        f"{nonfinite} rows on {d} have a non-finite z or score" if nonfinite else "all z values finite",
        {"date": d.isoformat(), "non_finite": nonfinite},
    ))
    out.append(CheckOutcome(
        "states_allowed", ASSET, not bad_states, "WARN",
        f"unknown states on {d}: {bad_states}" if bad_states else "every state is ACCUMULATION/DISTRIBUTION/NEUTRAL",
        {"date": d.isoformat(), "bad_states": bad_states},
    ))
    return out
