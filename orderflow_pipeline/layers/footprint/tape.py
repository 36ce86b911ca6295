"""Trade tape (SPEC §5): parse the pipe format and classify the aggressor, vectorised in DuckDB.

Why DuckDB and not a loop: a full-market day is ~940k trades and the intraday schedule runs every
five minutes. The tape bytes of many objects become ONE Arrow string column (a zero-copy chunk
per object, line offsets found with numpy), so provenance (object, line number) survives for
quarantine while JSON extraction, field splitting, dedupe and the tick rule (window functions)
run in DuckDB. A well-formed line costs one regex and one split; only lines the regex rejects
get the per-field checks that name the quarantine reason.

Classification: [14] non-zero => buyer-initiated, [13] non-zero => seller-initiated. Only when
both or neither are set, and only inside a continuous session, the tick rule decides: uptick buy,
downtick sell, zero tick inherits the previous classification, where "previous" is the ticker's
previous continuous-session regular-board trade in (trade time, trade number) order. Auction and
post-trading prints count in vol/OHLC but are neither buy nor sell (side 0).

Bounds (bounds.py, the one owner): a line whose price, regular-board volume, trade number or
order numbers ([13]/[14]) is outside them is quarantined as that one line with its reason, so the
candle built from the rest of its minute is always within the warehouse validator's bounds. The
fast regex encodes the bounds by digit count; the slow path names the exact violation.

Totality: every SQL expression over a line is a `try`/`try_cast`, so no line can make the parse
raise; should an object still do so (not bytes, a case nobody foresaw), `load_tape` narrows the
failure to that object and quarantines it whole. Gzip'd objects (`*.jsonl.gz`) are decompressed by
`object_text`; one that does not decompress is quarantined whole with the reason.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import numpy as np
import pyarrow as pa

from orderflow_pipeline import bounds, idx_calendar
from orderflow_pipeline.layers.footprint.tape_lines import MAX_LINE_BYTES, LongLine, lines_table
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.keys import WIB, as_date
from orderflow_pipeline.storage.lake import Blob
from orderflow_pipeline.storage.quarantine import QuarantineBatch, describe

N_FIELDS = 20
TRADES_TABLE = "fp_trades"
# The deduplicated regular-board trades with their order-number side (`rule_side`: ±1, 0 outside
# the continuous sessions, NULL when both or neither order number is set), before the tick rule.
UNIQUE_VIEW = "fp_u"
# "Previous" trade of the tick rule (§5): the ticker's previous trade of the same session kind
# in (trade time, trade number) order. The classification and its audit (aggressor_quality.py)
# both order by this window, so they cannot disagree on which trade came before.
TICK_WINDOW = "PARTITION BY ticker, cont ORDER BY secs, trade_no"


def tick_sql(price: str, prev: str) -> str:
    """The tick rule's direction: uptick 1, downtick -1, zero tick (or no previous) NULL."""
    return f"CASE WHEN {price} > {prev} THEN 1 WHEN {price} < {prev} THEN -1 END"


@dataclass
class TapeLoad:
    """What one load saw; the trades themselves sit in DuckDB table `fp_trades`."""

    lines: int = 0
    blank: int = 0
    trades: int = 0  # valid regular-board trades after dedupe
    duplicates: int = 0
    non_regular: int = 0  # NG/TN/... board prints: excluded, not order flow
    non_trade: int = 0  # record types other than B
    rejected: int = 0
    rejects_by_object: dict[int, int] = field(default_factory=dict)


GZIP_SUFFIX = ".gz"  # `*.jsonl.gz`: a compressed lake is a reasonable choice for a user


class BadObject(ValueError):
    """A whole tape object cannot be read (e.g. a corrupt gzip stream); the reason names why."""


def object_text(key: str, blob: Blob) -> Blob:
    """The NDJSON bytes of one tape object: `*.jsonl.gz` objects are decompressed, others as stored.

    Raises BadObject for a gzip object that does not decompress (truncated, corrupt, not gzip) —
    the caller quarantines that object with the reason and goes on with the rest.
    """
    if not key.endswith(GZIP_SUFFIX):
        return blob
    try:
        return gzip.decompress(bytes(blob))
    except (OSError, EOFError, zlib.error, ValueError, TypeError) as exc:
        raise BadObject(f"unreadable gzip object: {describe(exc)}") from exc


