"""Sensors (SPEC §11): one module per thing watched, so the folder listing says what is watched.

- `lake_objects`: new or replaced tape / footprint objects -> rebuild the date (lake_sensor)
- `warehouse_coverage`: warehouse thinner than the lake -> lake rebuild that heals (coverage_sensor)
- `summary_missing`: newest summary missing or empty -> rebuild the newest date with data
  (summary_fallback_sensor)
- `data_freshness`: stale summary or lagging tape in market hours -> alert (freshness_sensor)
- `run_failures`: a failed run -> alert (run_failure_alert_sensor)
- `check_failures`: a failed asset check -> alert (check_alert_sensor)
- `signal_alerts`: today's summary has a new STRONG_BUY / TRAP_WARNING / STRONG_SELL -> one
  webhook POST per ticker, signal and day (signal_alert_sensor)
- `capture_heartbeat`: live capture down or lagging in a session -> alert (capture_heartbeat_sensor)

Sensors read lake listings and Dagster event metadata, never the DuckDB file: a run holds the
warehouse's single write lock for most of the trading day, and a sensor that waits for it would
stall the daemon.
"""

from __future__ import annotations

from dagster import Definitions

from assets.automation.sensors.capture_heartbeat import capture_heartbeat_sensor
from assets.automation.sensors.check_failures import check_alert_sensor
from assets.automation.sensors.data_freshness import freshness_sensor
from assets.automation.sensors.lake_objects import lake_sensor
from assets.automation.sensors.run_failures import run_failure_alert_sensor
from assets.automation.sensors.signal_alerts import signal_alert_sensor
from assets.automation.sensors.summary_missing import summary_fallback_sensor
from assets.automation.sensors.warehouse_coverage import coverage_sensor

SENSORS = [
    lake_sensor,
    coverage_sensor,
    summary_fallback_sensor,
    freshness_sensor,
    run_failure_alert_sensor,
    check_alert_sensor,
    signal_alert_sensor,
    capture_heartbeat_sensor,
]

defs = Definitions(sensors=SENSORS)
