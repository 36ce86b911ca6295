"""Alerts for failed checks, failed runs and stale data (SPEC §11): log always, POST when asked.

One alert per problem, not one per tick: a sensor that finds the same stale summary every 30
seconds, or a check that fails again on a re-run, must not page the on-call engineer each time.
Problems are identified by (kind, key) — e.g. ("stale_summary", "2026-02-18") — and the ones
already announced are remembered in the lake under `_state/alerts.json`.

Why the lake and not DAGSTER_HOME or a sensor cursor: the alerting callers live in different
processes (the sensor daemon, run workers for hooks, the CLI) and, in production, on different
machines; the lake is the one store they all share. A sensor cursor would deduplicate per
sensor only, and a lost cursor (sensor reset) would re-page everything. The store is a small
JSON map written atomically; two processes racing on it at worst send one duplicate, never lose
an alert.

`clear_alert` forgets a problem once it is resolved, so a recurrence alerts again.
A delivery that fails (webhook down) is not recorded, so the next tick retries it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import httpx

from orderflow_pipeline.config import Settings
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.alerts")

STATE_KEY = "_state/alerts.json"
TIMEOUT_S = 5.0
# Forget announced problems after this many entries (oldest first): the store stays small.
MAX_ENTRIES = 5000


def _state_id(kind: str, key: str) -> str:
    return f"{kind}|{key}"


def _load(lake: Lake, state_key: str = STATE_KEY) -> dict[str, Any]:
    try:
        data = lake.read_json(state_key)
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as exc:  # a torn/garbled store must not silence alerts forever
        log.warning("alert state %s unreadable (%s); starting fresh", state_key, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _save(lake: Lake, state: dict[str, Any], state_key: str = STATE_KEY) -> None:
    if len(state) > MAX_ENTRIES:
        newest = sorted(state.items(), key=lambda kv: str(kv[1].get("sent_at", "")))[-MAX_ENTRIES:]
        state = dict(newest)
    lake.write_json(state_key, state)


def _lake_for(settings: Settings, lake: Lake | None) -> Lake | None:
    if lake is not None:
        return lake
    try:
        return Lake.from_settings(settings)
    except Exception as exc:  # noqa: BLE001 - alerting must work even when the lake does not
        log.warning("alert state store unavailable (%s): alerts will not be deduplicated", exc)
        return None


def already_alerted(
    settings: Settings, kind: str, key: str, *, lake: Lake | None = None, state_key: str = STATE_KEY
) -> bool:
    store = _lake_for(settings, lake)
    return store is not None and _state_id(kind, key) in _load(store, state_key)


def send_alert(
    settings: Settings,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    lake: Lake | None = None,
    now: datetime | None = None,
    state_key: str = STATE_KEY,
) -> bool:
    """Announce problem (kind, key) once. True when this call raised it, False when it was a
    duplicate or the webhook delivery failed (then a later call retries). Never raises.
    `state_key`: the lake object remembering what was sent (signal alerts keep one per date)."""
    try:
        return _send(settings, kind, key, payload, lake=lake, now=now, state_key=state_key)
    except Exception as exc:  # noqa: BLE001 - an alert path must never break the caller
        log.error("alert %s/%s could not be processed: %s", kind, key, exc)
        return False


def _send(
    settings: Settings,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    lake: Lake | None,
    now: datetime | None,
    state_key: str = STATE_KEY,
) -> bool:
    store = _lake_for(settings, lake)
    state = _load(store, state_key) if store is not None else {}
    sid = _state_id(kind, key)
    if sid in state:
        log.info("alert %s/%s already sent at %s; suppressed", kind, key, state[sid].get("sent_at"))
        return False
    sent_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    text = str(payload.get("text") or payload.get("description") or f"{kind}: {key}")
    message = {
        "source": "orderflow-pipeline",
        "kind": kind,
        "key": key,
        "text": f"[orderflow] {text}",
        "sent_at": sent_at,
        "payload": payload,
    }
    log.warning("ALERT %s %s: %s", kind, key, text)
    if settings.alert_webhook:
        try:
            resp = httpx.post(
                settings.alert_webhook,
                content=json.dumps(message, default=str),
                headers={"content-type": "application/json"},
                timeout=TIMEOUT_S,
            )
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            log.error(
                "alert %s/%s: webhook delivery failed (%s); will retry on the next call", kind, key, exc
            )
            return False
    if store is not None:
        state[sid] = {"kind": kind, "key": key, "sent_at": sent_at, "text": text}
        _save(store, state, state_key)
    return True


def clear_alert(settings: Settings, kind: str, key: str, *, lake: Lake | None = None) -> bool:
    """Mark problem (kind, key) resolved so that it alerts again if it comes back. Never raises."""
    try:
        store = _lake_for(settings, lake)
        if store is None:
            return False
        state = _load(store)
        sid = _state_id(kind, key)
        if sid not in state:
            return False
        del state[sid]
        _save(store, state)
        log.info("alert %s/%s resolved", kind, key)
        return True
    except Exception as exc:  # noqa: BLE001
        log.error("alert %s/%s could not be cleared: %s", kind, key, exc)
        return False