def day_start_ms(d: date | str) -> int:
    d = as_date(d)
    return int(datetime(d.year, d.month, d.day, tzinfo=WIB).timestamp() * 1000)


# One RE2 pass accepts a well-formed trade line; only lines it rejects get the per-field checks
# that name the reason (bad time, price, ...), so the common case costs one regex and one split.
# The bounds (bounds.py) are part of the regex by digit count: a price of at most 9 digits is below
# PRICE_MAX, lots of at most 6 digits below LOTS_PER_TRADE_MAX, order numbers of at most 18 digits
# fit int64; anything longer takes the slow path, which compares exact values.
_PX = bounds.fast_digits(bounds.PRICE_MAX)
_LOTS = bounds.fast_digits(bounds.LOTS_PER_TRADE_MAX)
_ORD = bounds.fast_digits(bounds.ORDER_NO_MAX)
_TNO = len(str(bounds.TRADE_NO_MAX))  # all nines: every number of this many digits is within
FAST_RE = (
    rf"B\|([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]\|[^|]*\|{keys.TICKER_PATTERN}\|[^|]*\|[0-9]{{1,{_TNO}}}"
    rf"\|[1-9][0-9]{{0,{_PX - 1}}}\|[1-9][0-9]{{0,{_LOTS - 1}}}(\|[^|]*){{5}}"
    rf"\|[0-9]{{1,{_ORD}}}\|[0-9]{{1,{_ORD}}}(\|[^|]*){{5}}"
)


# The price band (bounds.py owns it): a trade of a share whose price lies outside the plausible
# range around its previous close ([12]) leaves the fast path, and the slow path names it.
_BAND_LO, _BAND_HI = bounds.plausible_price_range_sql("prev")
_OUT_OF_BAND = f"({bounds.band_judged_sql('ticker', 'prev')} AND (price < {_BAND_LO} OR price > {_BAND_HI}))"


def _parse_sql() -> str:
    """fp_parsed: typed columns of every non-blank line and whether the fast regex accepted it.

    Kept to plain column expressions on purpose: selecting list elements inside CASE makes
    DuckDB materialise the split list per row, which costs more than the whole parse."""
    return f"""
CREATE OR REPLACE TEMP TABLE fp_parsed AS
SELECT i, obj, line_no, fast AND NOT coalesce({_OUT_OF_BAND}, FALSE) AS fast,
       ticker, board, hms, trade_no, price, vol, o13, o14
FROM (
  SELECT i, obj, line_no, coalesce(regexp_full_match(raw, '{FAST_RE}'), FALSE) AS fast,
         f[4] AS ticker, f[5] AS board, try_cast(f[2] AS INTEGER) AS hms,
         try_cast(f[6] AS BIGINT) AS trade_no, try_cast(f[7] AS BIGINT) AS price, try_cast(f[8] AS BIGINT) AS vol,
         coalesce(try_cast(f[14] AS BIGINT), 0) AS o13, coalesce(try_cast(f[15] AS BIGINT), 0) AS o14,
         try_cast(f[13] AS BIGINT) AS prev
  FROM (
    SELECT i, obj, line_no, raw, string_split(raw, '|') AS f
    FROM (SELECT i, obj, line_no, try(json_extract_string(line, '$.raw')) AS raw
          FROM fp_lines WHERE NOT blank AND line IS NOT NULL)
  )
);
"""


