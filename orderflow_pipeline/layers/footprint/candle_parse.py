"""Parsing footprint candle NDJSON into Arrow rows for the §6 validator (candles.py), and saying
why a line does not parse.

Why bisection: the bulk parse of a whole day is one Arrow call; when Arrow refuses it, halving
the set of objects isolates the refused ones in a few small re-parses, so one malformed line
never sends the day down a slow path. Only the isolated objects are then read line by line.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from orderflow_pipeline import bounds

_LEVEL = pa.struct([("p", pa.int64()), ("bv", pa.int64()), ("av", pa.int64())])
LINE_SCHEMA = pa.schema(
    [
        ("t0", pa.int64()),
        ("ohlc", pa.struct([("o", pa.int64()), ("h", pa.int64()), ("l", pa.int64()), ("c", pa.int64())])),
        ("vol", pa.int64()),
        ("delta", pa.int64()),
        ("levels", pa.list_(_LEVEL)),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="ignore")


@dataclass
class Unit:
    """A chunk of NDJSON bytes from one object whose lines must each give exactly one row."""

    obj: int
    data: bytes
    line_nos: np.ndarray  # 1-based line numbers of the rows this chunk yields, in order


def parse_units(
    units: Sequence[Unit], joined: bytes | None = None
) -> tuple[list[tuple[pa.Table, list[Unit]]], list[Unit]]:
    """Parse units in bulk; bisect to isolate the units Arrow rejects (or that misalign rows).

    A unit whose row count differs from its line count (two JSON values on one line) counts as
    failed, so row i of a parsed table is always line `line_nos[i]` of its unit.
    """
    if not units:
        return [], []
    expected = sum(len(u.line_nos) for u in units)
    try:
        data = joined if joined is not None else b"".join(u.data for u in units)
        table = pj.read_json(io.BytesIO(data), parse_options=_PARSE)
        if table.num_rows == expected:
            return [(table, list(units))], []
    except Exception:  # noqa: BLE001 - whatever Arrow refuses, bisection isolates it
        pass
    if len(units) == 1:
        return [], list(units)
    mid = len(units) // 2
    good_a, bad_a = parse_units(units[:mid])
    good_b, bad_b = parse_units(units[mid:])
    return good_a + good_b, bad_a + bad_b


def shape(data: bytes) -> tuple[bool, int]:
    """(starts with `{` and ends with `}`, number of lines) — the cheap half of the clean test."""
    n = data.count(b"\n")
    lines = n if data.endswith(b"\n") else n + 1
    return data[:1] == b"{" and (data.endswith(b"}\n") or data.endswith(b"}")), lines


def is_clean(data: bytes) -> bool:
    """Every line is `{...}` and none is blank: each newline sits between `}` and `{`."""
    ok, lines = shape(data)
    return ok and data.count(b"}\n{") == lines - 1


def _type_problem(obj: object) -> str | None:
    """Why a parsed line has the wrong shape for a candle (None when the shape is right)."""

    def bad_int(name: str, v: object) -> str | None:
        if type(v) is not int:  # bool is not an integer here, nor is 3.0
            return f"wrong type: {name} must be an integer, got {type(v).__name__} {v!r}"[:200]
        if not -bounds.INT64_MAX <= v <= bounds.INT64_MAX:
            return f"wrong type: {name} out of int64 range"
        return None

    if not isinstance(obj, dict):
        return f"not a JSON object: got {type(obj).__name__}"
    for name in ("t0", "vol", "delta", "ohlc", "levels"):
        if name not in obj:
            return f"missing field: {name}"
    for name in ("t0", "vol", "delta"):
        if (why := bad_int(name, obj[name])) is not None:
            return why
    ohlc = obj["ohlc"]
    if not isinstance(ohlc, dict):
        return f"wrong type: ohlc must be an object, got {type(ohlc).__name__}"
    for name in "ohlc":
        if name not in ohlc:
            return f"missing field: ohlc.{name}"
        if (why := bad_int(f"ohlc.{name}", ohlc[name])) is not None:
            return why
    levels = obj["levels"]
    if not isinstance(levels, list):
        return f"wrong type: levels must be an array, got {type(levels).__name__}"
    for i, lv in enumerate(levels):
        if not isinstance(lv, dict):
            return f"wrong type: levels[{i}] must be an object"
        for name in ("p", "bv", "av"):
            if name not in lv:
                return f"missing field: levels[{i}].{name}"
            if (why := bad_int(f"levels[{i}].{name}", lv[name])) is not None:
                return why
    return None


def json_problem(text: str) -> str | None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text) or exc.msg.startswith("Unterminated string"):
            return f"truncated line: {exc.msg} at char {exc.pos}"
        return f"bad JSON: {exc.msg} at char {exc.pos}"
    except RecursionError:
        return "bad JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        return f"bad JSON: {exc}"[:300]
    return _type_problem(obj)


def parse_failure(line: bytes) -> str:
    """Why Arrow refuses one line that `json_problem` accepted (a reject reason)."""
    try:
        pj.read_json(io.BytesIO(line), parse_options=_PARSE)
        return "bad JSON: line holds more than one JSON value"
    except Exception as exc:  # noqa: BLE001 - the reason is all we need from it
        return f"wrong type: {exc}"[:300]
