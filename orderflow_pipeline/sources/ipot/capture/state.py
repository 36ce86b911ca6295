"""What the parts of one capture share: its configuration, counters, stop flag and exit code,
the lake (opened lazily) and the problem reports that become alerts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.alerts import clear_alert, send_alert
from orderflow_pipeline.config import DEFAULT_IPOT_URL, Settings
from orderflow_pipeline.sources.ipot.client import redact
from orderflow_pipeline.storage.lake import Lake

# Each capture spools under `DEFAULT_SPOOL_ROOT/{capture_id}` unless told otherwise; the live
# journal tails every folder under it, so the two agree by importing this one name.
DEFAULT_SPOOL_ROOT = Path("./data/capture-spool")


@dataclass
class CaptureConfig:
    url: str = DEFAULT_IPOT_URL
    token: str | None = None
    token_url: str | None = None
    date: date | None = None  # None: today in WIB
    duration: float | None = None
    capture_id: str = "capture"
    spool: Path = DEFAULT_SPOOL_ROOT / "capture"
    flush_seconds: float = 5.0
    flush_lines: int = 500
    flush_bytes: int = 512 * 1024
    fsync_interval: float = 0.5
    stall_seconds: float = 60.0
    heartbeat_seconds: float = 5.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    lake_retry_cap: float = 30.0
    refresh_after: int = 3
    alert_after: int = 3  # consecutive failed connects before a "down" alert
    max_failures: int = 0
    final_flush_timeout: float = 30.0
    open_timeout: float = 10.0


@dataclass
class Stats:
    started_at: float = field(default_factory=time.time)
    state: str = "starting"
    connected_since: float | None = None
    last_trade_time: str | None = None  # the trade time in the line (WIB ISO)
    last_trade_received_at: float | None = None
    lines: int = 0
    objects: int = 0
    reconnects: int = 0
    failures: int = 0  # consecutive
    last_error: str | None = None
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    recovered_lines: int = 0


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


class CaptureState:
    def __init__(self, cfg: CaptureConfig, lake: Lake | Callable[[], Lake], settings: Settings) -> None:
        """`lake` may be a factory: a lake that cannot even be opened at start (down) is opened on
        the first write that needs it, and the capture runs into its spool meanwhile."""
        self.cfg = cfg
        self._lake: Lake | None = lake if isinstance(lake, Lake) else None
        self._lake_factory: Callable[[], Lake] | None = None if isinstance(lake, Lake) else lake
        self.settings = settings
        self.stats = Stats()
        self.stop = asyncio.Event()
        self.exit_code = 0
        # The newest trade received (seconds of its trade time, monotonic receive time): the
        # stall watchdog and the replay's "inside a continuous session" read them.
        self.last_trade_sec: int | None = None
        self.last_trade_mono: float | None = None
        self._alerted: set[str] = set()
        self._bg: set[asyncio.Task[Any]] = set()

    @property
    def lake(self) -> Lake:
        """The lake, opened on first use (raises while it cannot be opened)."""
        if self._lake is None:
            assert self._lake_factory is not None
            self._lake = self._lake_factory()
        return self._lake

    def _alert_lake(self) -> Lake | None:
        try:
            return self.lake
        except Exception:  # noqa: BLE001 - alerts still go out (undeduplicated) without a lake
            return None

    def trading_date(self) -> date:
        return self.cfg.date or idx_calendar.wib_date(datetime.now(timezone.utc))

    def _key(self) -> str:
        return f"{self.cfg.capture_id}/{self.trading_date().isoformat()}"

    def finish(self, exit_code: int) -> None:
        """Stop the whole capture with this exit code."""
        self.exit_code = exit_code
        self.stop.set()

    def problem(self, kind: str, message: str, *, alert: bool = True) -> None:
        p = self.stats.problems.setdefault(kind, {"count": 0})
        p["count"] += 1
        p["last_at"] = iso(time.time())
        p["last_error"] = message
        self.stats.last_error = f"{kind}: {message}"
        if alert and kind not in self._alerted:
            self._alerted.add(kind)
            payload = {
                "text": f"capture {self.cfg.capture_id}: {kind}: {message}",
                "capture_id": self.cfg.capture_id,
                "trading_date": self.trading_date().isoformat(),
                "url": redact(self.cfg.url),
                "problem": kind,
            }
            self._spawn(
                asyncio.to_thread(
                    send_alert,
                    self.settings,
                    f"capture_{kind}",
                    self._key(),
                    payload,
                    lake=self._alert_lake(),
                )
            )

    def resolved(self, kind: str) -> None:
        if kind in self._alerted:
            self._alerted.discard(kind)
            self._spawn(
                asyncio.to_thread(
                    clear_alert, self.settings, f"capture_{kind}", self._key(), lake=self._alert_lake()
                )
            )

    def _spawn(self, aw: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(aw)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)

    async def drain_alerts(self, timeout: float) -> None:
        """Let alerts still being sent finish (at most `timeout` s)."""
        if self._bg:
            await asyncio.wait(list(self._bg), timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))
