"""IDX calendar (SPEC §12): XIDX sessions minus the project's holiday file; session clocks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from orderflow_pipeline import idx_calendar as cal


def test_february_2026_trading_days_skip_both_new_year_closures() -> None:
    days = cal.trading_days("2026-02-01", "2026-02-28")
    # 20 weekdays in Feb 2026, minus 16 Feb (project file) and 17 Feb (XIDX) = 18.
    assert len(days) == 18
    assert date(2026, 2, 16) not in days and date(2026, 2, 17) not in days
    assert date(2026, 2, 13) in days and date(2026, 2, 18) in days


def test_project_holidays_fill_what_xidx_misses() -> None:
    for d in [
        "2026-01-16",
        "2026-03-18",
        "2026-03-24",
        "2026-05-15",
        "2026-05-27",
        "2026-06-16",
        "2026-08-25",
        "2026-12-24",
    ]:
        assert not cal.is_trading_day(d), d
    assert cal.is_trading_day("2026-03-25")


def test_session_minutes_and_friday_break() -> None:
    # Mon–Thu: 09:00–12:00 (180) + 13:30–15:50 (140) = 320; Fri: 09:00–11:30 (150) + 14:00–15:50 (110) = 260.
    assert cal.expected_minutes("2026-02-05") == 320
    assert cal.expected_minutes("2026-02-06") == 260
    assert len(cal.session_minute_starts_ms("2026-02-06")) == 260
    # 2026-02-06 09:00 WIB = 02:00 UTC = 1770343200000 ms.
    assert cal.session_minute_starts_ms("2026-02-06")[0] == 1770343200000


def test_previous_sessions_and_distance() -> None:
    assert cal.previous_sessions("2026-02-18", 2) == [date(2026, 2, 13), date(2026, 2, 12)]
    assert cal.sessions_between("2026-02-13", "2026-02-18") == 1
    assert cal.latest_trading_day("2026-02-21") == date(2026, 2, 20)


def test_market_phase() -> None:
    def at(s: str) -> datetime:  # WIB wall time -> aware UTC datetime
        return datetime.fromisoformat(s + "+07:00").astimezone(timezone.utc)

    assert cal.market_phase(at("2026-02-18T08:50")) == "pre_open"
    assert cal.market_phase(at("2026-02-18T10:00")) == "continuous"
    assert cal.market_phase(at("2026-02-20T12:00")) == "break"  # Friday long break
    assert cal.market_phase(at("2026-02-20T14:00")) == "continuous"
    assert cal.market_phase(at("2026-02-18T15:55")) == "pre_close"
    assert cal.market_phase(at("2026-02-18T16:10")) == "post"
    assert cal.market_phase(at("2026-02-16T10:00")) == "closed"  # holiday
    assert cal.market_phase(at("2026-02-21T10:00")) == "closed"  # Saturday


# -- the session cache (issue 28) ---------------------------------------------------------------------

_PROBE = (
    "import sys; from orderflow_pipeline import idx_calendar as c; "
    "print(len(c.trading_days('2025-01-01', '2026-12-31')), 'exchange_calendars' in sys.modules)"
)


def _computed_count() -> int:
    return sum(date(2025, 1, 1) <= d <= date(2026, 12, 31) for d in cal._computed_sessions())


def _probe(cache: Path) -> tuple[int, bool]:
    env = {**os.environ, "ORDERFLOW_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    n, imported = out.stdout.split()
    return int(n), imported == "True"


def test_sessions_come_from_the_cache_without_importing_exchange_calendars(tmp_path: Path) -> None:
    cold = _probe(tmp_path / "cache")  # builds XIDX and writes the cache
    warm = _probe(tmp_path / "cache")  # reads it: exchange_calendars is never imported
    assert cold[1] and not warm[1]
    assert cold[0] == warm[0] == _computed_count()
    (f,) = (tmp_path / "cache").iterdir()
    assert f.read_text().split() == [d.isoformat() for d in cal._computed_sessions()]


def test_a_damaged_or_empty_cache_is_rebuilt(tmp_path: Path) -> None:
    _probe(tmp_path / "cache")
    (f,) = (tmp_path / "cache").iterdir()
    for bad in ("", "not-a-date\n"):
        f.write_text(bad)
        n, imported = _probe(tmp_path / "cache")
        assert imported and n == _computed_count()
        assert f.read_text().split() == [d.isoformat() for d in cal._computed_sessions()]
