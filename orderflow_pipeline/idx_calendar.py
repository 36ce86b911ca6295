"""IDX trading calendar and session clock (SPEC §12).

Trading days are exchange_calendars' XIDX sessions minus the project's own holiday file
(`data/idx_holidays.csv`): XIDX misses several 2026 IDX closures. Session times come from the
SPEC rather than XIDX, whose schedule has no lunch break; Friday's long break (11:30–14:00) matters
for both classification and the completeness check.

The session list is kept in a small cache file (`_cache_file`): building it means importing
exchange_calendars and constructing XIDX, about a quarter of a second that every process paid
before its first date question — every `orderflow` command and Dagster run (issue 28).
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from zoneinfo import ZoneInfo

from orderflow_pipeline.storage.keys import WIB, as_date  # WIB: fixed UTC+7 (no DST in Indonesia)

JAKARTA = ZoneInfo("Asia/Jakarta")

PRE_OPEN = (time(8, 45), time(9, 0))
PRE_CLOSE = (time(15, 50), time(16, 0))
POST_TRADING = (time(16, 1), time(16, 15))
_MON_THU = ((time(9, 0), time(12, 0)), (time(13, 30), time(15, 50)))
_FRI = ((time(9, 0), time(11, 30)), (time(14, 0), time(15, 50)))


# Where the session cache lives (default: $XDG_CACHE_HOME or ~/.cache, "orderflow-pipeline").
CACHE_DIR_ENV = "ORDERFLOW_CACHE_DIR"


def _holidays_text() -> str:
    return resources.files("orderflow_pipeline").joinpath("data/idx_holidays.csv").read_text()


@lru_cache(maxsize=1)
def extra_holidays() -> frozenset[date]:
    """IDX closures that exchange_calendars' XIDX lacks (the project's data file)."""
    return frozenset(date.fromisoformat(row["date"]) for row in csv.DictReader(_holidays_text().splitlines()))


def _cache_file() -> Path | None:
    """The session cache of this exchange_calendars version, holiday file and local day (XIDX's
    default bounds are today - 20 years .. today + 1 year, so the list changes with the day);
    None when exchange_calendars' version cannot be told without importing it."""
    try:
        version = metadata.version("exchange_calendars")
    except metadata.PackageNotFoundError:
        return None
    key = f"{version}\0{date.today().isoformat()}\0{_holidays_text()}"
    base = os.environ.get(CACHE_DIR_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "orderflow-pipeline"
    )
    return Path(base) / f"idx-sessions-{hashlib.sha256(key.encode()).hexdigest()[:16]}.txt"


def _computed_sessions() -> tuple[date, ...]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XIDX")
    holidays = extra_holidays()
    return tuple(d for d in (ts.date() for ts in cal.sessions) if d not in holidays)


@lru_cache(maxsize=1)
def _sessions() -> tuple[date, ...]:
    path = _cache_file()
    if path is not None:
        try:
            cached = tuple(date.fromisoformat(line) for line in path.read_text().split())
        except (OSError, ValueError):  # no cache yet (or a damaged one): compute and rewrite it
            cached = ()
        if cached:
            return cached
    sessions = _computed_sessions()
    if path is not None:
        try:  # atomic: a concurrent process reads either no file or a whole one
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(d.isoformat() for d in sessions) + "\n")
            os.replace(tmp, path)
        except OSError:  # a read-only home: compute each time, as before
            pass
    return sessions


@lru_cache(maxsize=1)
def _session_set() -> frozenset[date]:
    return frozenset(_sessions())


def calendar_bounds() -> tuple[date, date]:
    s = _sessions()
    return s[0], s[-1]


def is_trading_day(d: date | str) -> bool:
    return as_date(d) in _session_set()


def trading_days(start: date | str, end: date | str) -> list[date]:
    """Trading days in [start, end], oldest first."""
    a, b = as_date(start), as_date(end)
    import bisect

    s = _sessions()
    return list(s[bisect.bisect_left(s, a) : bisect.bisect_right(s, b)])


