"""signal_alert_sensor (issue 21): a real Dagster instance records real materializations of
`footprint_summary` (runs of a stand-in asset with that key that writes the summary file, so no
warehouse or 20 sessions of broker history are needed to plant a STRONG_BUY), the sensor is
ticked with build_sensor_context, and a real HTTP receiver on loopback counts the POSTs:
exactly one per ticker, signal and day across repeated materializations, restarts and a lost
cursor; none for a backfilled past date; a failed delivery is retried on the next tick."""

# no `from __future__ import annotations`: Dagster resolves the Config annotation at runtime

import json
from datetime import date, datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    Config,
    DagsterInstance,
    MaterializeResult,
    SensorResult,
    asset,
    build_sensor_context,
    materialize,
)
from test_alerts import Receiver, receiver  # noqa: F401 - the fixture
from test_operations import at, clock

from assets.automation.sensors.signal_alerts import ALERT_SIGNALS, build_signal_alert_sensor
from assets.partitions import trading_days
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

WED = date(2026, 2, 18)
THU = date(2026, 2, 19)
DASH = "http://dash.example.test:8000"


def item(t: str, sig: str, sc: float = 0.5) -> dict[str, Any]:
    """A §10 item (the numbers only have to be carried through unchanged)."""
    return {"t": t, "d": 12.5, "p": 1.2, "v": 40000, "h": 4700, "l": 4600, "r": 100, "f": 2.17,
            "div": 5.68, "ctx_net": 1.1, "ctx_st": "ACCUMULATION", "sc": sc, "sig": sig,
            "vel": 10.0, "vel_accel": -2.5}  # fmt: skip


def doc(d: date, items: list[dict[str, Any]], generated: str = "03:05:00") -> dict[str, Any]:
    return {"status": "OK", "date": d.isoformat(), "generated_at": f"{d.isoformat()}T{generated}Z",
            "source": "warehouse", "ctx_date": "2026-02-17", "ctx_found": True, "count": len(items),
            "reason": None, "message": None, "items": items}  # fmt: skip


class SummaryDoc(Config):
    lake: str
    body: str


@asset(name="footprint_summary", partitions_def=trading_days)
def stand_in_summary(context: AssetExecutionContext, config: SummaryDoc) -> MaterializeResult:  # type: ignore[type-arg]
    """Writes the given §10 document where the real asset writes it, then materializes."""
    Lake(config.lake).write_bytes(keys.summary_key(context.partition_key), config.body.encode())
    return MaterializeResult(metadata={"items": len(json.loads(config.body)["items"])})


class World:
    def __init__(self, instance: DagsterInstance, lake: Lake, hook: str) -> None:
        self.instance, self.lake, self.hook = instance, lake, hook
        self.resources = {
            "lake": LakeResource(root=lake.root),
            "settings": SettingsResource(signal_webhook=hook, dashboard_url=DASH),
        }

    def materialize(self, d: date, items: list[dict[str, Any]]) -> None:
        body = json.dumps(doc(d, items))
        res = materialize(
            [stand_in_summary],
            partition_key=d.isoformat(),
            instance=self.instance,
            run_config={"ops": {"footprint_summary": {"config": {"lake": self.lake.root, "body": body}}}},
        )
        assert res.success

    def tick(self, now: datetime, cursor: str | None) -> SensorResult:
        sensor = build_signal_alert_sensor(clock=clock(now))
        result = sensor(build_sensor_context(instance=self.instance, cursor=cursor, resources=self.resources))
        assert isinstance(result, SensorResult)
        return result


def sent(r: Receiver) -> list[tuple[str, str, str]]:
    return [(m["payload"]["date"], m["payload"]["ticker"], m["payload"]["signal"]) for m in r.messages]


