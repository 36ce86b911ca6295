"""Every scoring formula of SPEC §9, once.

Each formula is written with numpy ufuncs so the same function serves a single ticker (floats in,
numpy floats out) and a full-market day (arrays in, arrays out): the summary, the range endpoint,
the read-side fallback and the tests all call these, so a scalar and a vector result can never
disagree by a different order of float operations.

Signals are evaluated on unrounded values; rounding (`round_js`) is applied only when an item is
written out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from orderflow_pipeline.bounds import limit_at
from orderflow_pipeline.layers.summary.documents import SummaryItem, summary_item
from orderflow_pipeline.layers.summary.liquidity import instrument

ArrayLike = float | int | npt.NDArray[Any]

ACCUMULATION = "ACCUMULATION"
DISTRIBUTION = "DISTRIBUTION"
NEUTRAL = "NEUTRAL"


@dataclass(frozen=True)
class Bound:
    """One comparison of a signal rule: `metric op bound` on a §9 metric.

    Metrics by their §10 item names: `d` deltaPct, `p` pricePct, `sc` score, `z` context z_ngr,
    `nd` normalize(deltaPct, −100, 100).
    """

    metric: Literal["d", "p", "sc", "z", "nd"]
    op: Literal["<", ">", ">="]
    bound: float


@dataclass(frozen=True)
class SignalRule:
    """A row of the §9 signal table. `context`: True needs context, False needs its absence, None
    either; `state`: the context state it needs (implies context)."""

    signal: str
    bounds: tuple[Bound, ...]
    context: bool | None = None
    state: str | None = None


# The §9 signal table in evaluation order (index = rule number), NEUTRAL when none holds. The one
# copy of its thresholds: `signals` evaluates it, `fired_rule` / `signal_legend` explain it, so the
# API and the dashboard never re-state a number.
SIGNAL_RULES: tuple[SignalRule, ...] = (
    SignalRule("SELL", (Bound("p", "<", -5),)),
    SignalRule("STRONG_BUY", (Bound("sc", ">", 0.7), Bound("p", ">=", -2)), True, ACCUMULATION),
    SignalRule("TRAP_WARNING", (Bound("d", ">", 80), Bound("z", "<", -0.5)), True),
    SignalRule("HIDDEN_ACCUM", (Bound("d", "<", 40), Bound("z", ">", 0.7)), True, ACCUMULATION),
    SignalRule("STRONG_SELL", (Bound("sc", "<", 0.3),), True, DISTRIBUTION),
    # before BUY: [fix], the seed's order made it unreachable
    SignalRule("WATCH_ACCUM", (Bound("nd", ">", 0.8), Bound("sc", ">", 0.6), Bound("p", ">=", -3)), False),
    SignalRule("BUY", (Bound("sc", ">", 0.6), Bound("p", ">=", -3))),
    SignalRule("SELL", (Bound("sc", "<", 0.4),)),
)
SIGNAL_TABLE: tuple[str, ...] = tuple(r.signal for r in SIGNAL_RULES)
SIGNALS: frozenset[str] = frozenset(SIGNAL_TABLE) | {NEUTRAL}
_OPS: dict[str, Callable[[Any, float], Any]] = {"<": np.less, ">": np.greater, ">=": np.greater_equal}

VELOCITY_WINDOW_MS = 60 * 60 * 1000


def normalize(v: ArrayLike, a: float, b: float) -> Any:
    """(clamp(v, a, b) − a) / (b − a)."""
    return (np.minimum(np.maximum(v, a), b) - a) / (b - a)


# -- per-ticker metrics ---------------------------------------------------------------------------


def delta_pct(delta: ArrayLike, vol: ArrayLike) -> Any:
    """delta/vol·100, 0 when vol = 0 (also the velocity formula over the last-hour sums)."""
    delta = np.asarray(delta, dtype=np.float64)
    vol = np.asarray(vol, dtype=np.float64)
    safe = np.where(vol == 0, 1.0, vol)
    out = np.where(vol == 0, 0.0, delta / safe * 100)
    return out if out.ndim else np.float64(out)


def price_pct(open_: ArrayLike, close: ArrayLike) -> Any:
    open_ = np.asarray(open_, dtype=np.float64)
    out = (np.asarray(close, dtype=np.float64) - open_) / open_ * 100
    return out if out.ndim else np.float64(out)


def price_range(high: ArrayLike, low: ArrayLike) -> Any:
    return np.subtract(high, low)


def fluct(high: ArrayLike, low: ArrayLike) -> Any:
    """range/low·100."""
    low_f = np.asarray(low, dtype=np.float64)
    out = (np.asarray(high, dtype=np.float64) - low_f) / low_f * 100
    return out if out.ndim else np.float64(out)


def divergence(dp: ArrayLike, pp: ArrayLike) -> Any:
    """|deltaPct| / (1 + |pricePct|): heavy flow with little price move."""
    return np.abs(dp) / (1 + np.abs(pp))


def velocity(delta_w: ArrayLike, vol_w: ArrayLike) -> Any:
    """vel = Σdelta/Σvol·100 over the last hour before the cut-off; 0 when that volume is 0."""
    return delta_pct(delta_w, vol_w)


# -- scores ---------------------------------------------------------------------------------------


def formula_a(dp: ArrayLike, pp: ArrayLike, z: ArrayLike) -> Any:
    """Summary score: 0.3·norm(z,±3) + 0.7·norm(dp,±100); ×0.5 if pp < −4; ×1.1 if −1 ≤ pp ≤ 2; ≤ 1."""
    pp = np.asarray(pp, dtype=np.float64)
    score = 0.3 * normalize(z, -3, 3) + 0.7 * normalize(dp, -100, 100)
    score = np.where(pp < -4, score * 0.5, score)
    score = np.where((pp >= -1) & (pp <= 2), score * 1.1, score)
    out = np.minimum(1.0, score)
    return out if out.ndim else np.float64(out)


def _state_array(state: Any, n: int | None) -> npt.NDArray[np.object_]:
    if n is None:
        return np.asarray([state], dtype=object)
    if isinstance(state, str) or state is None:
        return np.full(n, state, dtype=object)
    return np.asarray(state, dtype=object)


def formula_b(dp: ArrayLike, pp: ArrayLike, z: ArrayLike, state: Any) -> Any:
    """Range score: 0.7·rt + 0.3·h, rt from flow and price, h from context z ±0.1 by state, clamped."""
    rt = 0.7 * normalize(dp, -25, 25) + 0.3 * normalize(pp, -5, 5)
    n = np.shape(rt)[0] if np.ndim(rt) else None
    st = _state_array(state, n)
    adj = np.where(st == ACCUMULATION, 0.1, np.where(st == DISTRIBUTION, -0.1, 0.0))
    if n is None:
        adj = adj[0]
    h = np.minimum(np.maximum(normalize(z, -3, 3) + adj, 0.0), 1.0)
    out = 0.7 * rt + 0.3 * h
    return out if np.ndim(out) else np.float64(out)


def signals(
    score: ArrayLike, dp: ArrayLike, pp: ArrayLike, z: ArrayLike, state: Any, has_ctx: ArrayLike
) -> npt.NDArray[np.object_]:
    """The §9 signal table, first rule that holds, on unrounded values (vectorised).

    Rules 1–4 need context; rule 5 needs its absence. Without context `z` must be 0 and
    `state` None.
    """
    score, dp, pp, z = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (score, dp, pp, z))
    n = score.shape[0]
    ctx = np.broadcast_to(np.atleast_1d(np.asarray(has_ctx, dtype=bool)), (n,))
    st = _state_array(state, n)
    metrics = {"d": dp, "p": pp, "sc": score, "z": z, "nd": normalize(dp, -100, 100)}
    conditions = [_rule_mask(rule, metrics, ctx, st) for rule in SIGNAL_RULES]
    return np.select(conditions, list(SIGNAL_TABLE), default=NEUTRAL).astype(object)


def _rule_mask(
    rule: SignalRule,
    metrics: Mapping[str, npt.NDArray[np.float64]],
    ctx: npt.NDArray[np.bool_],
    st: npt.NDArray[np.object_],
) -> npt.NDArray[np.bool_]:
    """Where `rule` holds (the one evaluation of a rule: `signals` and `fired_rule` both call it)."""
    cond = np.ones(ctx.shape[0], dtype=bool)
    if rule.context is not None or rule.state is not None:
        cond &= ctx if rule.context is not False else ~ctx
    if rule.state is not None:
        cond &= st == rule.state
    for b in rule.bounds:
        cond &= _OPS[b.op](metrics[b.metric], b.bound)
    return cond


# -- explanation (the dashboard's "why", the legend) -----------------------------------------------

_METRIC_NAMES = {"d": "d", "p": "p", "sc": "sc", "z": "z", "nd": "norm(d)"}


def _num(x: float) -> str:
    """Shortest plain form: 7.8, 0.675, -5 (the item's already-rounded values stay as written)."""
    return f"{x:.6g}"


def _rule_needs(rule: SignalRule) -> str | None:
    if rule.state is not None:
        return rule.state
    if rule.context is True:
        return "context"
    if rule.context is False:
        return "no context"
    return None


def rule_text(rule: SignalRule) -> str:
    """A rule written out: "HIDDEN_ACCUM: d < 40, z > 0.7, ACCUMULATION" (the legend's line)."""
    parts = [f"{_METRIC_NAMES[b.metric]} {b.op} {_num(b.bound)}" for b in rule.bounds]
    needs = _rule_needs(rule)
    return f"{rule.signal}: " + ", ".join(parts + ([needs] if needs else []))


def signal_legend() -> list[dict[str, Any]]:
    """Every rule of the table in evaluation order, then NEUTRAL: what the dashboard's legend lists."""
    out: list[dict[str, Any]] = [
        {"rule": i, "signal": r.signal, "text": rule_text(r)} for i, r in enumerate(SIGNAL_RULES)
    ]
    out.append({"rule": None, "signal": NEUTRAL, "text": f"{NEUTRAL}: no rule above holds"})
    return out


def _item_metrics(item: Mapping[str, Any]) -> tuple[dict[str, float], bool, str | None]:
    z = item.get("ctx_net")
    d = float(item["d"])
    m = {"d": d, "p": float(item["p"]), "sc": float(item["sc"]), "z": 0.0 if z is None else float(z),
         "nd": float(normalize(d, -100, 100))}  # fmt: skip
    return m, z is not None, item.get("ctx_st") if z is not None else None


def _holds(rule: SignalRule, m: Mapping[str, float], has_ctx: bool, state: str | None) -> bool:
    metrics = {k: np.array([v], dtype=np.float64) for k, v in m.items()}
    st = np.array([state], dtype=object)
    return bool(_rule_mask(rule, metrics, np.array([has_ctx]), st)[0])


def fired_rule(item: Mapping[str, Any]) -> dict[str, Any]:
    """Why a §10 item got its signal: the rule with the item's own numbers,
    e.g. "HIDDEN_ACCUM: d 7.8 < 40, z 1.97 > 0.7, ACCUMULATION".

    The signal was decided on unrounded values; the item carries rounded ones. The first rule that
    holds on the item's numbers and gives its `sig` is named; when rounding hides the margin (e.g.
    sc 0.6004 written 0.6), the first rule of that signal is named and the text says so.
    """
    m, has_ctx, state = _item_metrics(item)
    sig = str(item["sig"])
    if sig == NEUTRAL:
        shown = ", ".join(f"{k} {_num(m[k])}" for k in ("sc", "d", "p"))
        z = f", z {_num(m['z'])}, {state}" if has_ctx else ", no context"
        return {"signal": sig, "rule": None, "text": f"{NEUTRAL}: no rule holds ({shown}{z})"}
    first = next((i for i, r in enumerate(SIGNAL_RULES) if _holds(r, m, has_ctx, state)), None)
    exact = first is not None and SIGNAL_RULES[first].signal == sig
    idx = first if exact else next((i for i, r in enumerate(SIGNAL_RULES) if r.signal == sig), None)
    if idx is None:
        return {"signal": sig, "rule": None, "text": f"{sig}: not a signal of the table"}
    rule = SIGNAL_RULES[idx]
    parts = [f"{_METRIC_NAMES[b.metric]} {_num(m[b.metric])} {b.op} {_num(b.bound)}" for b in rule.bounds]
    needs = _rule_needs(rule)
    text = f"{sig}: " + ", ".join(parts + ([needs] if needs else []))
    if not exact:
        text += " (holds on the unrounded values)"
    return {"signal": sig, "rule": idx, "text": text}


# -- output ---------------------------------------------------------------------------------------


_QUANTUM = {dp: Decimal(1).scaleb(-dp) for dp in range(8)}


def round_js(x: float, dp: int) -> float:
    """JavaScript `toFixed`: half away from zero on the exact binary value (2.675 -> 2.67)."""
    q = Decimal(float(x)).quantize(_QUANTUM.get(dp) or Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP)
    return float(q) + 0.0  # + 0.0 turns -0.0 into 0.0, as JSON.stringify(-0) gives "0"


# The per-ticker aggregate columns (warehouse.aggregate_* computes them in SQL, from either source).
# vol_w / delta_w are the sums over the velocity window: candles with t0 > cutoff − 60 min;
# val the traded value in rupiah (liquidity.TRADED_VALUE_SQL).
AGGREGATE_COLUMNS = ("ticker", "open", "high", "low", "close", "vol", "delta", "vol_w", "delta_w", "val")


@dataclass
class Aggregates:
    """Column arrays of per-ticker aggregates (one row per ticker), from either source."""

    ticker: npt.NDArray[np.object_]
    open: npt.NDArray[np.int64]
    high: npt.NDArray[np.int64]
    low: npt.NDArray[np.int64]
    close: npt.NDArray[np.int64]
    vol: npt.NDArray[np.int64]
    delta: npt.NDArray[np.int64]
    vol_w: npt.NDArray[np.int64]
    delta_w: npt.NDArray[np.int64]
    val: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.ticker.shape[0])

    @classmethod
    def from_columns(cls, cols: Mapping[str, Sequence[Any] | npt.NDArray[Any]]) -> Aggregates:
        return cls(
            ticker=np.asarray(cols["ticker"], dtype=object),
            **{k: np.asarray(cols[k], dtype=np.int64) for k in AGGREGATE_COLUMNS[1:]},
        )

    @classmethod
    def empty(cls) -> Aggregates:
        return cls.from_columns({k: [] for k in AGGREGATE_COLUMNS})