def _slow_sql() -> str:
    """Reasons for the (few) lines the fast regex rejected; NULL reason = a valid line after all
    (e.g. a record type other than B, or a price written with a leading zero)."""
    return f"""
CREATE OR REPLACE TEMP TABLE fp_slow AS
WITH j AS (
  SELECT i, obj, line_no, try(json_extract_string(line, '$.raw')) AS raw FROM fp_slow_lines
), s AS (
  SELECT i, obj, line_no, raw, string_split(raw, '|') AS f FROM j
), p AS (
  SELECT i, obj, line_no, raw IS NULL AS noraw, len(f) AS nf, f[1] AS rectype, f[2] AS tt, f[4] AS ticker,
         f[5] AS board, f[6] AS tno, f[7] AS px, f[8] AS lots, f[14] AS o13, f[15] AS o14,
         try_cast(f[7] AS BIGINT) AS price, try_cast(f[13] AS BIGINT) AS prev
  FROM s
)
SELECT i, obj, line_no, rectype,
  CASE
    WHEN noraw THEN 'raw'
    WHEN nf <> {N_FIELDS} THEN 'wrong field count: ' || nf
    WHEN rectype <> 'B' THEN NULL
    WHEN NOT regexp_full_match(tt, '([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]') THEN 'bad trade time: ' || tt
    WHEN NOT regexp_full_match(ticker, '{keys.TICKER_PATTERN}') THEN 'bad ticker: ' || ticker
    WHEN NOT regexp_full_match(tno, '[0-9]+') THEN 'non-numeric trade number: ' || tno
    WHEN coalesce(try_cast(tno AS HUGEINT) > {bounds.TRADE_NO_MAX}, TRUE)
      THEN 'trade number out of bounds: ' || tno || ' (0..{bounds.TRADE_NO_MAX})'
    WHEN NOT regexp_full_match(px, '[0-9]+') OR coalesce(try_cast(px AS HUGEINT) < {bounds.PRICE_MIN}, FALSE)
      THEN 'bad price: ' || px
    WHEN coalesce(try_cast(px AS HUGEINT) > {bounds.PRICE_MAX}, TRUE)
      THEN 'price out of bounds: ' || px || ' ({bounds.PRICE_MIN}..{bounds.PRICE_MAX} IDR)'
    WHEN {_OUT_OF_BAND}
      THEN 'price outside the auto-rejection band: ' || px || ' vs previous close ' || prev
           || ' (' || {_BAND_LO} || '..' || {_BAND_HI} || ' IDR: the band with the margin of bounds.py)'
    WHEN NOT regexp_full_match(lots, '[0-9]{{1,15}}') OR try_cast(lots AS BIGINT) < {bounds.LOTS_MIN}
      THEN 'bad volume: ' || lots
    WHEN board = 'RG' AND try_cast(lots AS BIGINT) > {bounds.LOTS_PER_TRADE_MAX}
      THEN 'volume out of bounds: ' || lots || ' lots ({bounds.LOTS_MIN}..{bounds.LOTS_PER_TRADE_MAX} on the regular board)'
    WHEN NOT regexp_full_match(o13, '[0-9]+') OR try_cast(o13 AS BIGINT) IS NULL
      THEN 'bad order number [13]: ' || o13 || ' (an integer 0..2^63-1)'
    WHEN NOT regexp_full_match(o14, '[0-9]+') OR try_cast(o14 AS BIGINT) IS NULL
      THEN 'bad order number [14]: ' || o14 || ' (an integer 0..2^63-1)'
  END AS reason
FROM p;

CREATE OR REPLACE TEMP VIEW fp_valid AS
SELECT i, obj, line_no, ticker, board, hms // 10000 * 3600 + hms // 100 % 100 * 60 + hms % 100 AS secs,
       trade_no, price, vol, o13, o14
FROM fp_parsed
WHERE fast OR i IN (SELECT i FROM fp_slow WHERE reason IS NULL AND rectype = 'B');
"""


def session_sql(d: date) -> tuple[str, str]:
    """(cont, rule_side) SQL over columns secs, o13, o14 of trade date `d`: the session
    classification and the order-number aggressor of §5 (rule_side ±1, 0 outside the continuous
    sessions, NULL when both or neither order number is set: the tick rule decides). The batch's
    `fp_u` and the live engine's trades (`live.engine`) both take them from here."""
    (a1, b1), (a2, b2) = idx_calendar.continuous_windows_seconds(d.weekday())
    cont = f"((secs >= {a1} AND secs < {b1}) OR (secs >= {a2} AND secs < {b2}))"
    rule = (
        f"CASE WHEN NOT {cont} THEN 0 WHEN o14 <> 0 AND o13 = 0 THEN 1 WHEN o13 <> 0 AND o14 = 0 THEN -1 END"
    )
    return cont, rule


def bucket_sql(d: date) -> tuple[str, str]:
    """(t0, hour_ms) SQL over column secs: a trade's minute and UTC hour by its trade time (§5)."""
    base = day_start_ms(d)
    return f"({base} + secs * 1000) // 60000 * 60000", f"({base} + secs * 1000) // 3600000 * 3600000"


