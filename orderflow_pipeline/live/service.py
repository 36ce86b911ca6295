"""The live path's one background thread: journal -> engine -> event log (SPEC §16).

The journal is the local spool's (`live.journal`) by default, and the live broker's stream
(`live.subscriber`) when `broker` (ORDERFLOW_LIVE_BROKER) is set; both add the lake's objects.

Why a thread: the engine's work is DuckDB and JSON, which would stall the API's event loop; the
loop only reads snapshots (under `lock`) and follows the event log. The thread takes new lines
every `poll_every`, recomputes at most every `coalesce` seconds (SPEC: updates of one candle at
most 250 ms apart) and publishes a `status` event at least every `status_every` seconds.

A restart rebuilds the day before answering: `ready` is set only after the spool and the lake
have been read once and the first recompute is done; the routes wait for it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.summary.context import Context
from orderflow_pipeline.live.engine import Changes, LiveEngine
from orderflow_pipeline.live.journal import Journal, segment_dates
from orderflow_pipeline.live.stream import EventLog
from orderflow_pipeline.live.subscriber import Subscriber, pick_day
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.live")

COALESCE_S = 0.25
POLL_S = 0.05
STATUS_S = 2.0
# How often the §8 context is read again: daily_features is written once a day (after the close,
# or by a backfill); reading it is one small query, and an unchanged context changes nothing
# (`LiveEngine.set_context` compares), so a minute's delay is the only cost of not tracking the
# warehouse's writes across processes.
CONTEXT_S = 60.0
HEARTBEAT_STALE_S = 15.0  # three capture heartbeats (5 s) missed: the capture is not running


class LiveService:
    def __init__(
        self,
        folders: Callable[[], list[Path]],
        lake: Callable[[], Lake | None],
        context: Callable[[date], Context],
        now: Callable[[], datetime],
        *,
        coalesce: float = COALESCE_S,
        poll_every: float = POLL_S,
        status_every: float = STATUS_S,
        context_every: float = CONTEXT_S,
        broker: str | None = None,
    ) -> None:
        self._folders, self._lake, self._context, self.now = folders, lake, context, now
        self.broker = broker
        self.source: Journal | Subscriber | None = None
        self.coalesce, self.poll_every, self.status_every = coalesce, poll_every, status_every
        self.context_every = context_every
        self.events = EventLog()
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.engine: LiveEngine | None = None
        self.error: str | None = None
        # When a recompute last found more trades: the feed's pulse by this machine's clock. The
        # dashboard's age comes from the trade time on a live day, from this on a replayed one.
        self.received_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="orderflow-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.engine is not None:
            self.engine.close()
        if isinstance(self.source, Subscriber):
            self.source.close()

    def _pick_day(self, folders: list[Path]) -> date:
        """The capture's trading date: the newest date in its spool, or published to the broker,
        else today (WIB)."""
        dates = segment_dates(folders)
        if self.broker and (d := pick_day(self.broker)) is not None:
            dates.append(d)
        return max(dates) if dates else idx_calendar.wib_date(self.now())

    def _folders_now(self) -> list[Path]:
        """The spool folders tailed: none with a broker (the trades come through it instead)."""
        return [] if self.broker else self._folders()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._day_loop()
            except Exception as exc:  # noqa: BLE001 - the API keeps serving; the live path retries
                log.exception("live engine failed; restarting it in 1 s")
                self.error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(1.0)

    def _day_loop(self) -> None:
        folders = self._folders_now()
        day = self._pick_day(folders)
        # today only for want of a segment: the capture's first segment (maybe of another date,
        # e.g. a replayed day) decides the day as soon as it appears
        guessed = not segment_dates(folders)
        engine = LiveEngine(day, self._context(day))
        journal: Journal | Subscriber = (
            Subscriber(day, self.broker, self._lake()) if self.broker else Journal(day, folders, self._lake())
        )
        old_source, self.source = self.source, journal
        if isinstance(old_source, Subscriber):
            old_source.close()
        engine.add(journal.poll(force_lake=True))  # spool or stream first, then the lake
        with self.lock:
            old, self.engine = self.engine, engine
            changes = engine.recompute(now=self.now())
            if old is not None:
                old.close()
                self.events.reset()
        self.error = None
        self.ready.set()
        log.info("live: %s rebuilt from %d lines (%d trades)", day, engine.lines, engine.trades)
        last_compute = last_status = last_context = time.monotonic()
        self._publish_status()
        while not self._stop.is_set():
            if journal.newer_day is not None or (not folders and self._folders_now()):
                return  # the day rolled over, or a capture appeared: start again
            if guessed and engine.lines == 0 and segment_dates(folders):
                return  # the first segment appeared: its date is the capture's day
            data = journal.poll()
            if data:
                engine.add(data)
            mono = time.monotonic()
            if mono - last_context >= self.context_every:
                ctx = self._context(day)  # outside the lock: a query of the warehouse
                with self.lock:
                    engine.set_context(ctx)
                last_context = mono
            if engine.dirty and mono - last_compute >= self.coalesce:
                with self.lock:
                    before = engine.trades
                    changes = engine.recompute(now=self.now())
                    if engine.trades > before:
                        self.received_at = self.now()
                    self._publish(changes)
                last_compute = mono
            if mono - last_status >= self.status_every:
                self._publish_status()
                last_status = mono
            self._stop.wait(self.poll_every)

    # -- events -----------------------------------------------------------------------------------
    def _publish(self, changes: Changes) -> None:
        if not changes:
            return
        ev: list[tuple[str, Any, str | None]] = [("candle", {**c, "t": t}, t) for t, c in changes.candles]
        ev += [("item", i, i["t"]) for i in changes.items]
        ev += [("item", {"t": t, "removed": True}, t) for t in changes.removed_items]
        self.events.publish_many(ev)

    def _publish_status(self) -> None:
        self.events.publish("status", self.status())

    def status(self) -> dict[str, Any]:
        """The live engine's state for `status` events and `/health`."""
        e, src = self.engine, self.source
        if isinstance(src, Subscriber):  # the heartbeats the captures sent through the broker
            capture = judge_heartbeats(src.captures, self.now(), none="none")
        else:
            capture = capture_state(self._folders(), self.now())
        live = e is not None and e.trades > 0
        return {
            "status": "LIVE" if live else "NO_LIVE",
            "reason": None if live else (self.error or _no_live_reason(capture, e, src)),
            "date": e.day.isoformat() if e is not None else None,
            "capture": capture,
            "newest_trade_time": e.newest_trade_time() if e is not None else None,
            "trades": e.trades if e is not None else 0,
            "lines": e.lines if e is not None else 0,
            "duplicates": e.duplicates if e is not None else 0,
            "broker": src.status() if isinstance(src, Subscriber) else None,
            "newest_trade_received_at": _iso(self.received_at),
            "clients": self.events.clients,
            "ready": self.ready.is_set(),
            "generated_at": _iso(self.now()),
        }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _no_live_reason(capture: dict[str, Any], engine: LiveEngine | None, src: object) -> str:
    if engine is None:
        return "STARTING"
    if isinstance(src, Subscriber) and src.state == "down":
        return "BROKER_DOWN"
    if capture["state"] == "none":
        return "NO_CAPTURE"
    return "NO_TRADES"


