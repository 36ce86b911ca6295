"""Lake object keys (SPEC §4), built in one place so every layer agrees on them.

Keys are relative to the lake root and always use '/'.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

# SPEC §7: IDX warrants and rights carry a suffix (`PJHB-W`, `BBRI-R`); they trade on the regular
# board and are order flow. One pattern for keys, SQL parameters, the tape parser and the API.
TICKER_PATTERN = r"[A-Z0-9]{1,12}(?:-[A-Z0-9]{1,2})?"
TICKER_RE = re.compile(rf"^{TICKER_PATTERN}$")
WIB = timezone(timedelta(hours=7))

SUMMARY_LATEST = "features/footprint-summary.json"


class InvalidTicker(ValueError):
    pass


def check_ticker(ticker: str) -> str:
    """Validate a ticker before it reaches a key or a SQL parameter."""
    if not isinstance(ticker, str) or not TICKER_RE.match(ticker):
        raise InvalidTicker(f"invalid ticker {ticker!r}: expected ^[A-Z0-9]{{1,12}}(-[A-Z0-9]{{1,2}})?$")
    return ticker


def as_date(d: date | str) -> date:
    return d if isinstance(d, date) and not isinstance(d, datetime) else date.fromisoformat(str(d)[:10])


def trade_date_of_raw_key(key: str) -> date:
    """WIB date of a raw_lt object's UTC hour folder."""
    m = re.match(r"^raw_lt/(\d{4})/(\d{2})/(\d{2})/(\d{2})/", key)
    if not m:
        raise ValueError(f"not a raw_lt key: {key}")
    y, mo, dd, hh = (int(x) for x in m.groups())
    return trade_date_of_hour(datetime(y, mo, dd, hh, tzinfo=timezone.utc))


def footprint_key(ticker: str, hour_utc: datetime) -> str:
    h = hour_utc.astimezone(timezone.utc)
    return f"footprint/{check_ticker(ticker)}/1m/{h:%Y/%m/%d}/{h:%H}.jsonl"


FOOTPRINT_KEY_RE = re.compile(
    "^footprint/(" + TICKER_PATTERN + r")/1m/(\d{4})/(\d{2})/(\d{2})/(\d{2})\.jsonl$"
)


def parse_footprint_key(key: str) -> tuple[str, datetime]:
    """(ticker, UTC hour start) of a footprint key; ValueError when it is not one."""
    m = FOOTPRINT_KEY_RE.match(key)
    if not m:
        raise ValueError(f"not a footprint key: {key}")
    t, y, mo, dd, hh = m.groups()
    return t, datetime(int(y), int(mo), int(dd), int(hh), tzinfo=timezone.utc)


def trade_date_of_hour(hour_utc: datetime) -> date:
    """WIB date of a UTC hour: the date whose `footprint_hours_utc` hold it."""
    return hour_utc.astimezone(WIB).date()


def trade_date_of_footprint_key(key: str) -> date:
    """WIB date of a footprint key's UTC hour; ValueError when it is not one."""
    return trade_date_of_hour(parse_footprint_key(key)[1])


def footprint_hours_utc(d: date | str) -> list[datetime]:
    """UTC hour starts whose WIB date is `d`."""
    d = as_date(d)
    start = datetime(d.year, d.month, d.day, tzinfo=WIB).astimezone(timezone.utc)
    return [start + timedelta(hours=i) for i in range(24)]


def broksum_key(ticker: str, d: date | str) -> str:
    return f"raw-broksum/{check_ticker(ticker)}/{as_date(d).isoformat()}.json"


def zscore_emiten_key(ticker: str) -> str:
    return f"features/z_score/emiten/{check_ticker(ticker)}.json"


def zscore_daily_key(d: date | str) -> str:
    return f"features/z_score/daily/{as_date(d).isoformat()}.json"


def summary_key(d: date | str) -> str:
    return f"features/footprint-summary/{as_date(d).isoformat()}.json"


def signal_alerts_state_key(d: date | str) -> str:
    """Signal alerts already sent for a date (one small object per day, so it never needs pruning)."""
    return f"_state/signal-alerts/{as_date(d).isoformat()}.json"


def quarantine_key(d: date | str, layer: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
    return f"quarantine/{as_date(d).isoformat()}/{layer}/{safe}.jsonl"


def signal_outcomes_key(d: date | str) -> str:
    return f"features/signal-outcomes/{as_date(d).isoformat()}.json"


# The ticker universe (universe.py): listed tickers with first/last seen dates.
UNIVERSE_KEY = "features/universe.json"
