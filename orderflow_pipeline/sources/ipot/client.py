"""The IPOT feed's one client connection, shared by `orderflow capture` and `fetch-broksum`.

What a connection does is the same for both (../shared/IPOT.md): open the URL with the
`appsession` token URL-quoted into it, send the SocketCluster handshake and wait for its reply,
answer every `#1` ping with `#2`, number its calls, send commands and read their answers. The
frames themselves are `protocol`'s; what to do with a failure (reconnect, alert, retry a ticker)
stays with the caller.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from orderflow_pipeline.sources.ipot import protocol as P

# Large enough for any record burst the feed sends in one frame.
MAX_FRAME_BYTES = 2**24
TOKEN_RE = re.compile(r"""appsession\s*[:=]\s*["']([^"']+)["']""")


def with_token(url: str, token: str | None) -> str:
    """The feed URL with its `appsession` query parameter; quoted, because a token is opaque text
    that may hold `&`, `+`, `=` or spaces, which would otherwise change or cut the query."""
    if not token:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}appsession={quote(token, safe='')}"


def redact(url: str) -> str:
    """The URL as it may be logged: no more than the token's first characters."""
    return re.sub(r"(appsession=)([^&]{0,4})[^&]*", r"\1\2…", url)


def fetch_token(token_url: str) -> str:
    """The appsession string from the refresh URL (IPOT.md's regex, or a bare token body)."""
    resp = httpx.get(token_url, timeout=10.0, follow_redirects=True)
    resp.raise_for_status()
    m = TOKEN_RE.search(resp.text)
    if m:
        return m.group(1)
    body = resp.text.strip()
    if body and len(body) < 512 and not any(c.isspace() for c in body):
        return body
    raise ValueError(f"no appsession token found at {token_url}")


class HandshakeRefused(Exception):
    """The server answered the handshake with an error."""


class CommandError(Exception):
    """The server answered a command with an error (e.g. NOSERVICE)."""


class Connection:
    """One open SocketCluster connection. Call ids start after the handshake's; command ids run
    1, 2, … on their own, as in IPOT.md's frames."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._cid = P.HANDSHAKE_CID
        self._cmdid = 0

    @classmethod
    async def open(
        cls,
        url: str,
        token: str | None,
        *,
        open_timeout: float,
        origin: str | None = None,
        keepalive_s: float | None = None,
        max_queue: int | None = None,
    ) -> Connection:
        """Connect (not yet handshaken). `keepalive_s` is the WebSocket-level ping interval, off
        by default: the feed's own `#1` pings keep the connection alive."""
        ws = await connect(
            with_token(url, token),
            origin=Origin(origin) if origin else None,
            open_timeout=open_timeout,
            ping_interval=keepalive_s,
            max_size=MAX_FRAME_BYTES,
            max_queue=max_queue,
        )
        return cls(ws)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self.ws.close_reason

    async def recv(self, timeout: float) -> P.Frame:
        """The next frame; a ping is answered before it is returned (callers may count it as
        activity). TimeoutError when nothing came within `timeout` s (or it is not positive)."""
        if timeout <= 0:
            raise TimeoutError
        f = P.decode(await asyncio.wait_for(self.ws.recv(), timeout))
        if f.kind == "ping":
            await self.ws.send(P.PONG)
        return f

    async def frames(self) -> AsyncGenerator[P.Frame, None]:
        """Every frame until the connection closes, pings answered."""
        async for msg in self.ws:
            f = P.decode(msg)
            if f.kind == "ping":
                await self.ws.send(P.PONG)
            yield f

    async def handshake(self, timeout: float) -> None:
        """Send the handshake and wait for its reply: commands are only sent after it.
        TimeoutError when none came within `timeout` s, HandshakeRefused on an error reply."""
        await self.ws.send(P.handshake(P.HANDSHAKE_CID))
        deadline = time.monotonic() + timeout
        while True:
            f = await self.recv(deadline - time.monotonic())
            if f.kind == "handshake_reply" or (f.kind == "reply" and f.rid == P.HANDSHAKE_CID):
                if f.error:
                    raise HandshakeRefused(f.error)
                return

    async def command(self, param: dict[str, Any]) -> tuple[int, int]:
        """Send one command; its (cmdid, cid), by which its answer frames are recognised."""
        self._cid += 1
        self._cmdid += 1
        await self.ws.send(P.command(self._cmdid, self._cid, param))
        return self._cmdid, self._cid

    async def subscribe_lt(self) -> int:
        """Subscribe to every ticker's live trades; the call id its reply will carry."""
        return (await self.command(P.subscribe_lt_param()))[1]

    async def query_records(
        self,
        param: dict[str, Any],
        *,
        idle_s: float,
        empty_idle_s: float,
        max_s: float,
        after_reply_s: float,
    ) -> list[str]:
        """Send a query and collect the rows of its `record` frames. The answer ends `idle_s`
        after the last frame (`empty_idle_s` while no row came), `after_reply_s` after the
        command's reply (rows may trail it), or `max_s` after the query, whichever is first: the
        feed does not always send the reply. CommandError on an error answer."""
        cmdid, cid = await self.command(param)
        lines: list[str] = []
        start = last = time.monotonic()
        replied_at: float | None = None
        while True:
            limits = [start + max_s, last + (idle_s if lines else empty_idle_s)]
            if replied_at is not None:
                limits.append(replied_at + after_reply_s)
            try:
                f = await self.recv(min(limits) - time.monotonic())
            except TimeoutError:
                return lines
            last = time.monotonic()
            if f.kind == "record":
                lines.append(f.data)
            elif f.kind in ("reply", "other") and f.error:
                raise CommandError(f.error)
            elif f.kind == "reply" and (f.rid == cid or f.cmdid == cmdid):
                replied_at = last