def test_one_post_per_ticker_signal_and_day(
    instance: DagsterInstance,
    local_lake: Lake,
    receiver: Receiver,  # noqa: F811
) -> None:
    w = World(instance, local_lake, receiver.url)
    first = w.tick(at(WED, 9, 30), None)  # nothing materialized yet
    assert receiver.messages == []

    # 10:00 WIB: BBRI STRONG_BUY, ASII TRAP_WARNING; TLKM BUY and BBCA HIDDEN_ACCUM do not alert.
    w.materialize(WED, [item("BBRI", "STRONG_BUY", 0.81), item("TLKM", "BUY"),
                        item("ASII", "TRAP_WARNING"), item("BBCA", "HIDDEN_ACCUM")])  # fmt: skip
    c1 = w.tick(at(WED, 10), first.cursor)
    assert sorted(sent(receiver)) == [
        ("2026-02-18", "ASII", "TRAP_WARNING"),
        ("2026-02-18", "BBRI", "STRONG_BUY"),
    ]
    bbri = next(m for m in receiver.messages if m["payload"]["ticker"] == "BBRI")
    assert bbri["kind"] == "signal" and bbri["key"] == "2026-02-18:BBRI:STRONG_BUY"
    assert bbri["payload"]["item"] == item("BBRI", "STRONG_BUY", 0.81)  # the §10 item as the summary holds it
    assert bbri["payload"]["link"] == f"{DASH}/?date=2026-02-18&ticker=BBRI"
    assert bbri["payload"]["summary_generated_at"] == "2026-02-18T03:05:00Z"

    # The same summary materialized again (the 5-minute schedule), twice: nothing new.
    w.materialize(WED, [item("BBRI", "STRONG_BUY", 0.81), item("ASII", "TRAP_WARNING")])
    w.materialize(WED, [item("BBRI", "STRONG_BUY", 0.82), item("ASII", "TRAP_WARNING")])
    c2 = w.tick(at(WED, 10, 5), c1.cursor)
    assert len(receiver.messages) == 2

    # 10:10: BBRI falls back to BUY, TLKM becomes STRONG_SELL -> one POST (TLKM).
    w.materialize(WED, [item("BBRI", "BUY"), item("TLKM", "STRONG_SELL", 0.2)])
    c3 = w.tick(at(WED, 10, 10), c2.cursor)
    assert sent(receiver)[2:] == [("2026-02-18", "TLKM", "STRONG_SELL")]

    # 10:15: BBRI is STRONG_BUY again: already announced today, no POST.
    w.materialize(WED, [item("BBRI", "STRONG_BUY", 0.9), item("TLKM", "STRONG_SELL", 0.2)])
    c4 = w.tick(at(WED, 10, 15), c3.cursor)
    assert len(receiver.messages) == 3

    # A restarted daemon whose cursor was lost reads the newest materializations again: the
    # lake's _state/signal-alerts/ keeps it from re-announcing.
    w.tick(at(WED, 10, 16), None)
    assert len(receiver.messages) == 3
    state = local_lake.read_json(keys.signal_alerts_state_key(WED))
    assert sorted(state) == ["signal|2026-02-18:ASII:TRAP_WARNING", "signal|2026-02-18:BBRI:STRONG_BUY",
                             "signal|2026-02-18:TLKM:STRONG_SELL"]  # fmt: skip

    # A backfill of an older date with signals pages nobody.
    w.materialize(date(2026, 2, 10), [item("BBRI", "STRONG_BUY", 0.9)])
    c5 = w.tick(at(WED, 10, 20), c4.cursor)
    assert len(receiver.messages) == 3

    # The next day, the same ticker and signal is news again.
    w.materialize(THU, [item("BBRI", "STRONG_BUY", 0.75), item("TLKM", "STRONG_SELL", 0.1)])
    w.tick(at(THU, 9, 30), c5.cursor)
    assert sent(receiver)[3:] == [("2026-02-19", "BBRI", "STRONG_BUY"), ("2026-02-19", "TLKM", "STRONG_SELL")]
    assert {s for (_, _, s) in sent(receiver)} <= set(ALERT_SIGNALS)
    # exactly one POST per (ticker, signal, day)
    assert len(set(sent(receiver))) == len(receiver.messages) == 5


def test_failed_delivery_is_retried_on_the_next_tick_without_a_new_materialization(
    instance: DagsterInstance,
    local_lake: Lake,
    receiver: Receiver,  # noqa: F811
) -> None:
    w = World(instance, local_lake, receiver.url)
    w.materialize(WED, [item("BBRI", "STRONG_BUY", 0.8)])
    receiver.status = 503  # the webhook is down
    r1 = w.tick(at(WED, 10), None)
    assert len(receiver.messages) == 1 and json.loads(r1.cursor or "{}")["retry"] == ["2026-02-18"]
    assert not local_lake.exists(keys.signal_alerts_state_key(WED))  # a failed POST is not recorded

    receiver.status = 200
    r2 = w.tick(at(WED, 10, 1), r1.cursor)  # no new materialization: the cursor's retry list
    assert len(receiver.messages) == 2 and json.loads(r2.cursor or "{}")["retry"] == []
    w.tick(at(WED, 10, 2), r2.cursor)
    w.tick(at(WED, 10, 3), None)
    assert len(receiver.messages) == 2  # delivered once; never again


def test_without_a_webhook_alerts_are_logged_and_remembered(
    instance: DagsterInstance, local_lake: Lake
) -> None:
    w = World(instance, local_lake, hook="")
    w.resources["settings"] = SettingsResource(signal_webhook=None, dashboard_url=DASH)
    w.materialize(WED, [item("BBRI", "TRAP_WARNING")])
    r = w.tick(at(WED, 10), None)
    assert "1 signal alerts sent" in str(r.skip_reason)
    assert "signal|2026-02-18:BBRI:TRAP_WARNING" in local_lake.read_json(keys.signal_alerts_state_key(WED))