def tick_rule_sql(d: date, source: str) -> str:
    """`fp_trades` from relation `source` (ticker, trade_no, secs, price, vol, cont, rule_side: one
    row per trade) and `fp_seeds`: the tick-rule fallback and the final side of §5.

    The one implementation of the tick rule: the batch runs it over the whole (kept) tape, the
    live engine over the stretch of a ticker's trades a new or late trade can change, seeded with
    the (price, side) of the continuous trade just before that stretch."""
    t0, hour = bucket_sql(d)
    return f"""
-- the tick rule only for tickers that need it (both or neither order number set): window
-- functions over their trades alone, seeded with the carry of earlier, unrebuilt trades
CREATE OR REPLACE TEMP TABLE fp_fallback AS SELECT DISTINCT ticker FROM {source} WHERE rule_side IS NULL;

CREATE OR REPLACE TEMP TABLE {TRADES_TABLE} AS
WITH seeded AS (
  SELECT ticker, trade_no, secs, price, vol, cont, rule_side, FALSE AS seed
  FROM {source} WHERE ticker IN (SELECT ticker FROM fp_fallback)
  UNION ALL
  SELECT ticker, -1, -1, price, 0, TRUE, nullif(side, 0), TRUE
  FROM fp_seeds WHERE ticker IN (SELECT ticker FROM fp_fallback)
), t AS (
  SELECT *, lag(price) OVER ({TICK_WINDOW}) AS prev FROM seeded
), c AS (
  SELECT *,
    CASE
      WHEN NOT cont THEN NULL
      WHEN seed OR rule_side IS NOT NULL THEN rule_side
      ELSE {tick_sql("price", "prev")}
    END AS side0
  FROM t
), k AS (
  SELECT *, CASE WHEN cont THEN coalesce(last_value(side0 IGNORE NULLS) OVER (
      {TICK_WINDOW} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), 0)
    ELSE 0 END AS side
  FROM c
), x AS (
  SELECT ticker, trade_no, secs, price, vol, cont, side FROM k WHERE NOT seed
  UNION ALL
  SELECT ticker, trade_no, secs, price, vol, cont, rule_side AS side
  FROM {source} WHERE ticker NOT IN (SELECT ticker FROM fp_fallback)
)
SELECT ticker, trade_no, secs, price, vol, cont, CAST(side AS TINYINT) AS side,
       {t0} AS t0, {hour} AS hour_ms
FROM x;
"""


def _seed_table(con: duckdb.DuckDBPyConnection, seeds: Mapping[str, tuple[int, int]] | None) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE fp_seeds (ticker VARCHAR, price BIGINT, side INTEGER)")
    seed_rows = [(t, int(p), int(s)) for t, (p, s) in (seeds or {}).items()]
    if seed_rows:
        con.executemany("INSERT INTO fp_seeds VALUES (?, ?, ?)", seed_rows)


def classify(
    con: duckdb.DuckDBPyConnection, d: date | str, source: str, seeds: Mapping[str, tuple[int, int]] | None
) -> None:
    """The tick rule (`tick_rule_sql`) over relation `source` into `fp_trades`, seeded per ticker
    with the (price, side) of its continuous trade before the rows given (the live engine's entry
    to the rule `load_tape` runs on the whole tape)."""
    _seed_table(con, seeds)
    con.execute(tick_rule_sql(as_date(d), source))


def _classify_sql(d: date, filtered: bool) -> str:
    _, hour = bucket_sql(d)
    keep_filter = (
        f"AND EXISTS (SELECT 1 FROM fp_keep k WHERE k.ticker = v.ticker AND k.hour_ms = {hour})"
        if filtered
        else ""
    )
    cont, rule = session_sql(d)
    return f"""
-- a reconnect replays lines: the first copy (object, line order) of a (ticker, trade number) wins;
-- duplicates are rare, so only their keys go through a window
CREATE OR REPLACE TEMP TABLE fp_drop AS
WITH dk AS (SELECT ticker, trade_no FROM fp_valid WHERE board = 'RG' GROUP BY ALL HAVING count(*) > 1)
SELECT i FROM (
  SELECT v.i, row_number() OVER (PARTITION BY v.ticker, v.trade_no ORDER BY v.obj, v.line_no) AS rn
  FROM fp_valid v SEMI JOIN dk ON v.ticker = dk.ticker AND v.trade_no = dk.trade_no WHERE v.board = 'RG'
) WHERE rn > 1;

CREATE OR REPLACE TEMP TABLE {UNIQUE_VIEW} AS
SELECT ticker, trade_no, secs, price, vol, {cont} AS cont, {rule} AS rule_side
FROM fp_valid v
WHERE board = 'RG' AND i NOT IN (SELECT i FROM fp_drop) {keep_filter};
{tick_rule_sql(d, UNIQUE_VIEW)}"""


