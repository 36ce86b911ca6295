"""The footprint layer's integrity checks (SPEC §11) for one date, and the build-then-check unit
a backfill spreads over the cores. Check names and severities are declared in `checks.REGISTRY`.
"""

from __future__ import annotations

from datetime import date

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers.footprint import handover
from orderflow_pipeline.layers.footprint import minutes as footprint_minutes
from orderflow_pipeline.layers.footprint.build import LAYER, build_footprint_handing
from orderflow_pipeline.layers.footprint.handover import Handed
from orderflow_pipeline.layers.footprint.result import FootprintResult
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import count_quarantined

# (lake, date, force, tickers, the run's hand-over spool folder or None, DuckDB threads or None)
Job = tuple[Lake, date, bool, list[str] | None, str | None, int | None]


def build_and_check(job: Job) -> tuple[FootprintResult, list[CheckOutcome], Handed | None]:
    """`build_footprint` then `checks` of one date: the unit a backfill spreads over the cores
    (`parallel.ordered_map`); dates are independent (own tape, manifest, quarantine, hour files).
    The job carries the run's hand-over spool folder (None: no hand-over) and the DuckDB thread
    cap of a worker process that shares the cores with the others (`build.connect`)."""
    lake, d, force, tickers, spool, threads = job
    res, handed = build_footprint_handing(lake, d, spool, force=force, tickers=tickers, threads=threads)
    return res, checks(lake, None, d, handed=handed), handed


def checks(
    lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str, *, handed: Handed | None = None
) -> list[CheckOutcome]:
    """Integrity checks of SPEC §11 for this layer (con unused: lake-only checks). `handed`: what
    a build of this process just wrote (its candle minutes are not read back)."""
    d = keys.as_date(d)
    listed = footprint_objects(lake, d)
    files = sorted(listed)
    out = [
        CheckOutcome.of(
            "footprint_files_exist",
            bool(files),
            f"{len(files)} footprint hour files for {d}"
            if files
            else f"the lake has no footprint files for {d}",
            {"files": len(files)},
        )
    ]
    n_q = count_quarantined(lake, d, LAYER).get(LAYER, 0)
    out.append(
        CheckOutcome.of(
            "footprint_quarantine_empty",
            n_q == 0,
            f"{n_q} footprint lines quarantined for {d}" + (f" (see quarantine/{d}/{LAYER}/)" if n_q else ""),
            {"quarantined": n_q},
        )
    )
    minutes = idx_calendar.session_minute_starts_ms(d)
    session = set(minutes)
    expected = idx_calendar.expected_minutes(d)
    # each ticker's candle minutes; only files changed since the last check are read (S3: GETs)
    built = handover.minutes(handed) if handed else None
    per_ticker = footprint_minutes.minutes_by_ticker(lake, d, listed, built)
    # "traded all session": a continuous candle in the first and in the last 30 minutes
    head, tail = set(minutes[:30]), set(minutes[-30:])
    low: dict[str, float] = {}
    full = 0
    for t, t0s in sorted(per_ticker.items()):
        if t0s & head and t0s & tail:
            full += 1
            share = len(t0s & session) / expected
            if share < 0.5:
                low[t] = round(share, 3)
    out.append(
        CheckOutcome.of(
            "footprint_completeness",
            not low,
            f"{len(low)} of {full} all-session tickers have < 50% of {expected} expected minutes"
            + (": " + ", ".join(sorted(low)[:50]) if low else ""),
            {"tickers_all_session": full, "incomplete": low, "expected_minutes": expected},
        )
    )
    return out
