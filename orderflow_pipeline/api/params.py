"""Query-parameter parsing: every bad query becomes `BadInput` (a 400 with a sentence a person can
act on), FastAPI's own 422 included — a trader's typo must never look like an outage (§13)."""

from __future__ import annotations

from datetime import date

from fastapi.exceptions import RequestValidationError

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage import keys

MAX_RANGE_DAYS = 90
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
TICKER_PATTERN = keys.TICKER_RE.pattern


class BadInput(ValueError):
    """A request the client can fix; always answered with 400."""


def parse_date(value: str | None, name: str = "date", *, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise BadInput(f"missing required query parameter '{name}' (YYYY-MM-DD)")
        return None
    try:
        d = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        d = None
    if d is None:
        raise BadInput(f"query parameter '{name}' is not a date (YYYY-MM-DD): {value!r}")
    lo, hi = idx_calendar.calendar_bounds()
    if not lo <= d <= hi:
        raise BadInput(f"query parameter '{name}' = {d} is outside the IDX calendar ({lo} to {hi})")
    return d


def require_date(value: str | None, name: str = "date") -> date:
    d = parse_date(value, name)
    assert d is not None  # required=True raises instead of returning None
    return d


def parse_ticker(value: str | None, name: str = "kode") -> str:
    if value is None or value == "":
        raise BadInput(f"missing required query parameter '{name}' (ticker, e.g. BBRI)")
    try:
        return keys.check_ticker(value)
    except keys.InvalidTicker as exc:
        raise BadInput(f"query parameter '{name}': {exc}") from exc


def parse_range(start: str | None, end: str | None) -> tuple[date, date]:
    a = require_date(start, "from")
    b = require_date(end, "to")
    if a > b:
        raise BadInput(f"'from' ({a}) is after 'to' ({b})")
    if (b - a).days > MAX_RANGE_DAYS:
        raise BadInput(f"range {a}..{b} spans {(b - a).days} days; at most {MAX_RANGE_DAYS} are allowed")
    return a, b


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as one sentence per parameter."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where, name = (loc[0], loc[-1]) if loc else ("request", "?")
        if err.get("type") == "missing":
            parts.append(f"missing required {where} parameter '{name}'")
        elif err.get("type") == "string_pattern_mismatch":
            hint = (
                "a date (YYYY-MM-DD)"
                if name in ("date", "from", "to", "start", "end")
                else f"a ticker matching {TICKER_PATTERN}"
            )
            parts.append(f"{where} parameter '{name}' = {err.get('input')!r} is not {hint}")
        else:
            parts.append(f"invalid {where} parameter '{name}': {err.get('msg')}")
    return "; ".join(parts) or "invalid request"
