"""Per ticker-session smart-money features (SPEC §8), vectorised.

`compute_features` derives value, vwap, signed smart-money net, ngr, ret_pct, the four
20-session z-scores, state and score for every ticker-session of a frame at once (numpy sliding
windows; no Python loop per ticker-day). The windows are evaluated with a two-pass mean/std on
the window itself, not a running sum, so an incremental run reproduces a full recomputation bit
for bit. Pure: no lake, no warehouse.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

WINDOW = 20  # z-score window, sessions, including the date
STATE_WINDOW = 5  # the "consistent buy/sell" look-back, sessions, including the date
STATE_MIN_DAYS = 3  # sm_net with the right sign on at least this many of those sessions
Z_STATE = 0.5
# z_elas at D needs elas_s for the 19 sessions before D; each elas_s needs the 19 sessions before s
# (m_s) and the one before that (ret_pct): 39 previous sessions make a windowed run identical to a
# full-history one.
HISTORY_SESSIONS = 2 * (WINDOW - 1) + 1
STATES = ("ACCUMULATION", "DISTRIBUTION", "NEUTRAL")

FEATURE_COLUMNS = [
    "ticker",
    "date",
    "state",
    "score",
    "z_effort",
    "z_result",
    "z_ngr",
    "z_elas",
    "value",
    "vwap",
    "sm_net",
    "ngr",
    "ret_pct",
    "elas",
    "sessions",
    "insufficient_history",
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

    return pd.DataFrame(
        {
            "ticker": tickers,
            "date": df["date"].to_numpy(),
            "state": state,
            "score": score,
            "z_effort": z_effort,
            "z_result": z_result,
            "z_ngr": z_ngr,
            "z_elas": z_elas,
            "value": value,
            "vwap": vwap,
            "sm_net": sm_net,
            "ngr": ngr,
            "ret_pct": ret_pct,
            "elas": elas,
            "sessions": sessions,
            "insufficient_history": ~enough,
        }
    )
