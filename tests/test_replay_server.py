"""The IPOT protocol module and `orderflow replay-server`: a real WebSocket server on loopback,
spoken to with the `websockets` client and the one protocol module."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
from live_lab import DAY, simulated_lake
from websockets.asyncio.client import connect

from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.sources.ipot.replay.server import ReplayConfig, ReplayServer, broksum_rows, load_day
from orderflow_pipeline.storage.lake import Lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return simulated_lake(tmp_path_factory.mktemp("replay") / "lake")


def test_frames_round_trip() -> None:
    f = P.decode(P.handshake())
    assert (f.kind, f.cid) == ("handshake", 1)
    f = P.decode(P.subscribe_lt(3, 4))
    assert f.kind == "command" and f.cid == 4 and f.cmdid == 3 and P.is_lt_subscribe(f.param)
    # the global subscription carries neither code nor subsid (IPOT.md: they cause NOSERVICE)
    assert "code" not in f.param and "subsid" not in f.param
    q = P.parse_broksum_query(P.decode(P.broksum_query(5, 6, "s", "BBRI", date(2026, 2, 3))).param)
    assert q == P.BroksumQuery("s", "BBRI", date(2026, 2, 3))
    assert (
        json.loads(P.broksum_query(5, 6, "b", "BBRI", date(2026, 2, 3)))["data"]["param"]["param"]["args"][5]
        == "2026-2-03"
    )
    assert P.parse_query_date("2026-02-03") == P.parse_query_date("2026-2-3") == date(2026, 2, 3)
    line = "B|090002|0|ADRO|RG|074313|2210|1|--|-|--|-|2220|72596|00|-10|0|2219|0|1"
    for style in ("stream", "publish", "flat"):
        f = P.decode(P.trade(line, style))
        assert (f.kind, f.data) == ("trade", line)
    assert P.decode(P.PING).kind == "ping" and P.decode(P.PONG).kind == "pong"
    assert P.decode(P.malformed(1)).kind == "malformed" and P.decode(P.malformed(2)).kind == "malformed"
    assert P.decode('{"event":"stream","data":{"rtype":"OB2","data":"x"}}').kind == "other"
    err = P.decode(P.error_reply(2, "NOSERVICE", 1))
    assert (err.kind, err.rid, err.error) == ("reply", 2, "NOSERVICE")
    hr = P.decode(P.handshake_reply(1, "abc"))
    assert hr.kind == "handshake_reply" and hr.rid == 1
    assert P.line_problem(line) is None and P.line_problem("B|0900|x") is not None
    assert P.trade_seconds(line) == 9 * 3600 + 2


def test_broksum_rows_from_real_file() -> None:
    """Each broker's row carries both sides of the real SPEC §8 file; the last row is the summary."""
    from conftest import REAL

    path = next((REAL / "raw-broksum" / "BBRI").glob("*.json"))
    doc = json.loads(path.read_text())
    rows_b = broksum_rows(doc, "BBRI", "b")
    bs = doc["data"]["broker_summary"]
    assert len(rows_b) == len(bs["brokers_buy"]) + 1
    first = bs["brokers_buy"][0]
    code, bval, bvol = rows_b[0].split("|")[:3]
    assert (code, int(bval), int(bvol)) == (
        first["netbs_broker_code"],
        int(first["bval"]),
        int(first["blot"]) * 100,
    )
    summ = rows_b[-1].split("|")
    assert summ[0] == "BBRI" and summ[1] == doc["data"]["bandar_detector"]["value"]
    assert len(broksum_rows(doc, "BBRI", "s")) == len(bs["brokers_sell"]) + 1


async def _session(port: int, subscribe: bool, limit: float) -> tuple[list[str], int]:
    """Handshake, subscribe; collect trade lines until `limit` s pass without one."""
    got: list[str] = []
    malformed = 0
    async with connect(f"ws://127.0.0.1:{port}/socketcluster/?appsession=x") as ws:
        await ws.send(P.handshake())
        assert P.decode(await ws.recv()).kind == "handshake_reply"
        if subscribe:
            await ws.send(P.subscribe_lt(1, 2))
        try:
            while True:
                f = P.decode(await asyncio.wait_for(ws.recv(), limit))
                if f.kind == "trade":
                    got.append(f.data)
                elif f.kind == "malformed":
                    malformed += 1
                elif f.kind == "ping":
                    await ws.send(P.PONG)
        except TimeoutError:
            pass
        except Exception:  # noqa: BLE001 - a drop closes the connection
            pass
    return got, malformed


