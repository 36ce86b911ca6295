"""The capture's heartbeat `_state/capture/{capture_id}.json`, written every `heartbeat_seconds`
(and a copy in the spool folder, readable while the lake is down); the capture_heartbeat sensor
reads it."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import Any

from orderflow_pipeline.live.publisher import Publisher
from orderflow_pipeline.sources.ipot.capture.spool import Spool
from orderflow_pipeline.sources.ipot.capture.state import CaptureState, iso
from orderflow_pipeline.sources.ipot.client import redact
from orderflow_pipeline.storage.lake import dumps

log = logging.getLogger("orderflow.capture")


def heartbeat_key(capture_id: str) -> str:
    return f"_state/capture/{capture_id}.json"


def heartbeat(state: CaptureState, spool: Spool, publisher: Publisher | None = None) -> dict[str, Any]:
    spool_bytes, spool_segments = spool.size()
    s = state.stats
    return {
        "capture_id": state.cfg.capture_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "state": s.state,
        "trading_date": state.trading_date().isoformat(),
        "url": redact(state.cfg.url),
        "started_at": iso(s.started_at),
        "connected_since": iso(s.connected_since),
        "last_trade_time": s.last_trade_time,
        "last_trade_received_at": iso(s.last_trade_received_at),
        "lines": s.lines,
        "objects": s.objects,
        "reconnects": s.reconnects,
        "failures": s.failures,
        "spool_bytes": spool_bytes,
        "spool_segments": spool_segments,
        "recovered_lines": s.recovered_lines,
        "problems": s.problems,
        "last_error": s.last_error,
        "broker": publisher.status() if publisher is not None else None,
        "updated_at": iso(time.time()),
    }


def write_heartbeat(state: CaptureState, spool: Spool, publisher: Publisher | None = None) -> None:
    """The spool copy, the lake object and, with a live broker, the broker's copy (which API
    replicas on other hosts read for the capture's state)."""
    data = dumps(heartbeat(state, spool, publisher), indent=1)
    if publisher is not None:
        publisher.heartbeat(state.cfg.capture_id, data)
    folder = state.cfg.spool
    tmp = folder / ".heartbeat.tmp"
    with contextlib.suppress(OSError):
        tmp.write_bytes(data)
        os.replace(tmp, folder / "heartbeat.json")
    try:
        state.lake.write_bytes(heartbeat_key(state.cfg.capture_id), data, durable=False)
    except Exception as exc:  # noqa: BLE001 - a heartbeat must never stop the capture
        log.debug("heartbeat to the lake failed: %s", exc)
