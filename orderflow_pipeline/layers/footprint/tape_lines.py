"""Tape objects -> one Arrow table of lines, zero-copy, with every over-long line set aside.

Split from tape.py (which parses the lines in DuckDB): this is the byte-level half — where lines
begin and end, which are blank, and which are too long to parse at all (issue 29).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orderflow_pipeline.storage.lake import Blob

MAX_LINE_BYTES = 64 * 1024
"""Longest tape line parsed (bytes, without its newline); a longer one is quarantined by size.

Why: a real line is ~230 bytes (the 386-trade sample: 160 bytes each), so 64 KiB is ~280x any
line the feed writes, yet a corrupt 200 MB one-line object used to be parsed whole — JSON, regex
and split copies of one string — and peaked at 2.3 GB. A line over the limit never reaches DuckDB:
it is a null in the table, quarantined with its size and its first bytes, and costs only the
mapping of its own object (one pass over it finds the newlines)."""

QUARANTINE_HEAD = 2000  # bytes of an over-long line kept in its quarantine entry
_SCAN = 2**20  # newlines are found 1 MiB at a time: the scan's temporary stays this small


@dataclass(frozen=True)
class LongLine:
    obj: int
    line_no: int
    nbytes: int
    head: bytes


def _line_ends(arr: np.ndarray) -> np.ndarray:
    """Positions of the newlines of one object, scanned in bounded slices."""
    parts = [np.flatnonzero(arr[a : a + _SCAN] == 10) + a for a in range(0, len(arr), _SCAN)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def lines_table(objects: Sequence[Blob], long_lines: list[LongLine] | None = None) -> pa.Table:
    """(i, obj, line_no, blank, line) for every line of every object, without a Python loop per line.

    Each object's bytes become one Arrow chunk zero-copy: newline positions (numpy) are the
    offsets, so 180 MB of tape reaches DuckDB as a string column without being copied in Python.
    A line keeps its trailing newline (JSON ignores it; quarantine strips it); a final line
    without one ends at the object's end (no copy). A line over MAX_LINE_BYTES is null (never
    parsed) and, when `long_lines` is given, reported there.
    """
    chunks: list[pa.Array] = []
    objs: list[np.ndarray] = []
    nos: list[np.ndarray] = []
    blanks: list[np.ndarray] = []
    for k, body in enumerate(objects):
        if not isinstance(body, (bytes, bytearray, memoryview, mmap.mmap)):
            raise TypeError(f"object {k}: expected bytes, got {type(body).__name__}")
        if not body:
            continue
        arr = np.frombuffer(body, dtype=np.uint8)
        ends = _line_ends(arr)
        stops = ends + 1
        if not len(ends) or ends[-1] != len(arr) - 1:  # a final line without its newline
            stops = np.append(stops, len(arr))
        n = len(stops)
        offsets = np.empty(n + 1, dtype=np.int64)
        offsets[0] = 0
        offsets[1:] = stops
        length = np.diff(offsets)
        length[: len(ends)] -= 1  # without the newline
        blanks.append((length == 0) | ((length == 1) & (arr[offsets[:-1]] == 13)))
        too_long = np.flatnonzero(length > MAX_LINE_BYTES).tolist()
        for j in too_long:
            start = int(offsets[j])
            if long_lines is not None:
                head = bytes(body[start : start + min(int(length[j]), QUARANTINE_HEAD)])
                long_lines.append(LongLine(k, j + 1, int(length[j]), head))
        chunks += _chunks(pa.py_buffer(body), offsets, too_long)
        objs.append(np.full(n, k, dtype=np.int32))
        nos.append(np.arange(1, n + 1, dtype=np.int32))
    n = sum(len(o) for o in objs)
    return pa.table(
        {
            "i": np.arange(n, dtype=np.int64),
            "obj": np.concatenate(objs) if objs else np.zeros(0, np.int32),
            "line_no": np.concatenate(nos) if nos else np.zeros(0, np.int32),
            "blank": np.concatenate(blanks) if blanks else np.zeros(0, bool),
            "line": pa.chunked_array(chunks, type=pa.large_string()),
        }
    )


def _chunks(data: pa.Buffer, offsets: np.ndarray, too_long: list[int]) -> list[pa.Array]:
    """One object's lines as Arrow string chunks over its bytes (zero-copy), each over-long line a
    null chunk of its own. Why not one chunk with nulls: no buffer may span an over-long line's
    bytes, or the first operation that concatenates chunks (a `take`) copies them all."""
    out: list[pa.Array] = []
    a = 0
    for j in [*too_long, len(offsets) - 1]:
        if j > a:
            seg = offsets[a : j + 1] - offsets[a]
            piece = data.slice(int(offsets[a]), int(seg[-1]))
            out.append(
                _to_text(
                    pa.LargeBinaryArray.from_buffers(
                        pa.large_binary(), j - a, [None, pa.py_buffer(seg), piece]
                    )
                )
            )
        if j < len(offsets) - 1:
            out.append(pa.nulls(1, pa.large_string()))
        a = j + 1
    return out


def _to_text(lines_with_nl: pa.LargeBinaryArray) -> pa.Array:
    """Binary lines -> UTF-8 strings; invalid bytes are replaced so the line still reaches quarantine."""
    try:
        out = lines_with_nl.cast(pa.large_string())
        out.validate(full=True)
        return out
    except (pa.ArrowInvalid, pa.ArrowException):
        return pa.array(
            [b.decode("utf-8", "replace") if b is not None else None for b in lines_with_nl.to_pylist()],
            type=pa.large_string(),
        )