def previous_sessions(d: date | str, n: int) -> list[date]:
    """The n trading days strictly before d, newest first."""
    import bisect

    s = _sessions()
    i = bisect.bisect_left(s, as_date(d))
    return list(reversed(s[max(0, i - n) : i]))


def sessions_between(older: date | str, newer: date | str) -> int:
    """How many trading sessions `older` is before `newer` (newer's previous session is 1)."""
    import bisect

    s = _sessions()
    return bisect.bisect_left(s, as_date(newer)) - bisect.bisect_left(s, as_date(older))


def latest_trading_day(on_or_before: date | str) -> date:
    import bisect

    s = _sessions()
    i = bisect.bisect_right(s, as_date(on_or_before))
    if i == 0:
        raise ValueError(f"no trading day on or before {on_or_before}")
    return s[i - 1]


def non_trading_weekdays(start: date | str, end: date | str) -> list[date]:
    """Weekdays in [start, end] that are not trading days (Dagster partition exclusions)."""
    a, b = as_date(start), as_date(end)
    sessions = _session_set()
    out, d = [], a
    while d <= b:
        if d.weekday() < 5 and d not in sessions:
            out.append(d)
        d += timedelta(days=1)
    return out


def continuous_windows(d: date | str) -> tuple[tuple[time, time], ...]:
    """Continuous-market windows (WIB, [start, end)) of a weekday; Friday has the long break."""
    return _FRI if as_date(d).weekday() == 4 else _MON_THU


def continuous_windows_seconds(weekday: int) -> tuple[tuple[int, int], ...]:
    """Same windows as seconds of the WIB day, for vectorised classification."""
    wins = _FRI if weekday == 4 else _MON_THU
    return tuple((a.hour * 3600 + a.minute * 60, b.hour * 3600 + b.minute * 60) for a, b in wins)


def is_continuous(d: date | str, t: time) -> bool:
    return any(a <= t < b for a, b in continuous_windows(d))


def expected_minutes(d: date | str) -> int:
    """Continuous-session minutes (Mon–Thu 320, Fri 260): the completeness check's denominator."""
    return sum((b.hour * 60 + b.minute) - (a.hour * 60 + a.minute) for a, b in continuous_windows(d))


def session_minute_starts_ms(d: date | str) -> list[int]:
    """UTC epoch ms of every continuous-session minute start of d."""
    d = as_date(d)
    out = []
    for a, b in continuous_windows(d):
        t = datetime.combine(d, a, WIB)
        end = datetime.combine(d, b, WIB)
        while t < end:
            out.append(int(t.timestamp() * 1000))
            t += timedelta(minutes=1)
    return out


def market_phase(now: datetime) -> str:
    """'closed' on non-trading days; else pre_open, continuous, break, pre_close, post, closed."""
    local = now.astimezone(WIB)
    d, t = local.date(), local.time()
    if not is_trading_day(d):
        return "closed"
    if PRE_OPEN[0] <= t < PRE_OPEN[1]:
        return "pre_open"
    if is_continuous(d, t):
        return "continuous"
    wins = continuous_windows(d)
    if wins[0][1] <= t < wins[1][0]:
        return "break"
    if PRE_CLOSE[0] <= t < PRE_CLOSE[1]:
        return "pre_close"
    if PRE_CLOSE[1] <= t <= POST_TRADING[1]:
        return "post"
    return "closed"


# What a trader calls each phase (the dashboard's session chip, the footprint's auction columns).
SESSION_STATES = ("pre-open", "session 1", "lunch", "session 2", "pre-close", "post", "closed")


def session_state(now: datetime) -> str:
    """`market_phase` in a trader's words, the continuous market split into its two sessions."""
    phase = market_phase(now)
    if phase == "continuous":
        local = now.astimezone(WIB)
        first = continuous_windows(local.date())[0]
        return "session 1" if first[0] <= local.time() < first[1] else "session 2"
    return {"pre_open": "pre-open", "break": "lunch", "pre_close": "pre-close"}.get(phase, phase)


def is_market_hours(now: datetime) -> bool:
    """Pre-opening through post-trading on a trading day: when freshness matters."""
    return market_phase(now) not in ("closed",)


def wib_date(now: datetime) -> date:
    return now.astimezone(WIB).date()
