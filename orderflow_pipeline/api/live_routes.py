"""`/live/*` (SPEC §16 Interface): the live engine's footprint, summary and event stream.

The engine runs in its own thread (`live.service`), started and stopped with the app's lifespan;
handlers only copy a snapshot under its lock or follow the event log, so a slow client or a
recompute never blocks another request. Until the restart's rebuild is done the handlers wait
(up to READY_WAIT_S), so nobody is answered from a half-built day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from orderflow_pipeline.api.models import ERRORS
from orderflow_pipeline.api.params import TICKER_PATTERN, parse_ticker
from orderflow_pipeline.api.reads import Reads, hist_view
from orderflow_pipeline.layers.summary.context import Context, load_context
from orderflow_pipeline.live.journal import spool_folders
from orderflow_pipeline.live.service import LiveService
from orderflow_pipeline.read import bars, profile
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.live")

READY_WAIT_S = 30.0
# a comma-separated list of tickers (SPEC §7 ticker pattern)
TICKERS_PATTERN = rf"^{keys.TICKER_PATTERN}(,{keys.TICKER_PATTERN})*$"
EVENT_ID_HEADER = "X-Live-Event-Id"  # the stream id a snapshot is current up to (resume from it)


def health(app: FastAPI) -> dict[str, Any]:
    """The live engine's part of `/health`: running (LIVE), no_live (with the reason) or
    not_running (an app without its lifespan), with the newest trade, trades so far and clients.
    Never waits for the rebuild: health answers at once, `ready` says whether it is done."""
    svc: LiveService | None = getattr(app.state, "live_service", None)
    if svc is None:
        return {"state": "not_running", "reason": "NOT_RUNNING", "trades": 0, "clients": 0}
    st = svc.status()
    return {
        "state": "running" if st["status"] == "LIVE" else "no_live",
        "reason": st["reason"],
        "date": st["date"],
        "newest_trade_time": st["newest_trade_time"],
        "newest_trade_received_at": st["newest_trade_received_at"],
        "trades": st["trades"],
        "clients": st["clients"],
        "capture": st["capture"]["state"],
        "ready": st["ready"],
    }


def register(app: FastAPI, reads: Reads) -> None:
    """Add the live routes to `app` and run the engine inside the app's lifespan (called once by
    `create_app`; plain app routes, like `operator_routes`, so the OpenAPI checks see them)."""
    holder: dict[str, LiveService] = {}

    def context(d: date) -> Context:
        try:
            with reads.reading() as con:
                return load_context(con, d)
        except Exception as exc:  # noqa: BLE001 - no warehouse yet: the summary has no context
            log.info("live: no context for %s (%s)", d, exc)
            return Context.none()

    def lake() -> Lake | None:
        try:
            return reads.lake
        except Exception as exc:  # noqa: BLE001 - the spool alone still gives the live day
            log.warning("live: lake unavailable (%s)", exc)
            return None

    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with outer(a) as state:
            svc = LiveService(lambda: spool_folders(reads.settings.capture_spool), lake, context, reads.now,
                              broker=reads.settings.live_broker)  # fmt: skip
            holder["svc"] = svc
            a.state.live_service = svc
            svc.start()
            try:
                yield state
            finally:
                holder.pop("svc", None)
                a.state.live_service = None
                await asyncio.to_thread(svc.stop)

    app.router.lifespan_context = lifespan

    async def service() -> LiveService | None:
        svc = holder.get("svc")
        if svc is not None:
            await asyncio.to_thread(svc.ready.wait, READY_WAIT_S)
        return svc

    async def candles_of(t: str) -> tuple[str, list[dict[str, Any]], str] | JSONResponse:
        """(day, candles of `t`, newest event id) read under the engine's lock, or NO_LIVE."""
        svc = await service()
        if (answer := no_live(svc)) is not None:
            return answer
        assert svc is not None
        with svc.lock:
            assert svc.engine is not None
            return svc.engine.day.isoformat(), svc.engine.candles(t), svc.events.last_id

    def no_live(svc: LiveService | None) -> JSONResponse | None:
        if svc is None:  # an app run without its lifespan (e.g. a TestClient outside `with`)
            return JSONResponse(
                {"status": "NO_LIVE", "reason": "NOT_RUNNING", "date": None, "source": "live"}
            )
        st = svc.status()
        if st["status"] == "LIVE":
            return None
        return JSONResponse({"status": "NO_LIVE", "reason": st["reason"], "date": st["date"], "source": "live",
                             "capture": st["capture"]})  # fmt: skip

    @app.get("/live/footprint", tags=["live"], responses=ERRORS)
    async def live_footprint(
        kode: str | None = Query(None, pattern=TICKER_PATTERN, examples=["BBRI"], description="ticker"),
    ) -> Any:
        """Today's live 1-minute candles of one ticker: `{"t", "date", "candles"}` (SPEC §6 candles)."""
        t = parse_ticker(kode)
        got = await candles_of(t)
        if isinstance(got, JSONResponse):
            return got
        day, candles, last = got
        body = {"t": t, "date": day, "candles": candles}
        return JSONResponse(body, headers={EVENT_ID_HEADER: last, "Cache-Control": "no-store"})

    @app.get("/live/footprint-hist", tags=["live"], responses=ERRORS)
    async def live_footprint_hist(
        kode: str | None = Query(None, pattern=TICKER_PATTERN, examples=["BBRI"], description="ticker"),
        bar: int = Query(1, description=f"minutes per bar, one of {bars.BAR_MINUTES}"),
    ) -> Any:
        """The live candles of one ticker in `/footprint-raw-hist`'s shape (`"source": "live"`:
        bars, profile, imbalances), for the dashboard's open footprint ladder."""
        t = parse_ticker(kode)
        got = await candles_of(t)
        if isinstance(got, JSONResponse):
            return got
        day, candles, last = got
        body = {"ticker": t, "date": day, "source": "live", "warehouse": "ok", "count": len(candles),
                "candles": candles}  # fmt: skip
        view = hist_view(body, bar, profile.IMBALANCE_RATIO, profile.IMBALANCE_MIN_LOTS)
        return JSONResponse(view, headers={EVENT_ID_HEADER: last, "Cache-Control": "no-store"})

    @app.get("/live/summary", tags=["live"], responses=ERRORS)
    async def live_summary() -> Any:
        """Today's §10 summary of the live candles, `"source": "live"`; NO_LIVE without live trades."""
        svc = await service()
        if (answer := no_live(svc)) is not None:
            return answer
        assert svc is not None
        with svc.lock:
            assert svc.engine is not None and svc.engine.summary is not None
            body = svc.engine.summary
            last = svc.events.last_id
        return JSONResponse(body, headers={EVENT_ID_HEADER: last, "Cache-Control": "no-store"})

    @app.get("/live/status", tags=["live"], responses=ERRORS)
    async def live_status() -> Any:
        """The live engine's state (what `status` events carry)."""
        svc = await service()
        return svc.status() if svc is not None else {"status": "NO_LIVE", "reason": "NOT_RUNNING"}

    @app.get("/live/stream", tags=["live"], response_class=StreamingResponse,
             responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "SSE: candle, item, status, reload"}})  # fmt: skip
    async def live_stream(
        request: Request,
        kode: str | None = Query(
            None,
            max_length=4000,
            pattern=TICKERS_PATTERN,
            examples=["BBRI,BBCA"],
            description="comma-separated tickers; default all",
        ),  # fmt: skip
    ) -> StreamingResponse:
        """Server-Sent Events: `candle` (§6 candle + "t"), `item` (§10 item), `status` (≥ every 5 s),
        `reload` (fetch the snapshot again). Resume with the `Last-Event-ID` header."""
        tickers = None if not kode else {parse_ticker(x.strip()) for x in kode.split(",") if x.strip()}
        svc = await service()
        if svc is None:
            return no_live(svc)  # type: ignore[return-value]
        frames = svc.events.follow(request.headers.get("last-event-id"), tickers)
        return StreamingResponse(frames, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip
