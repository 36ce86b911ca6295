"""Integrity report for one trading date (SPEC §11) and the freshness facts sensors need.

Each layer owns its checks (the layer contract, `layers/contract.py`); this module runs those of
every layer in `contract.LAYERS` for `orderflow check` and `GET /integrity`, and adds the checks
no single layer owns: context D−1 exists, the summary is fresh during market hours, the raw tape
is not lagging.

A layer whose checks crash must not take the whole report down: the on-call engineer needs the
rest of it most exactly when something is broken. A crash is reported as a failed ERROR outcome
(the integrity of that layer is unknown).

The freshness helpers read lake objects only (object names and listing metadata), never the
DuckDB file, because the sensors that call them run while a writer holds the warehouse lock.
"""

from __future__ import annotations

import logging
import posixpath
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.checks import CheckOutcome, overall_status
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers import contract
from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.live import reconcile
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import tape_objects as raw_objects
from orderflow_pipeline.storage.lake import Lake, ObjectInfo
from orderflow_pipeline.warehouse import duck

log = logging.getLogger(__name__)

SUMMARY_MAX_AGE = timedelta(minutes=10)
TAPE_MAX_LAG = timedelta(minutes=20)
# The intraday schedule's first tick: before it there is no summary of today to be fresh.
INTRADAY_START = time(9, 0)

_EPOCH_MS_NAME = re.compile(r"^(\d{13})(?:\D|$)")


# -- lake inventory (no DuckDB) -----------------------------------------------------------------


def _raw_object_time(lake: Lake, key: str) -> datetime:
    """When a tape object was written: the epoch-ms prefix of its name (the feed's convention,
    e.g. 1771380009443_386.jsonl) when it is plausible for its hour folder, else the object's
    modification time."""
    m = re.match(r"^raw_lt/(\d{4})/(\d{2})/(\d{2})/(\d{2})/", key)
    folder = None
    if m:
        y, mo, dd, hh = (int(x) for x in m.groups())
        folder = datetime(y, mo, dd, hh, tzinfo=timezone.utc)
    nm = _EPOCH_MS_NAME.match(posixpath.basename(key))
    if nm and folder is not None:
        t = datetime.fromtimestamp(int(nm.group(1)) / 1000, tz=timezone.utc)
        if folder - timedelta(hours=1) <= t <= folder + timedelta(hours=2):
            return t
    try:
        info = lake.fs.info(lake.path(key))
        mtime = info.get("LastModified") or info.get("mtime")
        if isinstance(mtime, datetime):
            return mtime if mtime.tzinfo else mtime.replace(tzinfo=timezone.utc)
        if mtime:
            return datetime.fromtimestamp(float(mtime), tz=timezone.utc)
    except (FileNotFoundError, OSError, ValueError):
        pass
    return folder or datetime.fromtimestamp(0, tz=timezone.utc)


def tape_latest(lake: Lake, d: date | str, raw: dict[str, ObjectInfo] | None = None) -> datetime | None:
    """Time of the newest raw tape object of date d, or None without tape."""
    raw = raw_objects(lake, d) if raw is None else raw
    if not raw:
        return None
    newest_folder = max(k.rsplit("/", 1)[0] for k in raw)
    in_folder = sorted(k for k in raw if k.startswith(newest_folder + "/"))
    named = [k for k in in_folder if _EPOCH_MS_NAME.match(posixpath.basename(k))]
    # Names carry the write time (no request); otherwise one info() on the newest-named object,
    # never one per object (a live capture writes hundreds an hour).
    return max(_raw_object_time(lake, k) for k in (named or in_folder[-1:]))


def summary_generated_at(lake: Lake, d: date | str) -> datetime | None:
    """When a run last produced the per-date summary (its `generated_at`, or the newer `checked_at`
    of a run that found the content unchanged and kept the file), None when missing or unreadable."""
    return summary.last_built_at(lake, d)


def _parse_ts(value: Any) -> datetime | None:
    if not value:
        return None
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


# -- cross-cutting checks ---------------------------------------------------------------------


def _current_window_start(now: datetime) -> datetime | None:
    """Start of the continuous window the market is in (pre-closing counts as the afternoon's)."""
    local = now.astimezone(keys.WIB)
    d, t = local.date(), local.time()
    wins = idx_calendar.continuous_windows(d)
    for a, b in wins:
        if a <= t < b:
            return datetime.combine(d, a, keys.WIB)
    if idx_calendar.PRE_CLOSE[0] <= t < idx_calendar.PRE_CLOSE[1]:
        return datetime.combine(d, wins[-1][0], keys.WIB)
    return None


