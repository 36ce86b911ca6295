"""The typed output shapes (documents.py) against the SPEC's own examples, byte for byte."""

from __future__ import annotations

import typing
from datetime import date

from orderflow_pipeline.layers.summary import documents
from orderflow_pipeline.storage.lake import dumps


def test_candle_is_the_spec_6_line() -> None:
    # SPEC §6, verbatim.
    spec = (b'{"t0":1770344400000,"ohlc":{"o":1325,"h":1330,"l":1320,"c":1325},"vol":112,"delta":-112,'
            b'"levels":[{"p":1325,"bv":0,"av":112}]}')  # fmt: skip
    c = documents.candle(1770344400000, 1325, 1330, 1320, 1325, 112, -112, [(1325, 0, 112)])
    assert dumps(c) == spec
    assert list(c) == list(typing.get_type_hints(documents.Candle))


def test_summary_document_is_the_spec_10_example() -> None:
    # SPEC §10, verbatim (its worked item: f 1.1, div 6.61, sc 0.675, HIDDEN_ACCUM).
    spec = (b'{"status":"OK","date":"2026-02-06","generated_at":"2026-02-06T03:05:12Z","source":"warehouse",'
            b'"ctx_date":"2026-02-05","ctx_found":true,"count":1,"reason":null,"message":null,'
            b'"items":[{"t":"BBCA","d":15.2,"p":1.3,"v":50000,"h":9200,"l":9100,"r":100,"f":1.1,"div":6.61,'
            b'"ctx_net":1.2,"ctx_st":"ACCUMULATION","sc":0.675,"sig":"HIDDEN_ACCUM","vel":22.4,'
            b'"vel_accel":7.2}]}')  # fmt: skip
    # issue 27 adds two facts at the end of each item (the §10 keys are unchanged, in order): the
    # traded value in rupiah and the instrument kind, which the liquidity filter reads
    spec = spec.replace(b'"vel_accel":7.2}', b'"vel_accel":7.2,"val":45775000000,"ins":"share"}')
    item = documents.summary_item(
        t="BBCA", d=15.2, p=1.3, v=50000, h=9200, low=9100, r=100, f=1.1, div=6.61, ctx_net=1.2,
        ctx_st="ACCUMULATION", sc=0.675, sig="HIDDEN_ACCUM", vel=22.4, vel_accel=7.2,
        val=45_775_000_000, ins="share",
    )  # fmt: skip
    doc = documents.summary_document(
        date(2026, 2, 6), [item], generated_at="2026-02-06T03:05:12Z", source="warehouse",
        ctx_date=date(2026, 2, 5), ctx_found=True,
    )  # fmt: skip
    assert dumps(doc) == spec
    assert list(doc) == list(typing.get_type_hints(documents.SummaryDocument))
    assert list(item) == list(typing.get_type_hints(documents.SummaryItem))


def test_no_data_and_fallback_documents() -> None:
    nd = documents.no_data_document(
        date(2026, 2, 21), reason="WEEKEND_NO_DATA", message="No recent trading data found in last 7 days.",
        generated_at="2026-02-21T03:00:00Z",
    )  # fmt: skip
    assert nd == {"status": "NO_DATA", "date": "2026-02-21", "generated_at": "2026-02-21T03:00:00Z",
                  "source": None, "ctx_date": None, "ctx_found": False, "count": 0, "reason": "WEEKEND_NO_DATA",
                  "message": "No recent trading data found in last 7 days.", "items": []}  # fmt: skip
    item = documents.summary_item(
        t="TLKM", d=1.0, p=0.5, v=10, h=5, low=4, r=1, f=25.0, div=0.67, ctx_net=None, ctx_st=None, sc=0.5,
        sig="NEUTRAL", vel=0.0, vel_accel=-1.0, val=4_500, ins="share",
    )  # fmt: skip
    prev = documents.summary_document(date(2026, 2, 12), [item], generated_at=None, source="warehouse",
                                      ctx_date=None, ctx_found=False)  # fmt: skip
    fb = documents.fallback_document(prev, date(2026, 2, 12), 2)
    # Same keys in the same order; status/reason say which session and how old ("day(s)" literally).
    assert list(fb) == list(prev)
    assert (fb["status"], fb["reason"], fb["count"]) == (
        "FALLBACK",
        "Using 2026-02-12 (2 trading day(s) ago)",
        1,
    )
    rng = documents.range_document(prev, date(2026, 2, 9), date(2026, 2, 12))
    assert list(rng)[-2:] == ["from", "to"] and (rng["from"], rng["to"]) == ("2026-02-09", "2026-02-12")
