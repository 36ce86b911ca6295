"""Never worse: a fetched raw-broksum file replaces the lake's only when it ranks at least as high
(`rank`: parses under `smart_money.parse_broksum`, is a trading day, the broker sides add up to
the summary, broker count), so a truncated or empty answer never overwrites a good file."""

from __future__ import annotations

import json
from datetime import date

from orderflow_pipeline.layers.smart_money.broksum import parse_broksum
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.storage.keys import broksum_key
from orderflow_pipeline.storage.lake import Lake


def rank(data: bytes | None, ticker: str, d: date | str) -> tuple[int, int, int, int]:
    """How good a raw-broksum file is; a higher tuple is better, (0, 0, 0, 0) unreadable.

    (parses under the §8 parser, is a trading day, the sides add up to the summary, brokers)."""
    if data is None:
        return (0, 0, 0, 0)
    try:
        day = parse_broksum(data, ticker, d)
    except BroksumError:
        return (0, 0, 0, 0)
    if day is None:
        return (1, 0, 0, 0)
    try:
        check = json.loads(data).get("_meta", {}).get("integrity_check", {})
        match = 1 if check.get("match_likely", True) else 0
    except (ValueError, AttributeError):
        match = 0
    return (1, 1, match, day.brokers)


def write_if_not_worse(lake: Lake, ticker: str, d: date | str, data: bytes) -> str:
    """Write the file unless the lake holds a better one: 'written', 'unchanged' or 'kept'."""
    key = broksum_key(ticker, d)
    try:
        old: bytes | None = lake.read_bytes(key)
    except FileNotFoundError:
        old = None
    if old == data:
        return "unchanged"
    if old is not None and rank(data, ticker, d) < rank(old, ticker, d):
        return "kept"
    lake.write_bytes(key, data)
    return "written"
