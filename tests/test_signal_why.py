"""The rule that fired (issue 29): `scoring.fired_rule` / `signal_legend` from the one signal table,
`GET /signals/why` serving them for the summary on screen, `GET /session`, and the footprint's
tick table and session phases in `/footprint-raw-hist`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_api import DATES, NOW, build_world

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api import create_app
from orderflow_pipeline.layers.summary import scoring
from orderflow_pipeline.layers.summary.context import CtxRow
from orderflow_pipeline.read import profile
from orderflow_pipeline.storage import keys


def test_fired_rule_worked_examples() -> None:
    # SPEC §10's item: d 15.2, p 1.3, z 1.2, ACCUMULATION, sc 0.675 -> not STRONG_BUY (sc <= 0.7),
    # HIDDEN_ACCUM (d < 40, z 1.2 > 0.7, ACCUMULATION).
    spec = {"d": 15.2, "p": 1.3, "sc": 0.675, "ctx_net": 1.2, "ctx_st": "ACCUMULATION", "sig": "HIDDEN_ACCUM"}
    assert scoring.fired_rule(spec) == {
        "signal": "HIDDEN_ACCUM",
        "rule": 3,
        "text": "HIDDEN_ACCUM: d 15.2 < 40, z 1.2 > 0.7, ACCUMULATION",
    }
    # The issue's example.
    issue = {**spec, "d": 7.8, "ctx_net": 1.97, "sc": 0.6}
    assert scoring.fired_rule(issue)["text"] == "HIDDEN_ACCUM: d 7.8 < 40, z 1.97 > 0.7, ACCUMULATION"
    # SPEC §9's worked example: d 10, p 0.5, no context, sc 0.589 -> NEUTRAL.
    neutral = {"d": 10, "p": 0.5, "sc": 0.589, "ctx_net": None, "ctx_st": None, "sig": "NEUTRAL"}
    assert scoring.fired_rule(neutral)["text"] == "NEUTRAL: no rule holds (sc 0.589, d 10, p 0.5, no context)"
    # Two SELL rules: the price rule first, else the score rule.
    assert scoring.fired_rule({**neutral, "p": -6.2, "sc": 0.2, "sig": "SELL"})["text"] == "SELL: p -6.2 < -5"
    assert (
        scoring.fired_rule({**neutral, "p": -1.0, "sc": 0.2, "sig": "SELL"})["text"] == "SELL: sc 0.2 < 0.4"
    )
    # A margin hidden by rounding (sc 0.6004 written 0.6): still the item's signal, said so.
    edge = scoring.fired_rule({**neutral, "sc": 0.6, "sig": "BUY"})
    assert edge["rule"] == 6 and edge["text"].endswith("(holds on the unrounded values)")


def test_legend_lists_the_table_in_order() -> None:
    legend = scoring.signal_legend()
    assert [r["signal"] for r in legend] == [*scoring.SIGNAL_TABLE, "NEUTRAL"]
    assert legend[3]["text"] == "HIDDEN_ACCUM: d < 40, z > 0.7, ACCUMULATION"
    assert legend[5]["text"] == "WATCH_ACCUM: norm(d) > 0.8, sc > 0.6, p >= -3, no context"


def spec_signals(sc: float, dp: float, pp: float, z: float, state: str | None, ctx: bool) -> str:
    """SPEC §9's table written out by hand, independently of scoring.SIGNAL_RULES."""
    acc, dist = ctx and state == "ACCUMULATION", ctx and state == "DISTRIBUTION"
    if pp < -5:
        return "SELL"
    if acc and sc > 0.7 and pp >= -2:
        return "STRONG_BUY"
    if ctx and dp > 80 and z < -0.5:
        return "TRAP_WARNING"
    if acc and dp < 40 and z > 0.7:
        return "HIDDEN_ACCUM"
    if dist and sc < 0.3:
        return "STRONG_SELL"
    if not ctx and (min(max(dp, -100), 100) + 100) / 200 > 0.8 and sc > 0.6 and pp >= -3:
        return "WATCH_ACCUM"
    if sc > 0.6 and pp >= -3:
        return "BUY"
    if sc < 0.4:
        return "SELL"
    return "NEUTRAL"


