"""The one IPOT client (`sources/ipot/client.py`): the handshake frame exists in one module, only
the client opens feed connections, and the token is URL-quoted — checked for fetch-broksum
against the real replay server (a real websockets server on loopback) that accepts one token."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from conftest import REAL

import orderflow_pipeline
from orderflow_pipeline.sources.ipot.broksum.fetch import FetchConfig, fetch_async
from orderflow_pipeline.sources.ipot.client import redact, with_token
from orderflow_pipeline.sources.ipot.replay.server import ReplayConfig, ReplayServer
from orderflow_pipeline.storage.keys import as_date, broksum_key
from orderflow_pipeline.storage.lake import Lake

PACKAGE = Path(orderflow_pipeline.__file__).parent
# Opaque text with every character class that changes a query string when left unquoted.
TOKEN = "a b&c=d+e/f%g?h#i"


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes (prose, not frames)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def test_handshake_frame_is_built_in_exactly_one_module() -> None:
    holders: dict[str, set[str]] = {"#handshake": set(), "authToken": set()}
    for name, tree in _modules().items():
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                for literal, mods in holders.items():
                    if literal in node.value:
                        mods.add(name)
    assert holders == {"#handshake": {"sources/ipot/protocol.py"}, "authToken": {"sources/ipot/protocol.py"}}


def test_only_the_client_opens_feed_connections() -> None:
    users = set()
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "websockets.asyncio.client"
            ):
                users.add(name)
            if isinstance(node, ast.Import) and any(
                a.name.startswith("websockets.asyncio.client") for a in node.names
            ):
                users.add(name)
    assert users == {"sources/ipot/client.py"}


def test_token_is_url_quoted() -> None:
    url = with_token("ws://h/socketcluster/", TOKEN)
    assert url == "ws://h/socketcluster/?appsession=a%20b%26c%3Dd%2Be%2Ff%25g%3Fh%23i"
    assert with_token("ws://h/s/?x=1", "t+1") == "ws://h/s/?x=1&appsession=t%2B1"
    assert with_token("ws://h/s/", None) == "ws://h/s/"
    assert TOKEN not in redact(url) and redact(url).endswith("appsession=a%20…")


def test_fetch_broksum_sends_a_token_that_needs_quoting(tmp_path: Path) -> None:
    day = "2026-01-21"
    src = Lake(str(tmp_path / "src"))
    src.write_bytes(broksum_key("BBRI", day), (REAL / "raw-broksum" / "BBRI" / f"{day}.json").read_bytes())
    dst = Lake(str(tmp_path / "dst"))

    async def main() -> tuple[list[str], dict[str, str]]:
        srv = ReplayServer(ReplayConfig(date=as_date(day), port=0, token=TOKEN), [], src)
        async with await srv.start():
            url = f"ws://127.0.0.1:{srv.port}/socketcluster/"
            ok = await fetch_async(dst, day, ["BBRI"], FetchConfig(url=url, token=TOKEN, retries=0))
            refused = await fetch_async(dst, day, ["BBRI"], FetchConfig(url=url, token="other", retries=0))
        return ok.written, refused.failed

    written, refused = asyncio.run(main())
    assert written == ["BBRI"]
    assert dst.read_bytes(broksum_key("BBRI", day))
    # the server does check the token: another one is refused
    assert list(refused) == ["BBRI"] and "403" in refused["BBRI"]
