"""Issue 18's Dagster side: the capture-heartbeat sensor and the 1-minute intraday schedule's
in-flight guard, on a real Dagster instance, a real lake and a real local webhook receiver."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.test_utils import create_run_for_test
from test_operations import Receiver, at, receiver, resources  # noqa: F401  (the fixture)

from assets.automation import schedules
from assets.automation.sensors import capture_heartbeat as hb
from orderflow_pipeline.storage.lake import Lake

WED = date(2026, 2, 18)  # a trading Wednesday


def beat(
    lake: Lake, cid: str, now: datetime, *, beat_s: float = 2, recv_s: float = 3, state: str = "streaming"
) -> None:
    def iso(t: datetime) -> str:  # as the capture writes it: UTC with a Z
        return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

    doc = {
        "capture_id": cid,
        "state": state,
        "updated_at": iso(now - timedelta(seconds=beat_s)),
        "last_trade_received_at": iso(now - timedelta(seconds=recv_s)),
        "connected_since": (now - timedelta(hours=1)).isoformat(),
        "lines": 1000,
        "objects": 10,
        "reconnects": 0,
        "spool_bytes": 0,
    }
    lake.write_bytes(f"{hb.PREFIX}{cid}.json", json.dumps(doc).encode())


def test_heartbeat_sensor_down_lagging_and_recovery(
    local_lake: Lake,
    instance: DagsterInstance,
    receiver: Receiver,  # noqa: F811
) -> None:
    res = resources(local_lake, webhook=receiver.url)

    def tick(now: datetime) -> SkipReason:
        sensor = hb.build_capture_heartbeat_sensor(clock=lambda: now)
        out = sensor(build_sensor_context(instance=instance, resources=res))
        assert isinstance(out, SkipReason)
        return out

    # Lunch break and the evening: not judged, whatever the heartbeats say.
    assert "outside a continuous session" in str(tick(at(WED, 12, 30)).skip_message)
    assert "outside" in str(tick(at(WED, 19)).skip_message)
    assert receiver.messages == []

    # 10:00, no heartbeat at all: down, alerted once however many ticks.
    t = at(WED, 10)
    assert "capture down" in str(tick(t).skip_message)
    tick(t + timedelta(seconds=30))
    assert [m["kind"] for m in receiver.messages] == ["capture_down"]

    # Two captures, both fresh; one has received nothing for 5 minutes: lagging for that one only.
    t = at(WED, 10, 5)
    beat(local_lake, "a", t)
    beat(local_lake, "b", t, recv_s=300)
    msg = str(tick(t).skip_message)
    assert "capture b lagging" in msg and "capture a" not in msg
    assert [m["kind"] for m in receiver.messages] == ["capture_down", "capture_lagging"]
    assert receiver.messages[-1]["key"] == "2026-02-18:b"

    # b reports NOSERVICE: still the same open problem (no second alert); a stays healthy.
    beat(local_lake, "b", t, state="error_noservice")
    assert "state 'error_noservice'" in str(tick(t).skip_message)
    assert len(receiver.messages) == 2

    # Both heartbeats stop (processes dead): down again -> alerted again (the first one cleared at 10:05).
    t2 = t + timedelta(minutes=2)
    assert "capture down" in str(tick(t2).skip_message)
    assert [m["kind"] for m in receiver.messages][-1] == "capture_down"
    assert len(receiver.messages) == 3

    # Recovery: healthy ticks say so and send nothing.
    beat(local_lake, "a", t2)
    beat(local_lake, "b", t2)
    assert "2 capture(s) healthy" in str(tick(t2).skip_message)
    assert len(receiver.messages) == 3


def test_heartbeat_times_in_ms_seconds_and_iso() -> None:
    ref = datetime(2026, 2, 18, 3, 0, tzinfo=timezone.utc)
    for v in (
        1771383600000,
        1771383600,
        "1771383600000",
        "2026-02-18T03:00:00Z",
        "2026-02-18T10:00:00+07:00",
    ):
        assert hb.as_utc(v) == ref, v
    assert hb.as_utc(None) is None and hb.as_utc("soon") is None and hb.as_utc(True) is None


def test_intraday_schedule_skips_while_the_days_run_is_in_flight(instance: DagsterInstance) -> None:
    t = at(WED, 10, 1)
    ctx = build_schedule_context(instance=instance, scheduled_execution_time=t)
    assert isinstance(schedules.intraday_schedule(ctx), RunRequest)
    run = create_run_for_test(
        instance,
        job_name="intraday_job",
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": "2026-02-18"},
    )
    skipped = schedules.intraday_schedule(
        build_schedule_context(instance=instance, scheduled_execution_time=t)
    )
    assert isinstance(skipped, SkipReason) and "still queued or running" in str(skipped.skip_message)
    instance.report_run_failed(run)
    assert isinstance(
        schedules.intraday_schedule(build_schedule_context(instance=instance, scheduled_execution_time=t)),
        RunRequest,
    )