def test_table_driven_signals_equal_the_spec_table_and_fired_rule_names_each() -> None:
    """A market of random aggregates and contexts through `score_items`: every signal equals the
    SPEC's table by hand, and `fired_rule` names a rule of the item's own signal."""
    rng = np.random.default_rng(29)
    n = 3000
    open_ = rng.integers(100, 10_000, n)
    close = np.maximum(1, (open_ * (1 + rng.normal(0, 0.05, n))).astype(np.int64))
    vol = rng.integers(1, 1_000_000, n)
    delta = (vol * rng.uniform(-1, 1, n)).astype(np.int64)
    tickers = [f"T{i:04d}" for i in range(n)]
    agg = scoring.Aggregates.from_columns({
        "ticker": tickers, "open": open_, "close": close, "high": np.maximum(open_, close) + 5,
        "low": np.minimum(open_, close), "vol": vol, "delta": delta, "vol_w": vol, "delta_w": delta,
        "val": vol * close * 100,
    })  # fmt: skip
    states = ["ACCUMULATION", "DISTRIBUTION", "NEUTRAL"]
    ctx = {t: CtxRow(float(rng.normal(0, 1.5)), states[i % 3]) for i, t in enumerate(tickers) if i % 4}
    for formula in ("A", "B"):
        items = scoring.score_items(agg, ctx, formula=formula)
        seen = set()
        for it in items:
            i = tickers.index(it["t"])
            dp = scoring.delta_pct(delta[i], vol[i])
            pp = scoring.price_pct(open_[i], close[i])
            c = ctx.get(it["t"])
            z = c.z_ngr if c else 0.0
            sc = (scoring.formula_a(dp, pp, z) if formula == "A" else
                  scoring.formula_b(dp, pp, z, c.state if c else None))  # fmt: skip
            assert it["sig"] == spec_signals(sc, dp, pp, z, c.state if c else None, c is not None)
            why = scoring.fired_rule(it)
            assert why["signal"] == it["sig"] and why["text"].startswith(it["sig"] + ":")
            if why["rule"] is not None:
                assert scoring.SIGNAL_RULES[why["rule"]].signal == it["sig"]
            seen.add(it["sig"])
        assert len(seen) >= 6, seen  # most rules exercised


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    world = build_world(tmp_path_factory.mktemp("why"), n_tickers=30)
    return TestClient(create_app(world.settings, clock=lambda: NOW, summary_ttl=0))


def test_why_explains_the_served_summary(client: TestClient) -> None:
    summary = client.get("/footprint/summary").json()
    why = client.get("/signals/why").json()
    assert why["status"] == "OK" and why["formula"] == "A" and why["asked"] is None
    assert why["date"] == summary["date"] and why["legend"] == scoring.signal_legend()
    assert why["items"] == {it["t"]: scoring.fired_rule(it)["text"] for it in summary["items"]}


def test_why_names_formula_b_and_the_date_for_a_weekend(client: TestClient) -> None:
    # Sunday 2026-02-08 has no summary of its own: Friday 2026-02-06 rescored from the warehouse.
    summary = client.get("/footprint/summary", params={"date": "2026-02-08"}).json()
    why = client.get("/signals/why", params={"date": "2026-02-08"}).json()
    assert summary["status"] == "FALLBACK" and summary["date"] == "2026-02-06" == why["date"]
    assert why["formula"] == "B" and why["asked"] == "2026-02-08" and why["asked_trading_day"] is False
    assert why["items"] == {it["t"]: scoring.fired_rule(it)["text"] for it in summary["items"]}
    assert client.get("/signals/why", params={"date": "2026-2-8"}).status_code == 400


@pytest.mark.parametrize(
    ("wib", "state"),
    [("2026-02-12T08:50", "pre-open"), ("2026-02-12T10:00", "session 1"), ("2026-02-12T12:30", "lunch"),
     ("2026-02-12T14:00", "session 2"), ("2026-02-12T15:55", "pre-close"), ("2026-02-12T16:05", "post"),
     ("2026-02-12T20:00", "closed"), ("2026-02-14T10:00", "closed")],
)  # fmt: skip
def test_session_route(tmp_path: Path, wib: str, state: str) -> None:
    world = build_world(tmp_path, n_tickers=3, summary=False, dates=DATES[-1:])
    now = datetime.fromisoformat(wib).replace(tzinfo=keys.WIB).astimezone(timezone.utc)
    body = TestClient(create_app(world.settings, clock=lambda: now)).get("/session").json()
    newest = max(c["t0"] for cs in world.candles.values() for c in cs)
    wib_newest = datetime.fromtimestamp(newest / 1000, tz=timezone.utc).astimezone(keys.WIB).strftime("%H:%M")
    assert body["state"] == state == idx_calendar.session_state(now)
    assert body["newest_tape_t0"] == newest and body["newest_tape_wib"] == wib_newest
    assert body["newest_tape_date"] == DATES[-1].isoformat() and body["warehouse"] == "ok"


def test_raw_hist_serves_the_tick_table_and_each_bars_phase(client: TestClient) -> None:
    body = client.get("/footprint-raw-hist", params={"kode": "T001", "date": "2026-02-10", "bar": 5}).json()
    assert body["ticks"] == {"edges": list(profile.TICK_EDGES), "sizes": list(profile.TICKS)}
    assert len(body["phases"]) == len(body["candles"]) > 0
    for c, ph in zip(body["candles"], body["phases"], strict=True):
        at = datetime.fromtimestamp(c["t0"] / 1000, tz=timezone.utc)
        assert ph == idx_calendar.session_state(at)
    assert date(2026, 2, 10).weekday() == 1 and set(body["phases"]) <= {"session 1", "session 2"}