def test_stream_query_and_faults(lake: Lake, tmp_path: Path) -> None:
    lines = load_day(lake, DAY)
    assert len(lines) > 1000 and len(set(lines)) == len(lines)
    secs = [P.trade_seconds(x) or 0 for x in lines]
    assert secs == sorted(secs)  # trade order

    async def main() -> None:
        cfg = ReplayConfig(
            date=DAY, speed=20000, port=0, replay_last=7, drop_every=0.3, malformed_every=500, batch_max=50
        )
        srv = ReplayServer(cfg, lines, lake)
        server = await srv.start()
        async with server:
            # a broker-summary query answers from the lake's file
            ticker = sorted(p.name for p in Path(lake.root).joinpath("raw-broksum").iterdir())[0]
            async with connect(f"ws://127.0.0.1:{srv.port}/socketcluster/") as ws:
                await ws.send(P.handshake())
                await ws.recv()
                await ws.send(P.broksum_query(1, 2, "b", ticker, DAY))
                rows = []
                while True:
                    f = P.decode(await ws.recv())
                    if f.kind == "record":
                        rows.append(f.data)
                    elif f.kind == "reply":
                        assert f.rid == 2 and f.data["records"] == len(rows)
                        break
            want = broksum_rows(lake.read_json(f"raw-broksum/{ticker}/{DAY}.json"), ticker, "b")
            assert rows == want and rows
            # the stream, dropped every 0.3 s: each reconnect first replays the last 7 trades
            seen: list[str] = []
            malformed = 0
            sessions = 0
            while not srv.done.is_set() or sessions == 0:
                got, bad = await _session(srv.port, True, 0.5)
                seen += got
                malformed += bad
                sessions += 1
                assert sessions < 500
            assert sessions > 1
            assert set(seen) == set(lines)
            assert len(seen) - len(lines) == 7 * (sessions - 1)
            assert malformed == len(lines) // 500

    asyncio.run(main())


def test_noservice_fault(lake: Lake) -> None:
    async def main() -> None:
        srv = ReplayServer(ReplayConfig(date=DAY, port=0, noservice=1), load_day(lake, DAY)[:10], lake)
        async with await srv.start():
            for expect in ("NOSERVICE", None):
                async with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
                    await ws.send(P.handshake())
                    await ws.recv()
                    await ws.send(P.subscribe_lt(1, 2))
                    f = P.decode(await ws.recv())
                    assert f.kind == "reply" and f.error == expect

    asyncio.run(main())


def test_ipot_settings() -> None:
    from orderflow_pipeline.config import DEFAULT_IPOT_URL, ConfigError, get_settings

    s = get_settings({})
    assert (s.ipot_url, s.ipot_token, s.ipot_token_url) == (DEFAULT_IPOT_URL, None, None)
    s = get_settings(
        {"ORDERFLOW_IPOT_URL": "ws://127.0.0.1:9/socketcluster/", "ORDERFLOW_IPOT_TOKEN": " abc "}
    )
    assert (s.ipot_url, s.ipot_token) == ("ws://127.0.0.1:9/socketcluster/", "abc")
    with pytest.raises(ConfigError, match="ORDERFLOW_IPOT_URL"):
        get_settings({"ORDERFLOW_IPOT_URL": "http://example.com/"})
    with pytest.raises(ConfigError, match="ORDERFLOW_IPOT_TOKEN_URL"):
        get_settings({"ORDERFLOW_IPOT_TOKEN_URL": "indopremier.com/ipc/appsession.js"})


def test_fixed_rate_and_send_log(lake: Lake, tmp_path: Path) -> None:
    """`rate` paces by trade count, not trade time; the send log has each trade's first send once,
    in send order, even across drops with replays (the replayed copies are not logged again)."""
    lines = load_day(lake, DAY)[:300]
    log = tmp_path / "sent.tsv"

    async def main() -> list[str]:
        cfg = ReplayConfig(date=DAY, port=0, rate=500, send_log=str(log), drop_every=0.2, replay_last=5)
        srv = ReplayServer(cfg, lines, lake)
        seen: list[str] = []
        async with await srv.start():
            while not srv.done.is_set():
                got, _ = await _session(srv.port, True, 0.5)
                seen += got
        return seen

    seen = asyncio.run(main())
    rows = [x.split("\t") for x in log.read_text().splitlines()]
    assert [r[1] for r in rows] == lines  # every trade once, in trade order: replays are not logged
    assert len(seen) > len(lines)  # the drops did replay trades to the client
    stamps = [int(r[0]) for r in rows]
    assert stamps == sorted(stamps)
    # 300 trades at 500/s: the first and last send are at least 299/500 s apart (the clock pauses
    # while the client reconnects, so only a lower bound holds). At speed 0 they would be ~ms apart.
    assert (stamps[-1] - stamps[0]) / 1e9 >= 299 / 500
