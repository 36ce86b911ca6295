"""Alerts (SPEC §11): a real local HTTP receiver gets one JSON POST per problem, never one per tick."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.automation.sensors.check_failures import build_check_alert_sensor
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import alerts
from orderflow_pipeline.config import Settings
from orderflow_pipeline.storage.lake import Lake


class Receiver:
    """An HTTP server on 127.0.0.1 (free port, own thread) that records every JSON POST."""

    def __init__(self, status: int = 200) -> None:
        self.messages: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.messages.append(json.loads(body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def settings_for(lake: Lake, webhook: str | None) -> Settings:
    return Settings(lake=lake.root, alert_webhook=webhook)


def test_one_alert_per_problem_until_it_clears(local_lake: Lake, receiver: Receiver) -> None:
    s = settings_for(local_lake, receiver.url)
    assert alerts.send_alert(s, "stale:summary_fresh", "2026-02-18", {"text": "summary 25 min old"}) is True
    assert alerts.send_alert(s, "stale:summary_fresh", "2026-02-18", {"text": "summary 30 min old"}) is False
    # A different problem (another date) is its own alert.
    assert alerts.send_alert(s, "stale:summary_fresh", "2026-02-19", {"text": "x"}) is True
    assert len(receiver.messages) == 2
    first = receiver.messages[0]
    assert first["kind"] == "stale:summary_fresh" and first["key"] == "2026-02-18"
    assert first["text"] == "[orderflow] summary 25 min old"
    assert first["payload"] == {"text": "summary 25 min old"}
    # The problem resolves, then comes back: a new alert.
    assert alerts.clear_alert(s, "stale:summary_fresh", "2026-02-18") is True
    assert alerts.send_alert(s, "stale:summary_fresh", "2026-02-18", {"text": "again"}) is True
    assert len(receiver.messages) == 3


def test_dedup_state_lives_in_the_lake_and_works_on_s3(s3_lake: Lake, receiver: Receiver) -> None:
    s = Settings(
        lake=s3_lake.root,
        s3_endpoint_url=s3_lake.fs.client_kwargs.get("endpoint_url"),
        alert_webhook=receiver.url,
    )
    assert alerts.send_alert(s, "run_failed", "run-1", {"text": "boom"}, lake=s3_lake)
    # A second process (a fresh Lake object on the same store) sees the same state.
    again = Lake(s3_lake.root, endpoint_url=s.s3_endpoint_url)
    assert not alerts.send_alert(s, "run_failed", "run-1", {"text": "boom"}, lake=again)
    assert "run_failed|run-1" in s3_lake.read_json(alerts.STATE_KEY)
    assert len(receiver.messages) == 1


def test_webhook_down_never_raises_and_retries_later(
    local_lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    down = Receiver(status=500)
    try:
        s = settings_for(local_lake, down.url)
        assert alerts.send_alert(s, "run_failed", "r1", {"text": "boom"}) is False
        assert alerts.send_alert(s, "run_failed", "r1", {"text": "boom"}) is False
        assert len(down.messages) == 2  # not recorded as sent: each call retries the delivery
    finally:
        down.close()
    # Nothing listening at all: still no exception.
    s = settings_for(local_lake, down.url)
    assert alerts.send_alert(s, "run_failed", "r2", {"text": "boom"}) is False
    assert "ALERT run_failed r1: boom" in caplog.text


def test_without_a_webhook_alerts_are_logged_and_deduplicated(
    local_lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings_for(local_lake, None)
    caplog.set_level("WARNING", logger="orderflow.alerts")
    assert alerts.send_alert(s, "check_failed", "a:b:-", {"text": "bad"}) is True
    assert alerts.send_alert(s, "check_failed", "a:b:-", {"text": "bad"}) is False
    assert caplog.text.count("ALERT check_failed a:b:-") == 1


def test_a_garbled_state_file_does_not_silence_alerts(local_lake: Lake) -> None:
    local_lake.write_bytes(alerts.STATE_KEY, b"{not json")
    assert alerts.send_alert(settings_for(local_lake, None), "k", "x", {}) is True


# -- an ERROR asset check that fails, evaluated twice -> exactly one POST ------------------------


@asset(check_specs=[AssetCheckSpec("summary_has_items", asset="alert_probe", blocking=True)])
def alert_probe() -> MaterializeResult:
    return MaterializeResult(
        check_results=[
            AssetCheckResult(
                check_name="summary_has_items",
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description="the summary has no items",
                metadata={"items": 0},
            )
        ]
    )


def test_failed_error_check_evaluated_twice_alerts_once(
    instance: DagsterInstance, local_lake: Lake, receiver: Receiver
) -> None:
    for _ in range(2):  # two runs, each evaluating the failing ERROR check
        materialize([alert_probe], instance=instance, raise_on_error=False)
    resources = {
        "lake": LakeResource(root=local_lake.root),
        "settings": SettingsResource(alert_webhook=receiver.url),
    }
    check_sensor = build_check_alert_sensor()
    first = check_sensor(build_sensor_context(instance=instance, resources=resources))
    assert first.cursor and json.loads(first.cursor)["updated_after"] > 0
    # A sensor that lost its cursor re-reads both evaluations: still no second alert.
    check_sensor(build_sensor_context(instance=instance, resources=resources))
    check_sensor(build_sensor_context(instance=instance, cursor=first.cursor, resources=resources))
    assert len(receiver.messages) == 1
    msg = receiver.messages[0]
    assert (
        msg["kind"] == "check_failed" and msg["key"] == "alert_probe:summary_has_items"
    )  # unpartitioned: no `-`
    assert msg["payload"]["severity"] == "ERROR" and msg["payload"]["metadata"] == {"items": 0}
    assert "the summary has no items" in msg["text"]


def fire_run_failure_sensor(instance: DagsterInstance, result: Any, resources: dict[str, Any]) -> None:
    """Deliver a failed run to run_failure_alert_sensor as the daemon would."""
    from dagster import build_run_status_sensor_context

    from assets.automation.sensors.run_failures import run_failure_alert_sensor

    run_failure_alert_sensor(
        build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources=resources,
        ).for_run_failure()
    )


def test_lake_state_path(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    alerts.send_alert(settings_for(lake, None), "k", "1", {})
    assert (tmp_path / "lake" / "_state" / "alerts.json").exists()


def test_failed_run_alerts_once(instance: DagsterInstance, local_lake: Lake, receiver: Receiver) -> None:

    result = materialize([alert_probe], instance=instance, raise_on_error=False)
    assert not result.success  # the blocking ERROR check fails the run
    resources = {
        "lake": LakeResource(root=local_lake.root),
        "settings": SettingsResource(alert_webhook=receiver.url),
    }
    for _ in range(2):  # the daemon may deliver the same failure again after a restart
        fire_run_failure_sensor(instance, result, resources)
    assert len(receiver.messages) == 1
    msg = receiver.messages[0]
    assert msg["kind"] == "run_failed" and msg["key"] == "__ephemeral_asset_job__"
    assert msg["payload"]["job"] == "__ephemeral_asset_job__" and msg["payload"]["run_id"] == result.run_id


@asset(partitions_def=StaticPartitionsDefinition(["2026-02-18"]), config_schema={"fail": bool})
def flaky(context) -> None:  # noqa: ANN001 - postponed annotations hide the context type from Dagster
    if context.op_execution_context.op_config["fail"]:
        raise RuntimeError("object store timeout")


def test_a_failing_job_partition_pages_once_until_a_success_resolves_it(
    instance: DagsterInstance, local_lake: Lake, receiver: Receiver
) -> None:

    resources = {
        "lake": LakeResource(root=local_lake.root),
        "settings": SettingsResource(alert_webhook=receiver.url),
    }

    def attempt(fail: bool) -> None:
        result = materialize(
            [flaky],
            instance=instance,
            partition_key="2026-02-18",
            raise_on_error=False,
            run_config={"ops": {"flaky": {"config": {"fail": fail}}}},
        )
        assert result.success is not fail
        if fail:
            fire_run_failure_sensor(instance, result, resources)
        else:  # the check sensor sees the successful run and resolves the problem
            build_check_alert_sensor()(build_sensor_context(instance=instance, resources=resources))

    attempt(fail=True)
    attempt(fail=True)  # the same job and partition failing again: same problem, no new page
    assert [m["key"] for m in receiver.messages] == ["__ephemeral_asset_job__:2026-02-18"]
    attempt(fail=False)
    attempt(fail=True)  # failing again after a success is a new problem
    assert len(receiver.messages) == 2
    assert "object store timeout" in receiver.messages[1]["payload"]["error"]


# -- a single-run backfill names its range in the alert keys (issue 19: no trailing `-`) ----------

_DAYS = DailyPartitionsDefinition(start_date="2026-02-16")


@asset(
    partitions_def=_DAYS,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[AssetCheckSpec("range_check", asset="range_probe")],
)
def range_probe(context) -> MaterializeResult:  # noqa: ANN001 - postponed annotations hide the type from Dagster
    if context.partition_keys[-1] == "2026-02-19":
        raise RuntimeError("lake unreachable")
    return MaterializeResult(
        check_results=[
            AssetCheckResult(check_name="range_check", passed=False, severity=AssetCheckSeverity.WARN)
        ]
    )


def test_range_runs_alert_with_keys_naming_the_range(
    instance: DagsterInstance, local_lake: Lake, receiver: Receiver
) -> None:

    resources = {
        "lake": LakeResource(root=local_lake.root),
        "settings": SettingsResource(alert_webhook=receiver.url),
    }
    for end in ("2026-02-18", "2026-02-19"):  # a passing run with a failed WARN check, then a failing run
        result = materialize(
            [range_probe],
            instance=instance,
            raise_on_error=False,
            tags={ASSET_PARTITION_RANGE_START_TAG: "2026-02-17", ASSET_PARTITION_RANGE_END_TAG: end},
        )
    assert not result.success
    build_check_alert_sensor()(build_sensor_context(instance=instance, resources=resources))
    fire_run_failure_sensor(instance, result, resources)
    keys = sorted(m["key"] for m in receiver.messages)
    assert keys == [
        "__ephemeral_asset_job__:2026-02-17..2026-02-19",
        "range_probe:range_check:2026-02-17..2026-02-18",
    ]
    assert not any(k.endswith("-") for k in keys)
