"""capture_heartbeat_sensor: during a continuous session, capture down or lagging -> alert (issue 18).

`orderflow capture` writes `_state/capture/{capture_id}.json` every few seconds (fields as the
capture slice writes them, orderflow_pipeline/capture/run.py `heartbeat()`; a missing one is simply
not judged):
- `updated_at`: the heartbeat's own time;
- `last_trade_received_at`: when the last trade frame arrived;
- `state`: `starting`, `connecting`, `subscribed`, `streaming`, `reconnecting`, `stopping` are
  fine on their own (a capture that reconnects for long shows up as lagging); anything else
  (`error_noservice`, `stalled`, `error`, `lake_unavailable`, `failed`, `stopped`) is a problem;
- `capture_id`, `connected_since`, `reconnects`, `lines`, `objects`, `spool_bytes`, `problems`,
  `last_error`: carried in the alert.
Times are epoch milliseconds, epoch seconds or ISO-8601 strings.

Rules, evaluated only inside a continuous session (SPEC §12; lunch and auctions have no trades):
- down: no heartbeat younger than HEARTBEAT_STALE_S (every capture dead, or none ever ran) ->
  alert `capture_down` for the date;
- per live capture: no trade received for LAG_S, or a failure `state` -> alert `capture_lagging`
  for (date, capture id).
Every tick also reports the live engine of `orderflow serve` (SPEC §16; ORDERFLOW_LIVE_API_URL):
LIVE with trades, newest trade and clients, or NO_LIVE / UNREACHABLE / NOT_CONFIGURED with the
reason, in the skip message, the log and the cursor. It alerts on nothing: the capture's own
heartbeat says whether trades arrive, and the batch stays the record.
Each alert is sent once until it clears (alerts.py keeps the state); a healthy evaluation clears
it, so the next outage alerts again. Reads lake objects only, never DuckDB.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from dagster import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext, SkipReason, sensor

from assets.automation.sensors._shared import Clock, settings_of, utc_now
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts, idx_calendar
from orderflow_pipeline.live import reconcile
from orderflow_pipeline.storage.lake import Lake

PREFIX = "_state/capture/"
HEARTBEAT_STALE_S = 60.0  # the capture writes every few seconds: a minute of silence is a dead process
LAG_S = 120.0  # two minutes without a trade inside a continuous session
OK_STATES = {"", "starting", "connecting", "subscribed", "streaming", "reconnecting", "stopping"}
LIVE_TIMEOUT_S = 2.0  # a tick must not hang on an API that does not answer
_TIME_FIELDS = ("updated_at",)
_RECEIVE_FIELDS = ("last_trade_received_at",)


def as_utc(value: Any) -> datetime | None:
    """Epoch ms / s (number or digit string) or an ISO-8601 string -> aware UTC datetime."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, (int, float)):
        secs = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(secs, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return None


def _first(doc: dict[str, Any], names: tuple[str, ...]) -> datetime | None:
    for n in names:
        t = as_utc(doc.get(n))
        if t is not None:
            return t
    return None


def read_heartbeats(lake: Lake) -> dict[str, dict[str, Any]]:
    """capture id -> heartbeat document (unreadable ones are skipped: they say nothing)."""
    out: dict[str, dict[str, Any]] = {}
    keys = [k for k in lake.list(PREFIX) if k.endswith(".json")]
    for key, blob in lake.cat_many(keys).items():
        try:
            doc = json.loads(blob)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out[str(doc.get("capture_id") or key[len(PREFIX) : -len(".json")])] = doc
    return out


def assess(heartbeats: dict[str, dict[str, Any]], now: datetime) -> tuple[bool, dict[str, str]]:
    """(any capture alive, {capture id: problem}) for the live captures."""
    alive = False
    problems: dict[str, str] = {}
    for cid, doc in sorted(heartbeats.items()):
        beat = _first(doc, _TIME_FIELDS)
        if beat is None or (now - beat).total_seconds() > HEARTBEAT_STALE_S:
            continue
        alive = True
        state = str(doc.get("state", doc.get("status", "")) or "").lower()
        received = _first(doc, _RECEIVE_FIELDS)
        if state not in OK_STATES:
            problems[cid] = f"state {state!r}" + (f" ({doc['last_error']})" if doc.get("last_error") else "")
        elif received is None or (now - received).total_seconds() > LAG_S:
            ago = "never" if received is None else f"{(now - received).total_seconds():.0f} s ago"
            problems[cid] = f"last trade received {ago} (limit {LAG_S:.0f} s)"
    return alive, problems


def build_capture_heartbeat_sensor(clock: Clock = utc_now) -> SensorDefinition:
    @sensor(
        name="capture_heartbeat_sensor",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Continuous session: no fresh capture heartbeat, or a capture without trades / in a "
        "failure state -> alert.",
    )
    def capture_heartbeat_sensor(
        context: SensorEvaluationContext, lake: LakeResource, settings: SettingsResource
    ) -> SkipReason:
        now = clock()
        s = settings_of(lake, settings)
        live = live_line(context, s.live_api_url)
        phase = idx_calendar.market_phase(now)
        if phase != "continuous":
            return SkipReason(f"outside a continuous session ({phase}); {live}")
        lk = lake.get()
        day = idx_calendar.wib_date(now).isoformat()
        beats = read_heartbeats(lk)
        alive, problems = assess(beats, now)
        notes = []
        if alive:
            alerts.clear_alert(s, "capture_down", day, lake=lk)
        else:
            text = f"capture down: no heartbeat under {PREFIX} younger than {HEARTBEAT_STALE_S:.0f} s"
            sent = alerts.send_alert(
                s, "capture_down", day, {"text": text, "heartbeats": beats}, lake=lk, now=now
            )
            notes.append(text + (" (alerted)" if sent else ""))
        for cid, doc in beats.items():
            key = f"{day}:{cid}"
            if cid in problems:
                text = f"capture {cid} lagging: {problems[cid]}"
                sent = alerts.send_alert(
                    s, "capture_lagging", key, {"text": text, "heartbeat": doc}, lake=lk, now=now
                )
                notes.append(text + (" (alerted)" if sent else ""))
            else:
                alerts.clear_alert(s, "capture_lagging", key, lake=lk)
        return SkipReason("; ".join([*notes, live]) if notes else f"{len(beats)} capture(s) healthy; {live}")

    return capture_heartbeat_sensor


def live_line(context: SensorEvaluationContext, url: str | None) -> str:
    """The live engine's state (`GET /live/status` of ORDERFLOW_LIVE_API_URL) as one line, also
    kept as the sensor's cursor (JSON) and logged: the screen's pulse beside the capture's."""
    st = reconcile.live_status(url, timeout=LIVE_TIMEOUT_S)
    keep = {k: st.get(k) for k in ("status", "reason", "date", "newest_trade_time", "trades", "clients")}
    context.update_cursor(json.dumps(keep, separators=(",", ":")))
    if st.get("status") == "LIVE":
        line = (f"live engine LIVE on {st.get('date')}: {st.get('trades')} trades, newest "
                f"{st.get('newest_trade_time')}, {st.get('clients')} client(s)")  # fmt: skip
    else:
        line = f"live engine {st.get('status')} ({st.get('reason')})"
    context.log.info(line)
    return line


capture_heartbeat_sensor = build_capture_heartbeat_sensor()
