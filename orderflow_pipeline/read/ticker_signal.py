"""One ticker's live signal (the seed's `GET /signal?kode=`, issue 19): its §10 item, as served.

The item is taken from the summary the read-side chain resolves (`fallback.resolve`: L0 file,
L1 previous sessions, L2 NO_DATA), never recomputed, so `/signal` always equals the row the
dashboard shows for the ticker.
"""

from __future__ import annotations

from typing import TypedDict

from orderflow_pipeline.layers.summary.documents import SummaryDocument, SummaryItem


class TickerSignal(TypedDict):
    status: str
    date: str | None
    source: str | None
    ctx_date: str | None
    item: SummaryItem


def ticker_signal(doc: SummaryDocument, ticker: str) -> TickerSignal | None:
    """`ticker`'s item in `doc` with the document's provenance; None when the document lists none."""
    for item in doc.get("items") or []:
        if item.get("t") == ticker:
            return {"status": doc["status"], "date": doc.get("date"), "source": doc.get("source"),
                    "ctx_date": doc.get("ctx_date"), "item": item}  # fmt: skip
    return None
