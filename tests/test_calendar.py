"""IDX calendar (SPEC §12): XIDX sessions minus the project's holiday file; session clocks."""

from __future__ import annotations

from datetime import date, datetime, timezone

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