def capture_state(folders: list[Path], now: datetime) -> dict[str, Any]:
    """The newest capture heartbeat in the spool folders (`capture.heartbeat` writes a copy there)."""
    docs: list[dict[str, Any]] = []
    for folder in folders:
        try:
            hb = json.loads((folder / "heartbeat.json").read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(hb, dict):
            docs.append(hb)
    return judge_heartbeats(docs, now, none="none" if not folders else "unknown")


def judge_heartbeats(docs: list[dict[str, Any]], now: datetime, *, none: str) -> dict[str, Any]:
    """The newest of the captures' heartbeats, `stale` when it is older than HEARTBEAT_STALE_S."""
    best: dict[str, Any] | None = None
    for hb in docs:
        if best is None or str(hb.get("updated_at")) > str(best.get("updated_at")):
            best = hb
    if best is None:
        return {"state": none, "capture_id": None, "updated_at": None}
    state = str(best.get("state"))
    try:
        age = (now - datetime.fromisoformat(str(best["updated_at"]).replace("Z", "+00:00"))).total_seconds()
        if age > HEARTBEAT_STALE_S:
            state = "stale"
    except (KeyError, ValueError, TypeError):
        pass
    return {"state": state, "capture_id": best.get("capture_id"), "updated_at": best.get("updated_at")}
