"""The warehouse layer's checks (SPEC §11): one date's `footprint_1m` rows against the lake's
footprint objects and the ingest manifest. Every one is WARN: a thin warehouse date is healed by
the summary (it reads the lake), never blocked. The `footprint_1m` asset and `GET /integrity` run
this same function (read/integrity.LAYERS).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import duckdb

from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.config import Settings
from orderflow_pipeline.storage import keys as K
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake, ObjectInfo
from orderflow_pipeline.warehouse.load import manifest_for
from orderflow_pipeline.warehouse.queries import coverage, scalar, ticker_set


def checks(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    d: date | str,
    *,
    min_tickers: int = Settings.min_warehouse_tickers_warn,
    fast_path_tickers: int = Settings.min_warehouse_tickers,
    listed: Mapping[str, ObjectInfo] | None = None,
) -> list[CheckOutcome]:
    """Integrity of the date's warehouse rows (SPEC §11; every one is WARN, none blocks).

    `listed`: the date's footprint objects when the caller has just listed them (a backfill's
    consolidate did, moments before); None lists them here."""
    d = K.as_date(d)
    if listed is None and con is not None:
        listed = footprint_objects(lake, d)
    if con is None:
        return [
            CheckOutcome.of(
                "warehouse_readable",
                False,
                "warehouse busy or missing: warehouse checks skipped",
            )
        ]
    out: list[CheckOutcome] = []
    have = ticker_set(con, d)
    n = len(have)  # = tickers_for(con, d), without a second scan
    out.append(
        CheckOutcome.of(
            "warehouse_min_tickers",
            n >= min_tickers,
            f"{n} distinct tickers in footprint_1m for {d} (floor {min_tickers})",
            {"tickers": n},
        )
    )
    cov = coverage(lake, d, have, floor=fast_path_tickers, listed=listed)
    out.append(
        CheckOutcome.of(
            "warehouse_fast_path_tickers",
            cov.fast_path,
            f"{d}: {cov.describe()}"
            + ("" if cov.fast_path else "; the summary builds from the lake and heals"),
            {
                "tickers": n,
                "lake_tickers": cov.lake_tickers,
                "missing": list(cov.missing[:50]),
                "floor": fast_path_tickers,
            },
        )
    )
    # the date's candles and its broken-OHLC candles in one scan; the manifest's rows from its
    # entries, read once for this check and the two below
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT (low <= least(open, close)"
        " AND greatest(open, close) <= high AND low > 0)) FROM footprint_1m WHERE date = ?",
        [d],
    ).fetchone()
    table_rows, bad_ohlc = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
    known = manifest_for(con, d)
    manifest_rows = sum(v[2] for v in known.values())
    out.append(
        CheckOutcome.of(
            "warehouse_manifest_rows",
            int(table_rows) == int(manifest_rows),
            f"manifest says {manifest_rows} candles, table holds {table_rows}",
            {"table_rows": int(table_rows), "manifest_rows": int(manifest_rows)},
        )
    )
    dupes = scalar(
        con,
        "SELECT count(*) FROM (SELECT ticker, time_key FROM footprint_1m WHERE date = ?"
        " GROUP BY ALL HAVING count(*) > 1)",
        [d],
    )
    out.append(
        CheckOutcome.of(
            "warehouse_unique_minutes",
            dupes == 0,
            f"{dupes} duplicated (ticker, time_key) pairs",
            {"duplicates": int(dupes)},
        )
    )
    out.append(
        CheckOutcome.of(
            "warehouse_ohlc_valid",
            bad_ohlc == 0,
            f"{bad_ohlc} candles with broken OHLC",
            {"broken": int(bad_ohlc)},
        )
    )
    assert listed is not None
    missing = sorted(
        k for k, info in listed.items() if known.get(k, (None, None))[:2] != (info.size, info.fingerprint)
    )
    out.append(
        CheckOutcome.of(
            "warehouse_objects_loaded",
            not missing,
            f"{len(listed) - len(missing)} of {len(listed)} lake objects loaded or quarantined",
            {"objects": len(listed), "not_loaded": len(missing), "examples": missing[:10]},
        )
    )
    quarantined = sum(v[3] for v in known.values())
    by_object = {k: v[3] for k, v in sorted(known.items()) if v[3]}
    out.append(
        CheckOutcome.of(
            "warehouse_quarantine",
            quarantined == 0,
            f"{quarantined} footprint lines quarantined by the warehouse for {d}",
            {
                "quarantined": quarantined,
                "objects": len(by_object),
                "examples": dict(list(by_object.items())[:10]),
            },
        )
    )
    return out