def freshness_outcomes(lake: Lake, d: date | str, now: datetime) -> list[CheckOutcome]:
    """Summary age ≤ 10 min and tape lag ≤ 20 min, evaluated only while they mean something:
    for today, during market hours (summary from the first intraday tick, tape while the market
    is matching orders). Otherwise both pass with `applicable: false`."""
    d = keys.as_date(d)
    phase = idx_calendar.market_phase(now)
    is_today = idx_calendar.wib_date(now) == d
    day_start = datetime.combine(d, INTRADAY_START, keys.WIB)
    out: list[CheckOutcome] = []

    gen = summary_generated_at(lake, d)
    applies = is_today and phase not in ("closed", "pre_open") and now >= day_start
    meta: dict[str, Any] = {
        "date": d.isoformat(),
        "phase": phase,
        "applicable": applies,
        "generated_at": gen.isoformat() if gen else None,
    }
    if applies:
        age = now - (gen or day_start)
        meta["age_seconds"] = int(age.total_seconds())
        ok = age <= SUMMARY_MAX_AGE
        desc = (
            f"summary of {d} generated {int(age.total_seconds() // 60)} min ago"
            if gen
            else f"no summary of {d} yet, {int(age.total_seconds() // 60)} min into the session"
        )
        desc += (
            ""
            if ok
            else f" (> {int(SUMMARY_MAX_AGE.total_seconds() // 60)} min): the intraday schedule is not keeping up"
        )
    else:
        ok, desc = True, f"summary freshness not applicable ({'not today' if not is_today else phase})"
    out.append(CheckOutcome.of("summary_fresh", ok, desc, meta))

    window = _current_window_start(now) if is_today else None
    latest = tape_latest(lake, d) if window is not None else None
    meta = {
        "date": d.isoformat(),
        "phase": phase,
        "applicable": window is not None,
        "tape_latest": latest.isoformat() if latest else None,
    }
    if window is not None:
        ref = max(latest, window) if latest else window
        lag = now - ref
        meta["lag_seconds"] = int(lag.total_seconds())
        ok = lag <= TAPE_MAX_LAG
        desc = f"raw tape lag {int(lag.total_seconds() // 60)} min"
        desc += "" if ok else f" (> {int(TAPE_MAX_LAG.total_seconds() // 60)} min): is the capture running?"
    else:
        ok, desc = True, f"raw tape lag not applicable ({'not today' if not is_today else phase})"
    out.append(CheckOutcome.of("raw_tape_lag", ok, desc, meta))
    return out


def context_outcome(lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str) -> CheckOutcome:
    """daily_features of the previous session exists (the summary's context; WARN)."""
    d = keys.as_date(d)
    prev = idx_calendar.previous_sessions(d, 1)
    if not prev:
        return CheckOutcome.of(
            "context_prev_session", True, "no previous session in the calendar", {"date": d.isoformat()}
        )
    p = prev[0]
    rows = 0
    if con is not None:
        try:
            row = con.execute("SELECT count(*) FROM daily_features WHERE date = ?", [p]).fetchone()
            rows = int(row[0]) if row else 0
        except duckdb.Error:
            rows = 0
    in_lake = lake.exists(keys.zscore_daily_key(p))
    ok = rows > 0 or in_lake
    return CheckOutcome.of(
        "context_prev_session",
        ok,
        f"daily_features of the previous session {p} exist"
        if ok
        else f"no daily_features for the previous session {p}: the summary of {d} scores with older or no context",
        {"date": d.isoformat(), "prev_session": p.isoformat(), "warehouse_rows": rows, "lake_file": in_lake},
    )


# -- the report ---------------------------------------------------------------------------------


def _layer_outcomes(lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date) -> list[CheckOutcome]:
    out: list[CheckOutcome] = []
    for layer in contract.LAYERS:
        try:
            out.extend(layer.checks(lake, con, d))
        except Exception as exc:  # noqa: BLE001 - one broken layer must not hide the others
            log.exception("checks of %s failed", layer.name)
            out.append(
                CheckOutcome.of(
                    f"{layer.name}_checks_ran",
                    False,
                    f"the {layer.name} checks crashed: {type(exc).__name__}: {exc}",
                    {"date": d.isoformat()},
                )
            )
    return out


def integrity_report(
    settings: Settings,
    d: date | str | None = None,
    *,
    now: datetime | None = None,
    lake: Lake | None = None,
) -> dict[str, Any]:
    """All checks of SPEC §11 for date d as JSON-ready data; status ERROR/WARN/OK."""
    now = now or datetime.now(timezone.utc)
    d = keys.as_date(d) if d is not None else idx_calendar.wib_date(now)
    lake = lake or Lake.from_settings(settings)
    warehouse = "ok"
    try:
        con: duckdb.DuckDBPyConnection | None = duck.connect(settings.warehouse_target, read_only=True)
    except duck.WarehouseBusy:
        con, warehouse = None, "busy"
    except duck.WarehouseMissing:
        con, warehouse = None, "missing"
    try:
        outcomes = _layer_outcomes(lake, con, d)
        seen = {(o.asset, o.name) for o in outcomes}
        try:
            extras = [context_outcome(lake, con, d), *freshness_outcomes(lake, d, now),
                      reconcile.live_outcome(lake, d, settings.live_api_url)]  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - e.g. the object store is unreachable
            log.exception("cross-cutting checks failed")
            extras = [
                CheckOutcome.of(
                    "operations_checks_ran",
                    False,
                    f"context/freshness checks crashed: {type(exc).__name__}: {exc}",
                    {"date": d.isoformat()},
                )
            ]
        outcomes.extend(o for o in extras if (o.asset, o.name) not in seen)
    finally:
        if con is not None:
            con.close()
    return {
        "date": d.isoformat(),
        "status": overall_status(outcomes),
        "warehouse": warehouse,
        "checks": [o.as_json() for o in outcomes],
    }
