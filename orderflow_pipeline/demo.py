"""The pure parts of `make demo`: which dates to simulate and how to print the summary.

The Dagster part (simulate, one materialize run, per-asset report) is `assets/demo.py`, so the
core never imports the glue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.summary.liquidity import Filter, liquid_items
from orderflow_pipeline.storage.keys import WIB


def demo_dates(days: int, now: datetime | None = None) -> list[date]:
    """The `days` trading days ending with the newest completed trading day (WIB).

    A day counts as completed from 17:00 WIB (after post-trading), so a demo run during the
    session does not show a half day as the newest.
    """
    now = now or datetime.now(timezone.utc)
    wib = now.astimezone(WIB)
    end = wib.date() if wib.hour >= 17 else wib.date() - timedelta(days=1)
    last = idx_calendar.latest_trading_day(end)
    return [*reversed(idx_calendar.previous_sessions(last, days - 1)), last]


def print_summary(doc: Mapping[str, Any], top: int = 15, liquid: Filter | None = None) -> None:
    """Print a §10 summary document as a short table (its status line, signal counts, top items).

    With `liquid` the table is the liquid view the dashboard opens on (issue 27): without it a demo
    led with 3-lot structured warrants scored 0.9, the noise the floor exists to hide. The counts
    stay over every item, as the document has them."""
    print(
        f"\nsummary: status={doc.get('status')} date={doc.get('date')} source={doc.get('source')} "
        f"ctx_date={doc.get('ctx_date')} ctx_found={doc.get('ctx_found')} items={doc.get('count')} "
        f"generated_at={doc.get('generated_at')}" + (f" reason={doc['reason']}" if doc.get("reason") else "")
    )
    items: list[Mapping[str, Any]] = list(doc.get("items") or [])
    counts: dict[str, int] = {}
    for it in items:
        counts[it["sig"]] = counts.get(it["sig"], 0) + 1
    print("signals:", json.dumps(dict(sorted(counts.items(), key=lambda kv: -kv[1]))))
    shown = items if liquid is None else liquid_items(items, liquid)
    if liquid is not None:
        kinds = "/".join(liquid.kinds)
        print(
            f"top of the liquid view ({kinds}, traded value >= Rp {liquid.min_value:,}): "
            f"{len(shown)} of {len(items)} items; the dashboard's toggle shows all"
        )
    print(
        f"{'ticker':<12}{'sig':<14}{'sc':>7}{'d%':>8}{'p%':>8}{'div':>8}{'vol':>12}{'ctx_st':>14}{'vel':>8}"
    )
    for it in shown[:top]:
        print(
            f"{it['t']:<12}{it['sig']:<14}{it['sc']:>7.3f}{it['d']:>8.2f}{it['p']:>8.2f}{it['div']:>8.2f}"
            f"{it['v']:>12}{str(it.get('ctx_st') or '-'):>14}{it.get('vel', 0):>8.2f}"
        )
