"""Live vs batch (SPEC §16 Reconciliation): the footprint layer's candles of the closed minutes
against the live engine's, for the asset check `live_matches_batch` and `orderflow check`.

Why "closed" means "two minutes before the batch's newest": the batch reads the lake, which
trails the capture by a spool flush or more, so the batch's newest minute (and a late trade of
the one before it) may still be filling in the lake while the live engine already has them. A
minute that started `SETTLE_MS` before the batch's newest minute was closed for both when the
batch ran; a difference there is a real one (a rule that disagrees, a lost or doubled trade).

The live side is read over HTTP (`GET /live/status`, `/live/summary`, `/live/footprint`), so the
check compares what the trader's screen shows, and an API that is not configured, unreachable or
on another day makes the check skip with the reason, never fail a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers.footprint.hour_files import footprint_files
from orderflow_pipeline.storage.keys import WIB, parse_footprint_key
from orderflow_pipeline.storage.lake import Lake

NAME = "live_matches_batch"
SETTLE_MS = 120_000
TIMEOUT_S = 10.0
SHOWN = 10  # differences named in the description (all, up to MAX_LISTED, in the metadata)
MAX_LISTED = 200

Candles = Mapping[str, list[dict[str, Any]]]  # ticker -> §6 candles


@dataclass(frozen=True)
class Difference:
    ticker: str
    t0: int
    what: str  # "live only", "batch only", or the fields that differ with both values

    def text(self) -> str:
        return f"{self.ticker} {hhmm(self.t0)} WIB: {self.what}"


def hhmm(t0: int) -> str:
    return datetime.fromtimestamp(t0 / 1000, tz=WIB).strftime("%H:%M")


def batch_candles(lake: Lake, d: date) -> dict[str, list[dict[str, Any]]]:
    """Every ticker's candles of the date in the lake's footprint hour files (the batch's)."""
    files = footprint_files(lake, d)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, body in lake.cat_many(files).items():
        t, _ = parse_footprint_key(key)
        out.setdefault(t, []).extend(json.loads(x) for x in body.decode().splitlines() if x.strip())
    return {t: sorted(cs, key=lambda c: int(c["t0"])) for t, cs in out.items()}


def closed_before(batch: Candles) -> int | None:
    """t0 (exclusive) below which minutes are closed for both paths; None for an empty batch.

    Minute starts are whole minutes, so `t0 < newest - SETTLE_MS + 60 s` is `t0 <= newest - SETTLE_MS`."""
    newest = max((int(c["t0"]) for cs in batch.values() for c in cs), default=None)
    return None if newest is None else newest - SETTLE_MS + 60_000


def _what(b: dict[str, Any], lv: dict[str, Any]) -> str:
    fields = sorted(k for k in set(b) | set(lv) if b.get(k) != lv.get(k))
    parts = [f"{k} {b.get(k)} vs {lv.get(k)}" if k != "levels" else "levels differ" for k in fields]
    return "batch vs live: " + ", ".join(parts)


def compare(batch: Candles, live: Candles, before: int) -> list[Difference]:
    """Each closed minute (t0 < before) whose batch and live candles differ, ticker then t0 order."""
    out: list[Difference] = []
    for t in sorted(set(batch) | set(live)):
        b = {int(c["t0"]): c for c in batch.get(t, []) if int(c["t0"]) < before}
        lv = {int(c["t0"]): {k: v for k, v in c.items() if k != "t"} for c in live.get(t, [])
              if int(c["t0"]) < before}  # fmt: skip
        for t0 in sorted(set(b) | set(lv)):
            if t0 not in lv:
                out.append(Difference(t, t0, "batch only (the live engine has no such minute)"))
            elif t0 not in b:
                out.append(Difference(t, t0, "live only (the batch has no such minute)"))
            elif b[t0] != lv[t0]:
                out.append(Difference(t, t0, _what(b[t0], lv[t0])))
    return out


# -- the live side over HTTP ----------------------------------------------------------------------

Get = Callable[[str], Any]  # path -> decoded JSON (raises httpx.HTTPError / ValueError)


def http_get(base_url: str, *, timeout: float = TIMEOUT_S) -> tuple[Get, Callable[[], None]]:
    """A JSON getter on one keep-alive connection to `base_url`, and its close."""
    client = httpx.Client(base_url=base_url, timeout=timeout)

    def get(path: str) -> Any:
        r = client.get(path)
        r.raise_for_status()
        return r.json()

    return get, client.close


def live_status(base_url: str | None, *, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """`GET /live/status` of the API, or {"status": "UNREACHABLE"|"NOT_CONFIGURED", "reason": …}."""
    if not base_url:
        return {"status": "NOT_CONFIGURED", "reason": "ORDERFLOW_LIVE_API_URL is not set"}
    get, close = http_get(base_url, timeout=timeout)
    try:
        body = get("/live/status")
        return body if isinstance(body, dict) else {"status": "UNREACHABLE", "reason": "not a JSON object"}
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": "UNREACHABLE", "reason": f"{base_url}: {type(exc).__name__}: {exc}"}
    finally:
        close()


def _skip(d: date, why: str, **meta: Any) -> CheckOutcome:
    return CheckOutcome.of(NAME, True, f"skipped: {why}", {"date": d.isoformat(), "skipped": why, **meta})


def live_outcome(lake: Lake, d: date, base_url: str | None, *, timeout: float = TIMEOUT_S) -> CheckOutcome:
    """The check for date d: passes (skipped, with the reason) when there is no live engine of d
    to compare with; WARN naming ticker and minute of each closed minute that differs."""
    if not base_url:
        return _skip(d, "ORDERFLOW_LIVE_API_URL is not set")
    get, close = http_get(base_url, timeout=timeout)
    try:
        try:
            status = get("/live/status")
        except (httpx.HTTPError, ValueError) as exc:
            return _skip(d, f"live API {base_url} unreachable ({type(exc).__name__})", live_api=base_url)
        if status.get("date") != d.isoformat():
            return _skip(d, f"the live engine is on {status.get('date')}, not {d}", live=status)
        if status.get("status") != "LIVE":
            return _skip(d, f"no live trades ({status.get('reason')})", live=status)
        batch = batch_candles(lake, d)
        before = closed_before(batch)
        if before is None:
            return _skip(d, "the batch has no candles for the date yet", live=status)
        try:
            doc = get("/live/summary")
            tickers = sorted(set(batch) | {str(i["t"]) for i in doc.get("items") or []})
            live = {t: get(f"/live/footprint?kode={t}").get("candles") or [] for t in tickers}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return _skip(d, f"reading the live engine failed ({type(exc).__name__}: {exc})", live=status)
    finally:
        close()
    diffs = compare(batch, live, before)
    meta = {
        "date": d.isoformat(),
        "tickers": len(tickers),
        "minutes_before": f"{hhmm(before)} WIB",
        "differences": len(diffs),
        "listed": [x.text() for x in diffs[:MAX_LISTED]],
        "live_trades": status.get("trades"),
    }
    if not diffs:
        return CheckOutcome.of(
            NAME, True, f"live = batch on every closed minute of {len(tickers)} tickers", meta
        )
    shown = "; ".join(x.text() for x in diffs[:SHOWN]) + (" …" if len(diffs) > SHOWN else "")
    return CheckOutcome.of(
        NAME, False, f"live differs from batch at {len(diffs)} closed minute(s): {shown}", meta
    )
