"""Footprint layer (SPEC §5, §6): golden candles from the real tape, hour files, incremental
manifest, upstream files, idempotence and atomicity."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.footprint import candles, hour_files
from orderflow_pipeline.layers.footprint import checks as footprint_checks
from orderflow_pipeline.layers.footprint import manifest as footprint_manifest
from orderflow_pipeline.layers.footprint.hour_files import footprint_files
from orderflow_pipeline.storage import inventory, keys
from orderflow_pipeline.storage.lake import Lake

TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
D = "2026-02-18"  # the tape's hour folder 02 UTC = 09:00 WIB, a Wednesday
T0 = 1771380000000  # 2026-02-18 02:00 UTC = 09:00 WIB: every trade of the sample is in this minute
BBRI_KEY = "footprint/BBRI/1m/2026/02/06/03.jsonl"


def raw(
    tt: str, ticker: str, tno: int, price: int, lots: int, o13: str = "00", o14: str = "00", board: str = "RG"
) -> str:
    return f"B|{tt}|0|{ticker}|{board}|{tno}|{price}|{lots}|--|-|--|-|{price}|{o13}|{o14}|0|0|{price}|0|1"


def tape(*rows: tuple) -> bytes:
    return "".join(json.dumps({"v": 2, "fmt": "pipe", "raw": raw(*r), "ts": 0}) + "\n" for r in rows).encode()


def upstream_file(cands: list[dict]) -> bytes:
    """An hour file as an upstream feed lands it: §6 NDJSON in the given order (not built by us)."""
    return b"".join(json.dumps(c, separators=(",", ":")).encode() + b"\n" for c in cands)


def candles_of(lake: Lake, ticker: str, hour: str = "2026/02/18/02") -> list[dict]:
    return lake.read_ndjson(f"footprint/{ticker}/1m/{hour}.jsonl")


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


@pytest.fixture
def real_lake(local_lake: Lake, real: Path) -> Lake:
    local_lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    return local_lake


def test_golden_candles_from_the_real_tape(real_lake: Lake) -> None:
    res = footprint.build_footprint(real_lake, D)
    # BBCA (grep '|BBCA|RG|'): 090003 #83035 7250x33, 090005 #89589 7250x4, 090007 #95623 7250x19,
    # all with [14] set ([13]=00) -> buyer-initiated. vol 33+4+19 = 56, delta +56, one level.
    assert candles_of(real_lake, "BBCA") == [
        {
            "t0": T0,
            "ohlc": {"o": 7250, "h": 7250, "l": 7250, "c": 7250},
            "vol": 56,
            "delta": 56,
            "levels": [{"p": 7250, "bv": 56, "av": 0}],
        }
    ]
    # PGEO, in (time, number) order:
    #   090002 #74356 1160x200 s, #74359 1160x2 s; 090003 #77871 1160x449 s, #77873 1160x116 s,
    #   #83073 1160x10 BUY; 090008 #97413-#97420 1155 x(9+1+5+1+2+6+20+50 = 94) s,
    #   #97421-#97423,#97438,#97439 1150 x(10+114+132+1+1 = 258) s   ([13] set = seller-initiated)
    # o = 1160 (#74356), c = 1150 (#97439), h 1160, l 1150, vol = 767+10+94+258 = 1129,
    # 1160: bv 10, av 200+2+449+116 = 767; delta = 10 - (767+94+258) = -1109
    assert candles_of(real_lake, "PGEO") == [
        {
            "t0": T0,
            "ohlc": {"o": 1160, "h": 1160, "l": 1150, "c": 1150},
            "vol": 1129,
            "delta": -1109,
            "levels": [
                {"p": 1150, "bv": 0, "av": 258},
                {"p": 1155, "bv": 0, "av": 94},
                {"p": 1160, "bv": 10, "av": 767},
            ],
        }
    ]
    # INET: 090003 #77866 390x95 s (first by trade number), #83015-#83025 392 x
    #   (446+25+14+4+28+5+20+1+8+33+112 = 696) s, #83080 392x10 b, #83089 392x9 b; 090008 #97432 392x200 s.
    # o 390, c 392, h 392, l 390, vol 95+696+19+200 = 1010; 392: bv 19, av 896; delta 19-991 = -972
    assert candles_of(real_lake, "INET") == [
        {
            "t0": T0,
            "ohlc": {"o": 390, "h": 392, "l": 390, "c": 392},
            "vol": 1010,
            "delta": -972,
            "levels": [{"p": 390, "bv": 0, "av": 95}, {"p": 392, "bv": 19, "av": 896}],
        }
    ]
    # BBRI: one trade 090008 #97412 3770x167, [14] set -> +167
    assert candles_of(real_lake, "BBRI")[0]["delta"] == 167
    assert res.tape_objects_read == 1 and res.candles == res.tickers == 94  # 93 + PJHB-W


def test_every_real_trade_is_in_a_candle_or_quarantined(real_lake: Lake, real: Path) -> None:
    res = footprint.build_footprint(real_lake, D)
    lines = (real / TAPE_KEY).read_bytes().splitlines()
    fields = [json.loads(ln)["raw"].split("|") for ln in lines]
    # PJHB-W (a warrant, line 265) matches the SPEC §7 ticker pattern ^[A-Z0-9]{1,12}(-[A-Z0-9]{1,2})?$:
    # it is a regular-board trade like the other 385, so all 386 lines are trades and none is quarantined
    warrants = [i + 1 for i, f in enumerate(fields) if "-" in f[3]]
    assert warrants == [265]
    assert not real_lake.exists(keys.quarantine_key(D, "footprint", TAPE_KEY))
    assert res.trades == len(lines) == 386 and res.quarantined == 0
    # PJHB-W: B|090005|..|089636|67|1|..|[13]=707768|[14]=00 -> seller-initiated: 1 lot at 67, delta -1
    assert candles_of(real_lake, "PJHB-W") == [
        {"t0": T0, "ohlc": {"o": 67, "h": 67, "l": 67, "c": 67}, "vol": 1, "delta": -1,
         "levels": [{"p": 67, "bv": 0, "av": 1}]}
    ]  # fmt: skip
    # per-ticker lots from a plain re-reading of the lines equal the candles' vol
    want = Counter()
    for f in fields:
        want[f[3]] += int(f[7])
    got = {t: sum(c["vol"] for c in candles_of(real_lake, t)) for t in want}
    assert got == dict(want)
    # every trade has [13] xor [14] set, all at 09:00:02-09:00:08 (continuous): nothing neutral
    assert res.neutral_lots == 0 and res.total_lots == sum(want.values())
    ok = candles.validate_objects({k: real_lake.read_bytes(k) for k in footprint_files(real_lake, D)})
    assert ok.rejects == [] and ok.candles.num_rows == 94  # 93 + PJHB-W


def test_real_tape_on_s3(s3_lake: Lake, real: Path) -> None:
    s3_lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    res = footprint.build_footprint(s3_lake, D)
    # 385 + the PJHB-W warrant trade; 93 + its hour file; nothing quarantined
    assert (res.trades, res.hour_files_written, res.quarantined) == (386, 94, 0)
    assert s3_lake.read_ndjson("footprint/BBCA/1m/2026/02/18/02.jsonl")[0]["vol"] == 56
    again = footprint.build_footprint(s3_lake, D)
    assert (again.tape_objects_read, again.hour_files_written) == (0, 0)


def test_real_bbri_hour_file_validates_and_mutations_are_quarantined(local_lake: Lake, real: Path) -> None:
    body = (real / BBRI_KEY).read_bytes()
    assert hour_files.validate_hour_files({BBRI_KEY: body}) == []
    lines = body.splitlines()
    assert len(lines) == 60
    bad = list(lines)
    bad[4] = b'{"t0":1770347040000,"ohlc":{"o":3810,'  # truncated (line 5)
    bad[9] = b"{not json"  # bad JSON (line 10)
    row = json.loads(lines[19])  # line 20: h < l
    row["ohlc"]["h"], row["ohlc"]["l"] = row["ohlc"]["l"] - 10, row["ohlc"]["l"]
    bad[19] = json.dumps(row, separators=(",", ":")).encode()
    mutated = b"\n".join(bad) + b"\n"
    assert sorted(r.line_no for r in hour_files.validate_hour_files({BBRI_KEY: mutated})) == [5, 10, 20]
    # through the layer: an upstream-landed date (no tape) is inventoried, validated, kept
    local_lake.write_bytes(BBRI_KEY, mutated)
    res = footprint.build_footprint(local_lake, "2026-02-06")
    assert (res.upstream_files_validated, res.quarantined, res.hour_files_written) == (1, 3, 0)
    assert local_lake.read_bytes(BBRI_KEY) == mutated
    q = local_lake.read_ndjson(keys.quarantine_key("2026-02-06", "footprint", BBRI_KEY))
    assert [r["line_no"] for r in q] == [5, 10, 20]
    again = footprint.build_footprint(local_lake, "2026-02-06")  # same content: not re-validated
    assert (again.upstream_files_validated, again.quarantined) == (0, 0)


def test_cross_hour_ng_board_and_auction(local_lake: Lake) -> None:
    # AAAA: 08:55:00 pre-opening auction print 98x50 ([14] set) -> vol, OHLC, not delta;
    #       09:59:59 #10 200x5 buy, filed in the 03 UTC (10:xx WIB) folder -> still 02.jsonl, 02:59 UTC;
    #       10:00:00 #11 201x3 sell in the 02 folder -> 03.jsonl; 09:59:30 #12 NG 900x1000 -> excluded.
    local_lake.write_bytes(
        "raw_lt/2026/02/18/02/a.jsonl",
        tape(
            ("100000", "AAAA", 11, 201, 3, "7", "00"),
            ("095930", "AAAA", 12, 900, 1000, "00", "5", "NG"),
        ),
    )
    local_lake.write_bytes("raw_lt/2026/02/18/03/b.jsonl", tape(("095959", "AAAA", 10, 200, 5, "00", "3")))
    local_lake.write_bytes("raw_lt/2026/02/18/01/c.jsonl", tape(("085500", "AAAA", 1, 98, 50, "00", "9")))
    res = footprint.build_footprint(local_lake, D)
    assert res.non_regular == 1 and res.trades == 3
    assert candles_of(local_lake, "AAAA", "2026/02/18/01") == [
        {
            "t0": T0 - 5 * 60000,
            "ohlc": {"o": 98, "h": 98, "l": 98, "c": 98},
            "vol": 50,
            "delta": 0,
            "levels": [],
        }
    ]
    assert candles_of(local_lake, "AAAA") == [
        {
            "t0": T0 + 59 * 60000,
            "ohlc": {"o": 200, "h": 200, "l": 200, "c": 200},
            "vol": 5,
            "delta": 5,
            "levels": [{"p": 200, "bv": 5, "av": 0}],
        }
    ]
    assert candles_of(local_lake, "AAAA", "2026/02/18/03") == [
        {
            "t0": T0 + 3600000,
            "ohlc": {"o": 201, "h": 201, "l": 201, "c": 201},
            "vol": 3,
            "delta": -3,
            "levels": [{"p": 201, "bv": 0, "av": 3}],
        }
    ]
    assert res.neutral_lots == 50 and res.total_lots == 58


def _day(lake: Lake, objs: dict[str, bytes]) -> None:
    for k, v in objs.items():
        lake.write_bytes(k, v)


# Three tape objects arriving over the day. Working for TICK (Wednesday, all continuous):
#  A (02 folder): #1 09:00:00 100x10 [13] -> sell; #2 09:00:30 101x4 neither -> uptick buy
#  B (02 folder): #3 09:00:40 101x6 neither -> zero tick, inherits buy; #2 replayed (counts once);
#                 late #0 08:59:59... no: #9 09:01:00 100x1 both set -> downtick sell
#  C (03 folder): #20 10:00:00 100x2 neither -> zero tick vs #9 (in hour 02) -> inherits sell
OBJ_A = (
    "raw_lt/2026/02/18/02/a.jsonl",
    tape(("090000", "TICK", 1, 100, 10, "5", "00"), ("090030", "TICK", 2, 101, 4)),
)
OBJ_B = (
    "raw_lt/2026/02/18/02/b.jsonl",
    tape(
        ("090040", "TICK", 3, 101, 6),
        ("090030", "TICK", 2, 101, 4),
        ("090100", "TICK", 9, 100, 1, "1", "1"),
        ("090000", "OTHR", 1, 50, 1, "00", "1"),
    ),
)
OBJ_C = ("raw_lt/2026/02/18/03/c.jsonl", tape(("100000", "TICK", 20, 100, 2)))


def test_incremental_runs_equal_a_full_rebuild(tmp_path: Path) -> None:
    inc = Lake(str(tmp_path / "inc"))
    _day(inc, dict([OBJ_A]))
    r1 = footprint.build_footprint(inc, D)
    assert r1.tape_objects_read == 1 and candles_of(inc, "TICK")[0]["delta"] == -10 + 4
    _day(inc, dict([OBJ_B]))
    r2 = footprint.build_footprint(inc, D)
    # B touches TICK@02 and OTHR@02: A touched TICK@02 too, so it is re-read; the hour is rebuilt
    # from all its trades: 09:00 candle 100x10 s, 101x4 b, 101x6 b -> o 100 c 101 vol 20 delta 0
    assert (r2.tape_objects_read, r2.tape_objects_skipped, r2.duplicates) == (2, 1, 1)
    tick = candles_of(inc, "TICK")
    assert tick[0] == {
        "t0": T0,
        "ohlc": {"o": 100, "h": 101, "l": 100, "c": 101},
        "vol": 20,
        "delta": 0,
        "levels": [{"p": 100, "bv": 0, "av": 10}, {"p": 101, "bv": 10, "av": 0}],
    }
    assert tick[1]["delta"] == -1  # #9 downtick
    _day(inc, dict([OBJ_C]))
    r3 = footprint.build_footprint(inc, D)
    # only hour 03 is touched and no earlier object touched it: C alone is read; the carry of
    # TICK@02 (last continuous price 100, side sell) makes #20's zero tick a sell
    assert (r3.tape_objects_read, r3.hour_files) == (1, 1)
    assert candles_of(inc, "TICK", "2026/02/18/03")[0]["delta"] == -2

    full = Lake(str(tmp_path / "full"))
    _day(full, dict([OBJ_A, OBJ_B, OBJ_C]))
    footprint.build_footprint(full, D)
    files = footprint_files(full, D)
    assert files == footprint_files(inc, D) and len(files) == 3
    assert all(full.read_bytes(k) == inc.read_bytes(k) for k in files)


def test_rerun_changes_no_byte(real_lake: Lake) -> None:
    footprint.build_footprint(real_lake, D)
    root = Path(real_lake.root)
    before = snapshot(root)
    again = footprint.build_footprint(real_lake, D)
    assert again.tape_objects_read == 0 and snapshot(root) == before
    forced = footprint.build_footprint(real_lake, D, force=True)
    assert (
        forced.tape_objects_read == 1 and forced.hour_files_written == 0 and forced.hour_files_unchanged == 94
    )
    after = snapshot(root)
    fp = [k for k in before if k.startswith("footprint/") or k.startswith("_state/")]
    assert {k: after[k] for k in fp} == {k: before[k] for k in fp}


def test_upstream_minutes_kept_and_replaced_by_tape(local_lake: Lake) -> None:
    # an upstream hour file for TICK@02 with minutes 09:00 and 09:05 WIB; the tape has 09:00
    key = "footprint/TICK/1m/2026/02/18/02.jsonl"
    up = [
        {"t0": T0, "ohlc": {"o": 1, "h": 1, "l": 1, "c": 1}, "vol": 9, "delta": 0, "levels": []},
        {"t0": T0 + 300000, "ohlc": {"o": 7, "h": 7, "l": 7, "c": 7}, "vol": 3, "delta": 0, "levels": []},
    ]
    stale = {**up[1], "vol": 99}  # an earlier line for 09:05 in the same file: the later line wins
    local_lake.write_bytes(key, upstream_file([stale, *up]))
    _day(local_lake, dict([OBJ_A]))
    footprint.build_footprint(local_lake, D)
    got = candles_of(local_lake, "TICK")
    assert [c["t0"] for c in got] == [T0, T0 + 300000]
    assert got[0]["vol"] == 14 and got[1] == up[1]  # 09:00 from tape (10+4), 09:05 upstream kept
    _day(local_lake, dict([OBJ_B]))  # a later rebuild still merges the (saved) upstream minute
    footprint.build_footprint(local_lake, D)
    got = candles_of(local_lake, "TICK")
    assert [c["t0"] for c in got] == [T0, T0 + 60000, T0 + 300000] and got[2] == up[1]


class FailingLake(Lake):
    """A real local lake whose process 'dies' after n footprint writes (fault injection)."""

    def __init__(self, root: str, n: int) -> None:
        super().__init__(root)
        self.left = n

    def _write_local(
        self, final: str, chunks: Iterable[bytes | bytearray | memoryview], durable: bool
    ) -> os.stat_result:
        # the one per-file primitive under write_bytes and write_many
        if final.startswith(f"{self.root}/footprint/"):
            if self.left <= 0:
                raise KeyboardInterrupt("killed")
            self.left -= 1
        return super()._write_local(final, chunks, durable)


def test_killed_run_leaves_every_hour_file_whole(tmp_path: Path, real: Path) -> None:
    root = str(tmp_path / "lake")
    lake = Lake(root)
    body = (real / TAPE_KEY).read_bytes()
    old_tape = b"".join(ln for ln in body.splitlines(keepends=True) if b"|090008|" not in ln)
    lake.write_bytes(TAPE_KEY, old_tape)
    footprint.build_footprint(lake, D)
    old = {k: lake.read_bytes(k) for k in footprint_files(lake, D)}
    lake.write_bytes(TAPE_KEY, body)  # the object is replaced with the full minute
    with pytest.raises(KeyboardInterrupt):
        footprint.build_footprint(FailingLake(root, 5), D)
    ref = Lake(str(tmp_path / "ref"))
    ref.write_bytes(TAPE_KEY, body)
    footprint.build_footprint(ref, D)
    new = {k: ref.read_bytes(k) for k in footprint_files(ref, D)}
    now = footprint_files(lake, D)
    states = Counter()
    for k in now:
        b = lake.read_bytes(k)
        assert b == old.get(k) or b == new[k], k
        states["new" if b == new[k] else "old"] += 1
        [json.loads(x) for x in b.splitlines()]
    assert states["new"] >= 5 and states["old"] >= 1
    assert not [p for p in Path(root).rglob(".tmp-*")]
    footprint.build_footprint(lake, D)  # the next run completes the job, nothing taken for upstream
    assert {k: lake.read_bytes(k) for k in footprint_files(lake, D)} == new
    assert footprint_manifest.load(lake, D)["upstream_saved"] == []


def test_checks(real_lake: Lake, local_lake: Lake) -> None:
    empty = {c.name: c for c in footprint_checks.checks(Lake(real_lake.root + "-none"), None, D)}
    assert not empty["footprint_files_exist"].passed and empty["footprint_files_exist"].severity == "ERROR"
    footprint.build_footprint(real_lake, D)
    got = {c.name: c for c in footprint_checks.checks(real_lake, None, D)}
    assert got["footprint_files_exist"].passed
    # the real tape's one odd line (PJHB-W) is a warrant trade, not a bad line (SPEC §7)
    assert got["footprint_quarantine_empty"].passed and got["footprint_quarantine_empty"].metadata == {
        "quarantined": 0
    }
    # completeness: FULL trades all session every minute; HALF trades 09:00-09:29 and 15:20-15:49 only
    base = datetime(2026, 2, 18, 2, tzinfo=timezone.utc)  # 09:00 WIB
    rows, n = [], 0
    for m in range(24 * 60):
        ts = base.timestamp() + m * 60 + 7 * 3600
        hhmmss = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H%M%S")
        from orderflow_pipeline import idx_calendar

        t = datetime.fromtimestamp(ts, tz=timezone.utc).time()
        if not idx_calendar.is_continuous(D, t):
            continue
        n += 1
        rows.append((hhmmss, "FULL", n, 100, 1, "00", "1"))
        if t.hour == 9 and t.minute < 30 or t.hour == 15 and t.minute >= 20:
            rows.append((hhmmss, "HALF", n, 100, 1, "00", "1"))
    assert n == 320
    local_lake.write_bytes("raw_lt/2026/02/18/02/x.jsonl", tape(*rows))
    footprint.build_footprint(local_lake, D)
    comp = {c.name: c for c in footprint_checks.checks(local_lake, None, D)}["footprint_completeness"]
    # FULL 320/320; HALF 60/320 = 0.1875 < 0.5 -> listed
    assert not comp.passed and comp.metadata["incomplete"] == {"HALF": 0.188}
    assert comp.metadata["tickers_all_session"] == 2


def test_hour_files_are_the_spec_layout(local_lake: Lake) -> None:
    # SPEC §6 bytes as the build writes them: compact, fixed key order, integers, levels sorted by
    # price without zero-volume levels, candles in t0 order, one a line, trailing newline.
    # LAYT: #1 09:00:01 1330x5 neither set, no earlier price -> neutral (its level is left out);
    # #2 1325x100 [14] -> buy; #3 1320x7 [13] -> sell; #4 1325x5 [13] -> sell; #5 09:01 1325x1 buy.
    local_lake.write_bytes(
        "raw_lt/2026/02/18/02/l.jsonl",
        tape(
            ("090100", "LAYT", 5, 1325, 1, "00", "9"),  # first in the object, last in time
            ("090001", "LAYT", 1, 1330, 5),
            ("090002", "LAYT", 2, 1325, 100, "00", "8"),
            ("090003", "LAYT", 3, 1320, 7, "6", "00"),
            ("090004", "LAYT", 4, 1325, 5, "7", "00"),
        ),
    )
    footprint.build_footprint(local_lake, D)
    assert local_lake.read_bytes("footprint/LAYT/1m/2026/02/18/02.jsonl") == (
        b'{"t0":1771380000000,"ohlc":{"o":1330,"h":1330,"l":1320,"c":1325},"vol":117,"delta":88,'
        b'"levels":[{"p":1320,"bv":0,"av":7},{"p":1325,"bv":100,"av":5}]}\n'
        b'{"t0":1771380060000,"ohlc":{"o":1325,"h":1325,"l":1325,"c":1325},"vol":1,"delta":1,'
        b'"levels":[{"p":1325,"bv":1,"av":0}]}\n'
    )


def test_manifest_is_in_the_lake(real_lake: Lake) -> None:
    footprint.build_footprint(real_lake, D)
    man = real_lake.read_json(footprint_manifest.key(D))
    assert list(man["objects"]) == [TAPE_KEY] and man["objects"][TAPE_KEY]["rejected"] == 0
    assert len(man["files"]) == 94 and man["pending"] == {}  # 93 tickers + the PJHB-W warrant
    assert os.path.basename(footprint_manifest.key(D)) == "2026-02-18.json"


def test_replaced_or_removed_object_rebuilds_its_hours(local_lake: Lake) -> None:
    # A had TICK@02 and GONE@02; A is replaced by a version without GONE: GONE's file (ours) is
    # deleted, TICK's rebuilt. An upstream file for UPST@02 with no tape is never deleted.
    key_a = "raw_lt/2026/02/18/02/a.jsonl"
    local_lake.write_bytes(
        key_a, tape(("090000", "TICK", 1, 100, 10, "5", "00"), ("090000", "GONE", 2, 50, 1, "1", "00"))
    )
    upst = "footprint/UPST/1m/2026/02/18/02.jsonl"
    local_lake.write_bytes(
        upst,
        upstream_file(
            [{"t0": T0, "ohlc": {"o": 5, "h": 5, "l": 5, "c": 5}, "vol": 1, "delta": 0, "levels": []}]
        ),
    )
    footprint.build_footprint(local_lake, D)
    assert local_lake.exists("footprint/GONE/1m/2026/02/18/02.jsonl")
    local_lake.write_bytes(key_a, tape(("090000", "TICK", 1, 100, 7, "5", "00")))
    res = footprint.build_footprint(local_lake, D)
    assert (res.tape_objects_read, res.hour_files_written, res.hour_files_deleted) == (1, 1, 1)
    assert not local_lake.exists("footprint/GONE/1m/2026/02/18/02.jsonl")
    assert candles_of(local_lake, "TICK")[0]["vol"] == 7
    local_lake.delete(key_a)  # the object disappears: its hours are rebuilt from what is left
    res = footprint.build_footprint(local_lake, D)
    assert res.hour_files_deleted == 1 and not local_lake.exists("footprint/TICK/1m/2026/02/18/02.jsonl")
    assert local_lake.exists(upst)


def _neither_side(body: bytes, every: int) -> bytes:
    """Blank both order numbers on every n-th line, so the tick rule has work to do."""
    out = []
    for i, line in enumerate(body.splitlines(keepends=True)):
        if i % every == 0:
            row = json.loads(line)
            f = row["raw"].split("|")
            f[13] = f[14] = "00"
            row["raw"] = "|".join(f)
            line = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        out.append(line)
    return b"".join(out)


def test_incremental_over_a_simulated_day_equals_one_full_build(tmp_path: Path) -> None:
    # The simulator's tape (replays, NG prints, auction prints), with every 5th line's order
    # numbers blanked (-> tick rule, carried across hours), revealed object by object as the
    # 5-minute schedule sees it; objects of a later hour folder also carry late trades.
    from orderflow_pipeline import simulator as simulate

    stage = Lake(str(tmp_path / "stage"))
    simulate.simulate_range(stage, D, D, n_tickers=25, trade_scale=0.05)
    objs = {k: _neither_side(stage.read_bytes(k), 5) for k in inventory.tape_objects(stage, D)}
    assert len(objs) >= 10
    full = Lake(str(tmp_path / "full"))
    for k, v in objs.items():
        full.write_bytes(k, v)
    ref = footprint.build_footprint(full, D)
    assert ref.trades > 1000 and ref.duplicates > 0 and ref.non_regular > 0

    inc = Lake(str(tmp_path / "inc"))
    order = sorted(objs)
    reads = []
    for i in range(0, len(order), 4):
        for k in order[i : i + 4]:
            inc.write_bytes(k, objs[k])
        reads.append(footprint.build_footprint(inc, D).tape_objects_read)
    files = footprint_files(full, D)
    assert files == footprint_files(inc, D)
    assert all(full.read_bytes(k) == inc.read_bytes(k) for k in files)
    assert max(reads) < len(order)  # later runs did not re-read the whole day


KILL_SCRIPT = """
import os, signal, sys
from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.storage.lake import Lake

class Dying(Lake):
    left = int(sys.argv[2])
    def _write_local(self, final, chunks, durable):  # under write_bytes and write_many
        if final.startswith(self.root + "/footprint/"):
            if Dying.left <= 0:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a hard kill
            Dying.left -= 1
        return super()._write_local(final, chunks, durable)

footprint.build_footprint(Dying(sys.argv[1]), sys.argv[3])
"""


def test_sigkilled_process_leaves_old_or_new_files(tmp_path: Path, real: Path) -> None:
    import subprocess
    import sys

    root = str(tmp_path / "lake")
    lake = Lake(root)
    body = (real / TAPE_KEY).read_bytes()
    lake.write_bytes(TAPE_KEY, b"".join(ln for ln in body.splitlines(keepends=True) if b"|090008|" not in ln))
    footprint.build_footprint(lake, D)
    old = {k: lake.read_bytes(k) for k in footprint_files(lake, D)}
    lake.write_bytes(TAPE_KEY, body)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, root, "7", D],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    ref = Lake(str(tmp_path / "ref"))
    ref.write_bytes(TAPE_KEY, body)
    footprint.build_footprint(ref, D)
    new = {k: ref.read_bytes(k) for k in footprint_files(ref, D)}
    seen = Counter()
    for k in footprint_files(lake, D):
        b = lake.read_bytes(k)
        assert b in (old.get(k), new[k]), k
        [json.loads(x) for x in b.splitlines()]
        seen["new" if b == new[k] else "old"] += 1
    assert seen["new"] >= 7 and seen["old"] >= 1
    footprint.build_footprint(lake, D)
    assert {k: lake.read_bytes(k) for k in footprint_files(lake, D)} == new


# -- SPEC §5/§12 session edges -------------------------------------------------------------------
def _minutes(lake: Lake, d: str, ticker: str) -> dict[str, tuple[int, int, int, list[dict]]]:
    """Candles of one ticker-date keyed by WIB "HH:MM": (close, vol, delta, levels)."""
    out = {}
    for key in footprint_files(lake, keys.as_date(d)):
        if f"/{ticker}/" in key:
            for c in lake.read_ndjson(key):
                wib = datetime.fromtimestamp(c["t0"] / 1000, tz=keys.WIB)
                out[f"{wib:%H:%M}"] = (c["ohlc"]["c"], c["vol"], c["delta"], c["levels"])
    return out


def test_session_edges_monday_to_thursday(local_lake: Lake) -> None:
    # Wednesday: continuous 09:00:00 <= t < 12:00:00 and 13:30:00 <= t < 15:50:00 WIB. Every trade
    # sets an order number, so by §5 it is a buy ([14]) or sell ([13]) — but only inside a window;
    # outside it counts in vol/OHLC with delta 0 and no level (levels list only bv + av > 0).
    # Worked per minute (one trade each, price = its own close):
    #   08:59:59 pre-opening  [14] 7 @100 -> vol 7,  delta 0
    #   09:00:00 open         [14] 3 @101 -> vol 3,  delta +3, level 101 bv 3
    #   11:59:59 last second  [13] 4 @102 -> vol 4,  delta -4, level 102 av 4
    #   12:00:00 break starts [14] 5 @103 -> vol 5,  delta 0      (12:00:00 is outside)
    #   13:29:59 still break  [13] 6 @104 -> vol 6,  delta 0
    #   13:30:00 session II   [13] 8 @105 -> vol 8,  delta -8, level 105 av 8 (13:30:00 is inside)
    #   15:49:59 last second  [14] 9 @106 -> vol 9,  delta +9, level 106 bv 9
    #   15:50:00 pre-closing  [14] 2 @107 + 15:50:30 [13] 1 @108 -> vol 3, delta 0, close 108
    #   16:01:00 post-trading [14] 11 @109, 16:15:00 post-trading [13] 12 @110 -> neutral
    #   totals: vol 7+3+4+5+6+8+9+3+11+12 = 68; classified 3+4+8+9 = 24; neutral 68-24 = 44
    rows = [
        ("085959", 1, 100, 7, "00", "1"),
        ("090000", 2, 101, 3, "00", "2"),
        ("115959", 3, 102, 4, "3", "00"),
        ("120000", 4, 103, 5, "00", "4"),
        ("132959", 5, 104, 6, "5", "00"),
        ("133000", 6, 105, 8, "6", "00"),
        ("154959", 7, 106, 9, "00", "7"),
        ("155000", 8, 107, 2, "00", "8"),
        ("155030", 9, 108, 1, "9", "00"),
        ("160100", 10, 109, 11, "00", "10"),
        ("161500", 11, 110, 12, "11", "00"),
    ]
    local_lake.write_bytes(
        "raw_lt/2026/02/18/02/edges.jsonl",
        tape(*[(tt, "EDGE", n, p, v, o13, o14) for tt, n, p, v, o13, o14 in rows]),
    )
    res = footprint.build_footprint(local_lake, D)
    assert (res.trades, res.total_lots, res.neutral_lots) == (11, 68, 44)
    assert _minutes(local_lake, D, "EDGE") == {
        "08:59": (100, 7, 0, []),
        "09:00": (101, 3, 3, [{"p": 101, "bv": 3, "av": 0}]),
        "11:59": (102, 4, -4, [{"p": 102, "bv": 0, "av": 4}]),
        "12:00": (103, 5, 0, []),
        "13:29": (104, 6, 0, []),
        "13:30": (105, 8, -8, [{"p": 105, "bv": 0, "av": 8}]),
        "15:49": (106, 9, 9, [{"p": 106, "bv": 9, "av": 0}]),
        "15:50": (108, 3, 0, []),
        "16:01": (109, 11, 0, []),
        "16:15": (110, 12, 0, []),
    }


def test_session_edges_friday(local_lake: Lake) -> None:
    # Friday 2026-02-20: continuous 09:00:00 <= t < 11:30:00 and 14:00:00 <= t < 15:50:00 WIB.
    #   11:29:59 [14] 4 @200 -> buy:  vol 4, delta +4
    #   11:30:00 [14] 5 @201 -> break: vol 5, delta 0   (11:30:00 is outside on a Friday)
    #   13:30:00 [13] 6 @202 -> still Friday's break (Mon-Thu it would be a sell): delta 0
    #   13:59:59 [13] 7 @203 -> break: delta 0
    #   14:00:00 [13] 8 @204 -> sell: vol 8, delta -8
    #   15:50:00 [14] 9 @205 -> pre-closing: delta 0
    #   16:05:00 neither set, uptick 206 > 205 -> post-trading: no tick rule either, delta 0
    fri = "2026-02-20"
    rows = [
        ("112959", 1, 200, 4, "00", "1"),
        ("113000", 2, 201, 5, "00", "2"),
        ("133000", 3, 202, 6, "3", "00"),
        ("135959", 4, 203, 7, "4", "00"),
        ("140000", 5, 204, 8, "5", "00"),
        ("155000", 6, 205, 9, "00", "6"),
        ("160500", 7, 206, 10, "00", "00"),
    ]
    local_lake.write_bytes(
        "raw_lt/2026/02/20/04/fri.jsonl",
        tape(*[(tt, "FRI", n, p, v, o13, o14) for tt, n, p, v, o13, o14 in rows]),
    )
    res = footprint.build_footprint(local_lake, fri)
    assert (res.trades, res.total_lots, res.neutral_lots) == (7, 49, 37)  # 49 - (4 + 8) = 37
    assert _minutes(local_lake, fri, "FRI") == {
        "11:29": (200, 4, 4, [{"p": 200, "bv": 4, "av": 0}]),
        "11:30": (201, 5, 0, []),
        "13:30": (202, 6, 0, []),
        "13:59": (203, 7, 0, []),
        "14:00": (204, 8, -8, [{"p": 204, "bv": 0, "av": 8}]),
        "15:50": (205, 9, 0, []),
        "16:05": (206, 10, 0, []),
    }
