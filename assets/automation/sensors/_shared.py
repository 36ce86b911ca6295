"""What the sensors share: the injectable clock, lake fingerprints for run keys and cursors,
the core Settings from the resources, "is a run for this date in flight", and "request a run once
per lake state"."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
)

from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.config import Settings
from orderflow_pipeline.storage import inventory

# Time comes from an injectable clock (`build_*_sensor(clock=...)`), so the same code is tested
# deterministically at any WIB moment.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def settings_of(lake: LakeResource, settings: SettingsResource) -> Settings:
    """The core's Settings from the Dagster resources (alerts need the lake and the webhook)."""
    return Settings(
        lake=lake.root,
        s3_endpoint_url=lake.endpoint_url,
        alert_webhook=settings.alert_webhook,
        min_warehouse_tickers=settings.min_warehouse_tickers,
        signal_webhook=settings.signal_webhook,
        dashboard_url=settings.dashboard_url,
        min_warehouse_tickers_warn=settings.min_warehouse_tickers_warn,
        live_api_url=settings.live_api_url,
    )


# The one listing digest (the warehouse records it per date; run keys and cursors use it).
fingerprint_digest = inventory.listing_digest


def watched_dates(today: date, lookback: int) -> list[date]:
    """Today (when it trades) and the previous `lookback` sessions, newest first."""
    prev = idx_calendar.previous_sessions(today, lookback)
    return ([today] if idx_calendar.is_trading_day(today) else []) + prev


def load_cursor(raw: str | None) -> dict[str, Any]:
    """A JSON-object cursor; anything else (none, garbled, another shape) starts afresh."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def plain(value: Any) -> Any:
    """A metadata value as JSON-ready data."""
    inner = getattr(value, "value", value)
    if isinstance(inner, Mapping):
        return {str(k): plain(v) for k, v in inner.items()}
    if isinstance(inner, (list, tuple)):
        return [plain(v) for v in inner]
    if isinstance(inner, (str, int, float, bool)) or inner is None:
        return inner
    return str(inner)


IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def runs_in_flight(instance: DagsterInstance, d: date) -> bool:
    """A run for partition d is queued or running: its own steps will update what we read."""
    return bool(
        instance.get_run_ids(
            filters=RunsFilter(statuses=IN_FLIGHT, tags={"dagster/partition": d.isoformat()}), limit=1
        )
    )


def request_once(
    context: SensorEvaluationContext, request: RunRequest, already: str
) -> SensorResult | SkipReason:
    """Request `request` unless the cursor says this very run key was already requested.

    The run key names the lake state (a fingerprint), so the cursor turns "the lake still looks
    the same" into a cheap skip, and a changed lake always gets a new request."""
    if context.cursor == request.run_key:
        return SkipReason(already)
    return SensorResult(run_requests=[request], cursor=request.run_key)
