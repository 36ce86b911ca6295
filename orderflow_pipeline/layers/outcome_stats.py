"""The arithmetic of the outcome report (SPEC §17): costs, and the statistics a referee asks for.

Pure functions; `outcomes.py` builds the table, `outcome_report.py` reads a window of it, this
module turns the rows into figures. Kept apart because the statistics (a Student-t p value, Benjamini–Hochberg, the
bootstrap) are generic and each is tested by hand, while the building is about the lake.

Costs. A signal implies a trade: the buy family (and the NEUTRAL baseline, "buy anything") goes
long — buy at the entry price, sell at the exit; the sell family goes short — sell at the entry,
buy back at the exit (for a holder, the same as selling at the entry instead of at the exit). Each fill pays half a tick of spread (the IDX tick of that price,
`bounds.tick_size`: a buyer lifts the offer half a tick above the last price, a seller hits the bid
half a tick below) and the broker's fee (buy fee, or sell fee incl. the 0.1% final tax). Net
returns are written in the gross returns' sign convention — the price move, in % of the entry —
so a sell signal still wants a negative figure (with no fee and no spread the formulas give the
gross return exactly; the tests check that):

    long:  cost = (P0 + ½·tick(P0))·(1 + buy),  proceeds = (P1 − ½·tick(P1))·(1 − sell)
           net  = (proceeds − cost) / cost × 100
    short: proceeds = (P0 − ½·tick(P0))·(1 − sell),  buyback = (P1 + ½·tick(P1))·(1 + buy)
           net  = (buyback − proceeds) / proceeds × 100     (the short's profit, sign flipped)

Statistics of a set of returns: n, hit rate (share moving the signal's way), mean, median, the 95%
percentile-bootstrap interval of the mean (seeded), the one-sample t statistic of the mean
(H0: mean 0) with its two-sided Student-t p value, and `p_bh`: Benjamini–Hochberg-adjusted over
every p value of the report together. A figure "passes" when its t on net returns is above
PASS_T in the signal's direction (t > 3 for the buy family, t < −3 for the sell family): the bar
published for a strategy found among many tries (Harvey, Liu & Zhu 2016).

Why no scipy: it is a test-only dependency; the t distribution's tail is the regularized
incomplete beta function, a few lines here (Lentz's continued fraction), and the tests check it
against scipy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from orderflow_pipeline.bounds import tick_size
from orderflow_pipeline.config import BUY_FEE_PCT, SELL_FEE_PCT, Settings

Side = Literal["long", "short"]
Direction = Literal["up", "down"]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 21
BOOTSTRAP_BLOCK = 2_000_000  # indices drawn at once (see bootstrap_ci)
PASS_T = 3.0
SPREAD_TICKS = 0.5  # paid at each fill: a market order crosses half the one-tick bid-ask spread


@dataclass(frozen=True)
class Costs:
    """Fees in % of the traded value, and the spread paid at each fill in ticks of that price."""

    buy_fee_pct: float = BUY_FEE_PCT
    sell_fee_pct: float = SELL_FEE_PCT
    spread_ticks: float = SPREAD_TICKS

    @classmethod
    def from_settings(cls, s: Settings) -> Costs:
        return cls(s.buy_fee_pct, s.sell_fee_pct)

    def describe(self) -> dict[str, Any]:
        return {
            "buy_fee_pct": self.buy_fee_pct,
            "sell_fee_pct": self.sell_fee_pct,
            "spread_ticks": self.spread_ticks,
            "spread": "this many IDX ticks (bounds.tick_size) at the entry and at the exit",
        }


def net_return(entry: int | None, exit_: int | None, side: Side, costs: Costs) -> float | None:
    """The round trip's return after costs, in % of the entry, signed as the price move."""
    if not entry or not exit_:
        return None
    b, s = costs.buy_fee_pct / 100.0, costs.sell_fee_pct / 100.0
    h0, h1 = tick_size(entry) * costs.spread_ticks, tick_size(exit_) * costs.spread_ticks
    if side == "long":
        cost = (entry + h0) * (1 + b)
        return ((exit_ - h1) * (1 - s) - cost) / cost * 100.0
    proceeds = (entry - h0) * (1 - s)
    return ((exit_ + h1) * (1 + b) - proceeds) / proceeds * 100.0


# -- the Student-t tail, without scipy ---------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
            last = d * c
        if abs(last - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| ≥ |t|) for Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2)."""
    if not math.isfinite(t):
        return 0.0
    return min(1.0, betainc(df / 2.0, 0.5, df / (df + t * t)))


def bh_adjust(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p values (None stays None and is not counted among the m tests):
    p_(i) · m / i over the ascending order, made monotone from the largest down, capped at 1."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 1.0
    for rank, i in reversed(list(enumerate(sorted(idx, key=lambda j: pvalues[j] or 0.0), start=1))):
        p = pvalues[i]
        assert p is not None
        running = min(running, p * m / rank)
        out[i] = running
    return out


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of the mean; None for fewer than 2 values.

    The resamples are drawn in blocks of at most BOOTSTRAP_BLOCK indices: a 60-session window of
    the whole market holds ~50,000 NEUTRAL items, and 2,000 resamples of them at once would be
    10^8 indices (0.8 GB) per figure. The block size is fixed, so the interval stays a function
    of (values, resamples, seed) alone."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    per_block = max(1, BOOTSTRAP_BLOCK // x.size)
    means = np.concatenate([
        x[rng.integers(0, x.size, size=(min(per_block, resamples - i), x.size))].mean(axis=1)
        for i in range(0, resamples, per_block)
    ])  # fmt: skip
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def stats(values: Iterable[float], direction: Direction, *, ci: bool = True) -> dict[str, Any]:
    """n, hit rate, mean, median, [95% interval,] t and its p (`p_bh` filled in by `adjust_all`)."""
    x = np.asarray(list(values), dtype=np.float64)
    n = int(x.size)
    hits = int((x > 0).sum() if direction == "up" else (x < 0).sum())
    t: float | None = None
    p: float | None = None
    if n >= 2:
        sd = float(x.std(ddof=1))
        if sd > 0:
            t = float(x.mean()) / (sd / math.sqrt(n))
            p = t_two_sided_p(t, n - 1)
    out: dict[str, Any] = {
        "count": n,
        "direction": direction,
        "hit_rate": hits / n if n else None,
        "mean": float(x.mean()) if n else None,
        "median": float(np.median(x)) if n else None,
    }
    if ci:
        interval = bootstrap_ci(x.tolist())
        out["ci95"] = list(interval) if interval else None
    out |= {"t": t, "p": p, "p_bh": None}
    return out


def passes(st: dict[str, Any]) -> bool:
    """t beyond PASS_T in the signal's direction."""
    t = st.get("t")
    if t is None:
        return False
    return bool(t > PASS_T if st["direction"] == "up" else t < -PASS_T)


def adjust_all(figures: Sequence[dict[str, Any]]) -> int:
    """Fill `p_bh` of every figure from one Benjamini–Hochberg pass over all of their p values;
    returns m, the number of tests."""
    adjusted = bh_adjust([f["p"] for f in figures])
    for f, q in zip(figures, adjusted, strict=True):
        f["p_bh"] = q
    return sum(1 for q in adjusted if q is not None)
