"""`print_summary`: the terminal table `make demo` ends with is the liquid view (issue 27)."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_pipeline.demo import print_summary
from orderflow_pipeline.layers.summary.liquidity import Filter


def _item(t: str, sc: float, val: int) -> dict[str, Any]:
    return {"t": t, "sig": "BUY", "sc": sc, "d": 1.0, "p": 0.5, "div": 2.0, "v": 3, "val": val}


DOC = {
    "status": "OK",
    "date": "2026-12-04",
    "count": 3,
    # §10's order (score descending): the 3-lot structured warrant leads, as it did in the demo
    "items": [
        _item("GJTLZPCJ6A", 0.935, 3 * 100 * 50),
        _item("AADI", 0.8, 100_000_000),
        _item("BBRI", 0.7, 9 * 10**11),
    ],
}


def _rows(text: str) -> list[str]:
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("ticker"))
    return [line.split()[0] for line in lines[head + 1 :] if line.strip()]


def test_the_liquid_view_hides_the_warrant_and_the_ticker_below_the_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # floor Rp 500 M: GJTLZPCJ6A is a structured warrant (kind filter), AADI traded Rp 100 M
    # (< 500 M), BBRI Rp 900 B: only BBRI is shown; the signal counts still count all three
    print_summary(DOC, liquid=Filter(min_value=500_000_000))
    out = capsys.readouterr().out
    assert _rows(out) == ["BBRI"]
    assert '"BUY": 3' in out
    assert "1 of 3 items" in out


def test_without_a_filter_every_item_is_listed_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    print_summary(DOC)
    assert _rows(capsys.readouterr().out) == ["GJTLZPCJ6A", "AADI", "BBRI"]