def parse_valid(con: duckdb.DuckDBPyConnection, objects: Sequence[Blob]) -> list[LongLine]:
    """Parse `objects` into view `fp_valid` (every valid line with its typed fields, `i` = line
    order over the objects) and `fp_slow` (the reasons of the lines the fast regex rejected);
    returns the over-long lines. The one parse: `load_tape` classifies from here, and the live
    engine parses each batch of arriving lines with it. Not total: `load_tape` narrows failures."""
    long_lines: list[LongLine] = []
    table = lines_table(objects, long_lines)
    _parse(con, table)
    return long_lines


def _parse(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    con.register("fp_lines", table)
    con.execute(_parse_sql())
    con.unregister("fp_lines")
    slow = con.execute("SELECT i FROM fp_parsed WHERE NOT fast ORDER BY i").fetchnumpy()["i"]
    # usually none: slicing nothing out of a 180 MB table still costs a pass over its chunks
    con.register("fp_slow_lines", table.take(pa.array(slow, pa.int64())) if len(slow) else table.slice(0, 0))
    con.execute(_slow_sql())
    con.unregister("fp_slow_lines")


def load_tape(
    con: duckdb.DuckDBPyConnection,
    d: date | str,
    objects: Sequence[Blob],
    *,
    sources: Sequence[str] | None = None,
    quarantine: QuarantineBatch | None = None,
    quarantine_objects: set[int] | None = None,
    keep: set[tuple[str, int]] | None = None,
    seeds: Mapping[str, tuple[int, int]] | None = None,
) -> TapeLoad:
    """Parse `objects` (tape bodies of trade date `d`) into DuckDB table `fp_trades`.

    keep: only (ticker, hour_ms) pairs to keep (None = all); seeds: per ticker the (price, side)
    of its last continuous trade before the kept hours, so the tick rule stays exact when only
    later hours are rebuilt. Malformed lines of objects in `quarantine_objects` (default all) are
    added to `quarantine` under their source key.

    Total per object: an object that makes the parse raise (not bytes, or anything the SQL cannot
    take) is quarantined whole (line 0) with the exception's reason, and the others load as if it
    were absent. Finding it costs one small parse per object, only on that rare path.
    """
    try:
        return _load_tape(
            con,
            d,
            objects,
            sources=sources,
            quarantine=quarantine,
            quarantine_objects=quarantine_objects,
            keep=keep,
            seeds=seeds,
        )
    except Exception:  # noqa: BLE001 - any failure is narrowed to the object(s) that cause it
        pass
    broken: dict[int, str] = {}
    for n, body in enumerate(objects):
        probe = duckdb.connect()
        try:
            _load_tape(probe, d, [body])
        except Exception as exc:  # noqa: BLE001
            broken[n] = f"unreadable object: {describe(exc)}"
        finally:
            probe.close()
    kept = [b"" if n in broken else body for n, body in enumerate(objects)]
    out = _load_tape(
        con,
        d,
        kept,
        sources=sources,
        quarantine=quarantine,
        quarantine_objects=quarantine_objects,
        keep=keep,
        seeds=seeds,
    )
    for n, reason in sorted(broken.items()):
        out.rejected += 1
        out.rejects_by_object[n] = out.rejects_by_object.get(n, 0) + 1
        if quarantine is not None and (quarantine_objects is None or n in quarantine_objects):
            quarantine.add(sources[n] if sources else f"object-{n}", 0, reason, "")
    return out


def _load_tape(
    con: duckdb.DuckDBPyConnection,
    d: date | str,
    objects: Sequence[Blob],
    *,
    sources: Sequence[str] | None = None,
    quarantine: QuarantineBatch | None = None,
    quarantine_objects: set[int] | None = None,
    keep: set[tuple[str, int]] | None = None,
    seeds: Mapping[str, tuple[int, int]] | None = None,
) -> TapeLoad:
    """The parse itself; `load_tape` makes it total per object."""
    d = as_date(d)
    long_lines: list[LongLine] = []
    table = lines_table(objects, long_lines)
    _parse(con, table)
    _seed_table(con, seeds)
    con.execute("CREATE OR REPLACE TEMP TABLE fp_keep (ticker VARCHAR, hour_ms BIGINT)")
    if keep:
        con.executemany("INSERT INTO fp_keep VALUES (?, ?)", sorted(keep))
    con.execute(_classify_sql(d, keep is not None))

    out = TapeLoad(lines=table.num_rows)
    out.blank = int(np.count_nonzero(table.column("blank").to_numpy()))
    row = con.execute(
        """SELECT count(*) FILTER (WHERE reason IS NOT NULL), count(*) FILTER (WHERE reason IS NULL AND rectype <> 'B')
           FROM fp_slow"""
    ).fetchone()
    assert row is not None
    out.rejected, out.non_trade = int(row[0]) + len(long_lines), int(row[1])
    row = con.execute(
        "SELECT count(*) FILTER (WHERE board <> 'RG'), count(*) FILTER (WHERE board = 'RG') FROM fp_valid"
    ).fetchone()
    assert row is not None
    out.non_regular, regular = int(row[0]), int(row[1])
    tr = con.execute(f"SELECT count(*) FROM {TRADES_TABLE}").fetchone()
    out.trades = int(tr[0]) if tr else 0
    if keep is None:
        out.duplicates = regular - out.trades
    else:
        dup = con.execute(
            "SELECT count(*) FROM fp_valid v WHERE i IN (SELECT i FROM fp_drop) AND EXISTS "
            f"(SELECT 1 FROM fp_keep k WHERE k.ticker = v.ticker AND k.hour_ms = {bucket_sql(d)[1]})"
        ).fetchone()
        out.duplicates = int(dup[0]) if dup else 0
    if out.rejected:
        found: list[tuple[int, int, str, str, str]] = []  # added at the end: a failure adds nothing
        for ll in long_lines:
            out.rejects_by_object[ll.obj] = out.rejects_by_object.get(ll.obj, 0) + 1
            if quarantine is not None and (quarantine_objects is None or ll.obj in quarantine_objects):
                src = sources[ll.obj] if sources else f"object-{ll.obj}"
                reason = f"line too long: {ll.nbytes} bytes (limit {MAX_LINE_BYTES}; a trade line is ~230)"
                found.append((ll.obj, ll.line_no, src, reason, ll.head.decode("utf-8", "replace")))
        rows = con.execute(
            "SELECT i, obj, line_no, reason FROM fp_slow WHERE reason IS NOT NULL ORDER BY obj, line_no"
        ).fetchall()
        texts = table.column("line").take(pa.array([r[0] for r in rows], pa.int64())).to_pylist()
        for (_, obj, line_no, reason), text in zip(rows, texts, strict=True):
            if not text.strip():  # whitespace only: a blank line, not data
                out.rejected -= 1
                out.blank += 1
                continue
            if reason == "raw":
                reason = "missing raw field" if _is_json(text) else "bad JSON"
            out.rejects_by_object[obj] = out.rejects_by_object.get(obj, 0) + 1
            if quarantine is not None and (quarantine_objects is None or obj in quarantine_objects):
                src = sources[obj] if sources else f"object-{obj}"
                found.append((int(obj), int(line_no), src, str(reason), text.rstrip("\r\n")))
        if quarantine is not None:  # in (object, line) order: the over-long lines were found first
            for _, line_no, src, reason, text in sorted(found, key=lambda r: r[:2]):
                quarantine.add(src, line_no, reason, text)
    return out


def _is_json(text: str) -> bool:
    """Whether a line DuckDB could not read `raw` from is JSON at all (names the reason only).

    Total: nesting deep enough to exhaust the recursion limit, or an integer too long to convert,
    is "not JSON" for this purpose rather than an exception that would fail the run."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def hours_by_object(con: duckdb.DuckDBPyConnection, d: date | str) -> dict[int, set[tuple[str, int]]]:
    """Which (ticker, UTC hour ms) pairs each object's valid regular-board trades fall into."""
    rows = con.execute(
        f"SELECT DISTINCT obj, ticker, {bucket_sql(as_date(d))[1]} FROM fp_valid WHERE board = 'RG'"
    ).fetchall()
    out: dict[int, set[tuple[str, int]]] = {}
    for obj, ticker, hour in rows:
        out.setdefault(int(obj), set()).add((ticker, int(hour)))
    return out