def _scores(
    agg: Aggregates, ctx_rows: Mapping[str, Any], formula: str
) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    """(unrounded score, deltaPct, pricePct, z, state, context rows) per ticker of `agg`."""
    n = len(agg)
    dp = delta_pct(agg.delta, agg.vol)
    pp = price_pct(agg.open, agg.close)
    rows = [ctx_rows.get(t) for t in agg.ticker]
    z = np.fromiter((r.z_ngr if r is not None else 0.0 for r in rows), dtype=np.float64, count=n)
    st = np.asarray([r.state if r is not None else None for r in rows], dtype=object)
    if formula == "A":
        sc = formula_a(dp, pp, z)
    elif formula == "B":
        sc = formula_b(dp, pp, z, st)
    else:
        raise ValueError(f"unknown formula {formula!r}")
    return sc, dp, pp, z, st, rows


def unrounded_scores(agg: Aggregates, ctx_rows: Mapping[str, Any], *, formula: str = "A") -> list[float]:
    """The unrounded score of each ticker of `agg`, in its order: the items' sort key (§10), for
    a caller that scores a few tickers at a time and orders them among earlier ones (the live
    summary, `live.engine`)."""
    return [float(x) for x in np.atleast_1d(_scores(agg, ctx_rows, formula)[0])] if len(agg) else []


