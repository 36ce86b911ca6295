"""The simulated universe: which tickers trade, calibrated on the real daily snapshot.

Why the real snapshot: liquidity across IDX names spans six orders of magnitude; drawing it from
the real 1,234-ticker day keeps the simulated market's value ranking, trade counts and volatility
where the pipeline meets them in production.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

_TAIL_SHARE = 0.15  # n_tickers takes the N*(1-0.15) most liquid plus a tail of illiquid names
_SNAPSHOT = Path("fixtures") / "real" / "idx_daily_snapshot.csv"


def snapshot_path(shared_dir: str | None = None) -> Path | Traversable:
    """The real daily snapshot: under `shared_dir` (Settings.shared_dir, $ORDERFLOW_SHARED), else
    ../shared next to the repo, else the packaged copy."""
    candidates = [Path(shared_dir)] if shared_dir else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared")
    for base in candidates:
        p = base / _SNAPSHOT
        if p.is_file():
            return p
    return resources.files("orderflow_pipeline").joinpath("data/idx_daily_snapshot.csv")


def load_snapshot(shared_dir: str | None = None) -> pd.DataFrame:
    """The snapshot's tradable tickers (pipeline ticker rule, traded, priced), most valuable first."""
    with resources.as_file(snapshot_path(shared_dir)) as p:
        df = pd.read_csv(p, dtype={"ticker": str})
    df = df[df["ticker"].str.fullmatch(r"[A-Z0-9]{1,12}") & (df["frequency"] > 0) & (df["close"] > 0)]
    return df.sort_values(["value_idr", "ticker"], ascending=[False, True]).reset_index(drop=True)


def load_universe(n_tickers: int = 150, shared_dir: str | None = None) -> pd.DataFrame:
    """The N most liquid tickers plus a tail of illiquid ones, with their real liquidity.

    Columns: ticker, open, high, low, close, volume_lots, frequency, value_idr, rank (by value),
    illiquid (bool: a tail name), sigma (daily volatility estimate from the real high-low range).
    """
    snap = load_snapshot(shared_dir)
    n = max(1, min(int(n_tickers), len(snap)))
    if n >= len(snap):
        top, tail = snap, snap.iloc[0:0]
    else:
        n_tail = int(round(n * _TAIL_SHARE)) if n >= 10 else 0
        n_top = n - n_tail
        top = snap.iloc[:n_top]
        rest = snap.iloc[n_top:]
        # evenly spaced through the rest of the ranking: from middling to very thin names
        idx: npt.NDArray[np.int64] | list[int] = (
            np.unique(np.linspace(0, len(rest) - 1, n_tail).round().astype(int)) if n_tail else []
        )
        tail = rest.iloc[idx]
    uni = pd.concat([top, tail]).copy()
    uni["rank"] = uni.index.astype(int)
    uni["illiquid"] = False
    if len(tail):
        uni.loc[tail.index, "illiquid"] = True
    if n >= len(snap):  # the whole market: its thin half is the illiquid tail
        uni["illiquid"] = uni["frequency"] < 50
    rng = (uni["high"] - uni["low"]) / uni["close"]
    uni["sigma"] = (rng * 0.5).clip(0.004, 0.025)
    return uni.reset_index(drop=True)
