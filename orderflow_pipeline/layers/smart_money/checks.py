"""daily_features integrity checks for one date (SPEC §11); all WARN, since the summary treats
smart-money context as optional.

Check names and severities are declared once, in `orderflow_pipeline.checks.REGISTRY`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

import duckdb

from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers.smart_money.build import LAYER
from orderflow_pipeline.layers.smart_money.features import WINDOW
from orderflow_pipeline.layers.smart_money.listing import broksum_tickers
from orderflow_pipeline.layers.smart_money.store import Health, feature_health
from orderflow_pipeline.storage.inventory import (
    footprint_objects,
    footprint_tickers,
    footprint_tickers_by_date,
)
from orderflow_pipeline.storage.keys import as_date
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import quarantine_objects

SHOWN = 50  # files named in a check's metadata


def traded_tickers(lake: Lake, d: date | str) -> set[str]:
    """Tickers with at least one footprint file in an hour of WIB date d."""
    return footprint_tickers(footprint_objects(lake, d))


def traded_tickers_by_date(lake: Lake, dates: Iterable[date]) -> dict[date, set[str]]:
    """`traded_tickers` of every date of `dates`, from one pass over the footprint folders (a
    backfill's checks and universe ask it for every date)."""
    return footprint_tickers_by_date(lake, dates)


def quarantined(lake: Lake, d: date | str) -> dict[str, str]:
    """{source key: reason} of this layer's quarantine entries for date d (a torn entry is listed
    under its quarantine object's key, so it still counts)."""
    out: dict[str, str] = {}
    for key, body in sorted(lake.cat_many(quarantine_objects(lake, d, LAYER)).items()):
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                out[str(entry["source"])] = str(entry["reason"])
            except (ValueError, KeyError, TypeError):
                out[key] = "unreadable quarantine entry"
    return out


def _named(files: dict[str, str]) -> str:
    first = sorted(files)[0]
    more = f" and {len(files) - 1} more" if len(files) > 1 else ""
    return f"{first} ({files[first]}){more}"


def checks(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    d: date | str,
    *,
    broksum: set[str] | None = None,
    traded: set[str] | None = None,
    health: Health | None = None,
) -> list[CheckOutcome]:
    """daily_features checks for one date; the lake checks always, the table checks with `con`.

    What a backfill computes once for all its dates, the caller may pass: `broksum`, the date's
    tickers with a broker summary (`broksum_tickers_by_date`); `traded`, its tickers with footprint
    files (`traded_tickers_by_date`); `health`, its `feature_health` (`feature_health_by_date`).
    None computes them here."""
    d = as_date(d)
    day = d.isoformat()
    out: list[CheckOutcome] = []
    traded = traded_tickers(lake, d) if traded is None else traded
    present = broksum_tickers(lake, d) if broksum is None else broksum
    missing = sorted(traded - present)
    out.append(
        CheckOutcome.of(
            "broksum_present",
            not missing,
            f"{len(missing)} of {len(traded)} tickers that traded on {d} have no broker summary"
            if missing
            else f"every ticker that traded on {d} ({len(traded)}) has a broker summary",
            {"date": day, "traded": len(traded), "missing_count": len(missing), "missing": missing[:200]},
        )
    )
    rejected = quarantined(lake, d)
    out.append(
        CheckOutcome.of(
            "broksum_quarantined",
            not rejected,
            f"{len(rejected)} broker summaries of {d} quarantined: {_named(rejected)}"
            if rejected
            else f"no broker summary of {d} quarantined",
            {"date": day, "quarantined": len(rejected), "files": dict(sorted(rejected.items())[:SHOWN])},
        )
    )
    implausible = {k: r for k, r in rejected.items() if r.startswith("implausible")}
    out.append(
        CheckOutcome.of(
            "broksum_plausible",
            not implausible,
            f"{len(implausible)} broker summaries of {d} quarantined as implausible: {_named(implausible)}"
            if implausible
            else f"no broker summary of {d} failed the plausibility rules",
            {
                "date": day,
                "implausible": len(implausible),
                "files": dict(sorted(implausible.items())[:SHOWN]),
            },
        )
    )
    if con is None:
        return out
    total, short, nonfinite, bad_states = feature_health(con, d) if health is None else health
    out.append(
        CheckOutcome.of(
            "history_20_sessions",
            total > 0 and short == 0,
            f"{short} of {total} tickers on {d} have fewer than {WINDOW} sessions (no z, NEUTRAL)"
            if total
            else f"no daily_features rows for {d}",
            {"date": day, "rows": total, "insufficient_history": short},
        )
    )
    out.append(
        CheckOutcome.of(
            "z_finite",
            nonfinite == 0,
            f"{nonfinite} rows on {d} have a non-finite z or score" if nonfinite else "all z values finite",
            {"date": day, "non_finite": nonfinite},
        )
    )
    out.append(
        CheckOutcome.of(
            "states_allowed",
            not bad_states,
            f"unknown states on {d}: {bad_states}"
            if bad_states
            else "every state is ACCUMULATION/DISTRIBUTION/NEUTRAL",
            {"date": day, "bad_states": bad_states},
        )
    )
    return out
