"""The alert fires after the last try, with the error (issue 19): an S3 endpoint that keeps failing
exhausts the step's RetryPolicy (1 + 3 tries), the run fails, and the run-failure sensor sends one
alert naming the step, its 4 tries and the S3 error. Nothing is sent while tries remain: the only
alert is the run's (a retried step is not a failed run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from assets.resources import IO_RETRY, LakeResource, SettingsResource
from orderflow_pipeline.storage.lake import Lake
from tests.test_alerts import Receiver, fire_run_failure_sensor, receiver  # noqa: F401 - fixture
from tests.test_retries import TAPE_KEY, FaultProxy, proxy  # noqa: F401 - fixture


def test_alert_after_the_last_try_with_the_error(
    env: dict[str, str],
    moto_server: str,
    proxy: FaultProxy,  # noqa: F811 - the fixture imported above
    receiver: Receiver,  # noqa: F811 - the fixture imported above
    real: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assets.definitions import build_defs
    from assets.runtime.range_runs import ALL_LAYERS_JOB, materialize_range
    from tests.conftest import make_s3_lake

    direct = make_s3_lake(moto_server)
    direct.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    monkeypatch.setenv("ORDERFLOW_LAKE", direct.root)
    monkeypatch.setenv("ORDERFLOW_S3_ENDPOINT_URL", proxy.url)
    instance = DagsterInstance.get()
    try:
        proxy.fail_next(10**9)  # the endpoint is down for good
        result = materialize_range(
            build_defs(),
            "2026-02-18",
            instance=instance,
            raise_on_error=False,
            asset_keys=["footprint_ndjson"],
        )
        assert not result.success
        retried = list(instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY))
        assert len(retried) == IO_RETRY.max_retries == 3
        failures = list(instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_FAILURE))
        assert len(failures) == 1  # only the last try fails the step
        proxy.fail_next(0)  # the endpoint is back: the alert's dedup store is in the lake
        resources = {
            "lake": LakeResource(root=direct.root, endpoint_url=moto_server),
            "settings": SettingsResource(alert_webhook=receiver.url),
        }
        fire_run_failure_sensor(instance, result, resources)
    finally:
        instance.dispose()
    (msg,) = receiver.messages
    # the alert is keyed by the run's job (range_runs names it, not Dagster's `__ASSET_JOB`)
    assert msg["kind"] == "run_failed" and msg["key"] == f"{ALL_LAYERS_JOB}:2026-02-18"
    (step,) = msg["payload"]["steps"]
    assert step["step"] == "footprint_ndjson" and step["tries"] == 4
    # the S3 error of the last try: the proxy's 500 carries <Message>injected fault</Message>, which
    # s3fs raises as OSError (the GET's body; a body-less HEAD used to give "Internal Server Error")
    assert "injected fault" in step["cause"] and "injected fault" in msg["text"], step
    assert Lake(direct.root, endpoint_url=moto_server).exists("_state/alerts.json")