def score_items(
    agg: Aggregates,
    ctx_rows: Mapping[str, Any],
    *,
    formula: str = "A",
    prev_close: Mapping[str, int] | None = None,
) -> list[SummaryItem]:
    """Score every ticker and shape the §10 items, sorted by unrounded score desc, then ticker.

    `ctx_rows` maps ticker -> object with `z_ngr` and `state` (context.CtxRow); a ticker missing
    from it has no context. `formula` "A" (summary) or "B" (range endpoint). `prev_close` (ticker
    -> the previous session's close) gives each item its `lim`; a ticker missing from it has none.
    """
    prev_close = prev_close or {}
    n = len(agg)
    if n == 0:
        return []
    sc, dp, pp, z, st, rows = _scores(agg, ctx_rows, formula)
    rng = price_range(agg.high, agg.low)
    fl = fluct(agg.high, agg.low)
    dv = divergence(dp, pp)
    vel = velocity(agg.delta_w, agg.vol_w)
    accel = vel - dp
    has = np.fromiter((r is not None for r in rows), dtype=bool, count=n)
    sig = signals(sc, dp, pp, z, st, has).tolist()
    # plain Python lists for the per-item loop (numpy scalar indexing is ~10x slower)
    t_l, sc_l, dp_l, pp_l, fl_l, dv_l, vel_l, acc_l = (
        np.asarray(x).tolist() for x in (agg.ticker, sc, dp, pp, fl, dv, vel, accel)
    )
    v_l, h_l, lo_l, r_l, val_l, c_l = (
        np.asarray(x).tolist() for x in (agg.vol, agg.high, agg.low, rng, agg.val, agg.close)
    )
    items: list[SummaryItem] = []
    for i in sorted(range(n), key=lambda i: (-sc_l[i], t_l[i])):
        ctx = rows[i]
        items.append(
            summary_item(
                t=str(t_l[i]),
                d=round_js(dp_l[i], 2),
                p=round_js(pp_l[i], 2),
                v=int(v_l[i]),
                h=int(h_l[i]),
                low=int(lo_l[i]),
                r=int(r_l[i]),
                f=round_js(fl_l[i], 2),
                div=round_js(dv_l[i], 2),
                ctx_net=round_js(ctx.z_ngr, 2) if ctx is not None else None,
                ctx_st=ctx.state if ctx is not None else None,
                sc=round_js(sc_l[i], 3),
                sig=str(sig[i]),
                vel=round_js(vel_l[i], 2),
                vel_accel=round_js(acc_l[i], 2),
                val=int(val_l[i]),
                ins=instrument(str(t_l[i])),
                lim=limit_at(prev_close.get(str(t_l[i])), int(c_l[i])),
            )
        )
    return items
