"""Issue 29, the five input faults: each costs only itself, never the run or the machine.

1. A symlink in the lake (looping, dangling, or a directory link back to an ancestor) is skipped
   with a quarantine entry; a good one is followed once; every other object and date builds.
2. A trade price outside the IDX auto-rejection band of its previous close (field [12]), widened
   by the margin of `bounds.plausible_price_range`, is quarantined as its own line.
3. A broker code listed twice on one side of a broker summary quarantines the file, named in a
   WARN with the code (the parser cannot tell a replayed row from a split one).
4. A kill -9 of the parent of `parallel.ordered_map` leaves no worker and no resource tracker.
5. One huge line (a 48 MiB one-line object) is quarantined by size with the reason, the rest of
   the date builds, and the peak memory stays near the object's own size.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from orderflow_pipeline import bounds, idx_calendar
from orderflow_pipeline.layers import smart_money
from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.footprint import tape, tape_lines
from orderflow_pipeline.layers.smart_money import broksum, listing
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import inventory, keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import count_quarantined

TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"  # the real sample: 386 trades, 94 tickers
D = "2026-02-18"  # a Wednesday; hour folder 02 UTC = 09:00 WIB
D2 = "2026-02-19"  # the next day, a second date of the same run
HOUR = "raw_lt/2026/02/18/02"
REPO = Path(__file__).resolve().parents[1]


def _quarantine(lake: Lake, d: str, source: str, layer: str = "footprint") -> list[dict[str, object]]:
    return lake.read_ndjson(keys.quarantine_key(d, layer, source))


# -- 1. symlinks ------------------------------------------------------------------------------


def test_symlinks_in_a_tape_folder_never_fail_the_run(local_lake: Lake, real: Path, tmp_path: Path) -> None:
    body = (real / TAPE_KEY).read_bytes()
    local_lake.write_bytes(TAPE_KEY, body)
    local_lake.write_bytes("raw_lt/2026/02/19/02/b.jsonl", body)  # the second date: a plain copy
    hour = Path(local_lake.path(HOUR))
    (hour / "loop.jsonl").symlink_to("loop.jsonl")  # points to itself: ELOOP on open
    (hour / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (hour / "up").symlink_to("..")  # a directory link back to an ancestor: would list forever
    outside = tmp_path / "elsewhere"  # a good link, to a file and to a folder outside the lake
    (outside / "03").mkdir(parents=True)
    (outside / "good.jsonl").write_bytes(body)
    (hour / "good.jsonl").symlink_to(outside / "good.jsonl")
    (outside / "03" / "c.jsonl").write_bytes(body)
    Path(local_lake.path("raw_lt/2026/02/18/03")).symlink_to(outside / "03")

    objs = inventory.tape_objects(local_lake, D)
    assert sorted(objs) == [
        f"{HOUR}/1771380009443_386.jsonl",
        f"{HOUR}/good.jsonl",
        "raw_lt/2026/02/18/03/c.jsonl",
    ]
    assert objs[f"{HOUR}/good.jsonl"].size == len(body)  # the target's size, not the link's

    res = footprint.build_footprint(local_lake, D)
    # Each good object repeats the same 386 trades (same ticker and trade number): they count once
    # (SPEC §5), so the date builds exactly like the plain sample: 386 trades, 94 hour files.
    assert (res.tape_objects, res.trades, res.hour_files_written) == (3, 386, 94)
    reasons = {
        k: _quarantine(local_lake, D, f"{HOUR}/{k}")[0]["reason"]
        for k in ("loop.jsonl", "dangling.jsonl", "up")
    }
    for name, reason in reasons.items():
        assert res.quarantine_by_reason and str(reason).startswith("unreadable symlink"), (name, reason)
    assert "loop" in str(reasons["loop.jsonl"]) and "no target" in str(reasons["dangling.jsonl"])
    assert "already listed" in str(reasons["up"])
    assert count_quarantined(local_lake, D) == {"footprint": 3}
    assert res.quarantined == 3

    again = footprint.build_footprint(local_lake, D)  # unchanged: nothing rebuilt, nothing new
    assert (again.hour_files_written, again.quarantined) == (0, 3)
    other = footprint.build_footprint(local_lake, D2)
    assert (other.trades, other.hour_files_written, other.quarantined) == (386, 94, 0)


def test_symlinks_in_broker_summaries_and_footprint_folders_are_skipped(
    local_lake: Lake, real: Path, tmp_path: Path
) -> None:
    for t in ("BBCA", "BBRI"):
        src = real / "raw-broksum" / t / "2026-01-19.json"
        local_lake.write_bytes(f"raw-broksum/{t}/2026-01-19.json", src.read_bytes())
    Path(local_lake.path("raw-broksum/BBRI/2026-01-20.json")).symlink_to("2026-01-20.json")
    Path(local_lake.path("raw-broksum/LOOP")).symlink_to("LOOP")
    fp = Path(local_lake.path("footprint/BBRI/1m/2026/02/18"))
    fp.mkdir(parents=True)
    (fp / "02.jsonl").symlink_to("02.jsonl")

    days = [keys.as_date("2026-01-19"), keys.as_date("2026-01-20")]
    found = listing.list_broksum(local_lake, days)
    assert sorted(found.objects) == [("BBCA", days[0]), ("BBRI", days[0])]
    assert "symlink loop" in found.invalid["raw-broksum/BBRI/2026-01-20.json"][1]
    assert inventory.footprint_objects(local_lake, D) == {}
    res = smart_money.build_daily_features(local_lake, duckdb.connect(), days)
    assert res.objects_parsed == 2
    assert "symlink loop" in res.quarantined_files["raw-broksum/BBRI/2026-01-20.json"]


# -- 2. the price band ------------------------------------------------------------------------


def _line(tno: int, tt: str, price: int, lots: int, prev: int, ticker: str = "WILD", o13: str = "00") -> str:
    raw = f"B|{tt}|0|{ticker}|RG|{tno}|{price}|{lots}|--|-|--|-|{prev}|{o13}|{'00' if o13 != '00' else tno}|0|0|{prev}|0|1"
    return json.dumps({"v": 2, "fmt": "pipe", "raw": raw, "ts": 0}) + "\n"


def test_plausible_price_range_worked_by_hand() -> None:
    # prev 1000 is in the Rp200-5,000 tier: ARA +25 %, so the margin (2x the band, either way,
    # plus one IDR) allows up to 1000 x 1.5 + 1 = 1501 and down to 1000 / 1.5 - 1 = 665.67,
    # i.e. 666. prev 150 (< Rp200, +35 %): 150 x 1.7 + 1 = 256, 150 / 1.7 - 1 = 87.2 -> 88.
    # prev 8000 (> Rp5,000, +20 %): 8000 x 1.4 + 1 = 11201, 8000 / 1.4 - 1 = 5713.3 -> 5714.
    assert bounds.plausible_price_range(1000) == (666, 1501)
    assert bounds.plausible_price_range(150) == (88, 256)
    assert bounds.plausible_price_range(8000) == (5714, 11201)
    assert bounds.plausible_price_range(1) == (1, 2)  # a 1-IDR stock may tick to 2 (one IDR)
    # the board's own limits (SPEC §17), no margin: ARA +25 % / ARB -15 % of 1000
    assert bounds.auto_rejection_band(1000) == (850, 1250)
    assert bounds.auto_rejection_band(199) == (170, 268)  # 199 x 1.35 = 268.65; 199 x 0.85 = 169.15
    assert bounds.auto_rejection_band(5001) == (4251, 6001)  # +20 % above Rp5,000


def test_the_band_in_sql_is_the_band_in_python() -> None:
    prevs = [1, 2, 3, 7, 50, 87, 199, 200, 201, 999, 4999, 5000, 5001, 5002, 9999, 123_456, bounds.PRICE_MAX]
    con = duckdb.connect()
    lo, hi = bounds.plausible_price_range_sql("prev")
    got = con.execute(
        f"SELECT prev, {lo}, {hi} FROM (SELECT unnest(?::BIGINT[]) AS prev) ORDER BY prev", [prevs]
    ).fetchall()
    assert [(p, a, b) for p, a, b in got] == [(p, *bounds.plausible_price_range(p)) for p in sorted(prevs)]


def test_a_trade_outside_the_band_is_quarantined_alone(local_lake: Lake) -> None:
    # Four good WILD trades at prev close 1000 and one at 999,999,999 among them; worked by hand:
    # o 1000 (#1), h 1501 (#4, the band's edge: kept), l 666 (#5, the other edge), c 666 (#5),
    # vol 4 x 10 = 40. #3 is 999,999,999: outside [666, 1501], its own quarantined line.
    # Two ZERO trades with no previous close (field [12] = 0) are not judged by the band.
    key = f"{HOUR}/wild.jsonl"
    body = "".join(
        [
            _line(1, "090001", 1000, 10, 1000),
            _line(2, "090002", 1005, 10, 1000),
            _line(3, "090003", 999_999_999, 7, 1000),
            _line(4, "090004", 1501, 10, 1000),
            _line(5, "090005", 666, 10, 1000),
            _line(6, "090006", 1502, 3, 1000, ticker="WILE"),  # one IDR above the edge
            _line(7, "090007", 665, 3, 1000, ticker="WILE"),  # one IDR below the other edge
            _line(8, "090008", 50, 5, 0, ticker="ZERO"),
            _line(9, "090009", 999_999_999, 5, 0, ticker="ZERO"),
        ]
    )
    local_lake.write_bytes(key, body.encode())
    res = footprint.build_footprint(local_lake, D)
    assert res.quarantined == 3 and res.trades == 6
    q = _quarantine(local_lake, D, key)
    assert [r["line_no"] for r in q] == [3, 6, 7]
    assert all(str(r["reason"]).startswith("price outside the auto-rejection band") for r in q)
    assert "999999999" in str(q[0]["reason"]) and "previous close 1000" in str(q[0]["reason"])
    (c,) = local_lake.read_ndjson(f"footprint/WILD/1m/{HOUR[7:]}.jsonl")
    assert c["ohlc"] == {"o": 1000, "h": 1501, "l": 666, "c": 666} and c["vol"] == 40
    assert not local_lake.exists(f"footprint/WILE/1m/{HOUR[7:]}.jsonl")
    (z,) = local_lake.read_ndjson(f"footprint/ZERO/1m/{HOUR[7:]}.jsonl")
    assert z["ohlc"]["h"] == 999_999_999  # no previous close: only PRICE_MAX bounds it


def test_the_simulator_and_the_real_sample_stay_inside_the_band(real: Path, tmp_path: Path) -> None:
    lines = (real / TAPE_KEY).read_text().splitlines()
    for ln in lines:
        f = json.loads(ln)["raw"].split("|")
        lo, hi = bounds.plausible_price_range(int(f[12]))
        assert lo <= int(f[6]) <= hi, f
    lake = Lake(str(tmp_path / "sim"))
    start, end = keys.as_date("2026-11-02"), keys.as_date("2026-11-13")
    simulate_range(lake, start, end, n_tickers=40, seed=7)
    for d in idx_calendar.trading_days(start, end):
        res = footprint.build_footprint(lake, d)
        assert res.trades > 0 and res.quarantined == 0, (d, res.quarantine_by_reason)


# -- 3. duplicate broker codes ---------------------------------------------------------------

BBCA = "raw-broksum/BBCA/2026-01-19.json"


def _mutated(real: Path, mutate: str) -> bytes:
    doc = json.loads((real / BBCA).read_bytes())
    rows = doc["data"]["broker_summary"]["brokers_buy"]
    last = rows[-1]  # RB, 800,000 IDR of a 1.49e12-IDR day: summed twice it stays plausible
    if mutate == "replay":
        rows.append(dict(last))
    else:  # split: RB's row as two rows with the same code, adding up to the original
        half = int(last["bval"]) // 2
        rows[-1] = {**last, "bval": str(half)}
        rows.append({**last, "bval": str(int(last["bval"]) - half)})
    return json.dumps(doc).encode()


@pytest.mark.parametrize("mutate", ["replay", "split"])
def test_a_duplicate_broker_code_quarantines_the_file_with_a_warning(
    local_lake: Lake, real: Path, mutate: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = _mutated(real, mutate)
    with pytest.raises(BroksumError, match=r"^duplicate_broker: brokers_buy lists code RB twice"):
        broksum.parse_broksum(data, "BBCA", "2026-01-19")
    local_lake.write_bytes(BBCA, data)
    local_lake.write_bytes(
        "raw-broksum/BBRI/2026-01-19.json", (real / "raw-broksum/BBRI/2026-01-19.json").read_bytes()
    )
    d = keys.as_date("2026-01-19")
    with caplog.at_level(logging.WARNING):
        res = smart_money.build_daily_features(local_lake, duckdb.connect(), [d])
    assert res.objects_parsed == 2 and res.quarantined == 1
    assert res.quarantined_files[BBCA].startswith("duplicate_broker")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(BBCA in m and "code RB" in m for m in warned), warned
    (q,) = _quarantine(local_lake, "2026-01-19", BBCA, layer="daily_features")
    assert str(q["reason"]).startswith("duplicate_broker: brokers_buy lists code RB twice")


# -- 4. workers die with their parent ----------------------------------------------------------

_PARENT = """
import sys, time
from orderflow_pipeline.parallel import ordered_map

def nap(x: int) -> int:
    time.sleep(120)
    return x

if __name__ == "__main__":
    for _ in ordered_map(nap, range(6), workers=2):
        pass
"""


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_parent_leaves_no_worker_and_no_resource_tracker(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(_PARENT))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO)
    kids: list[psutil.Process] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120  # spawn imports the package in each worker: slow on 2 busy cores
        while time.monotonic() < deadline:
            kids = parent.children(recursive=True)
            cmds = [" ".join(k.cmdline()) for k in kids if _alive(k)]
            workers = [c for c in cmds if "spawn_main" in c]
            if len(workers) == 2 and any("resource_tracker" in c for c in cmds):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the workers never started: {[k.cmdline() for k in kids]}")
        time.sleep(1.0)  # let the workers reach their initializer and the task
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # liveness, not speed: the generous wait only bounds a hung test
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        left = [(k.pid, k.cmdline()) for k in kids if _alive(k)]
        assert not left, f"survived their parent: {left}"
    finally:
        for k in kids:  # only the processes this test started
            if _alive(k):
                k.kill()
        if proc.poll() is None:
            proc.kill()


# -- 5. one huge object -----------------------------------------------------------------------

_BUILD = """
import json, resource, sys
from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.storage.lake import Lake
res = build_footprint(Lake(sys.argv[1]), sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
print(json.dumps({"trades": res.trades, "quarantined": res.quarantine_by_reason, "peak": peak}))
"""

HUGE = 48 * 2**20  # 48 MiB: far above the line limit, small enough for the suite


def _build_in_child(root: Path, d: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _BUILD, str(root), d], cwd=REPO, capture_output=True, text=True, check=True
    )
    got: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return got


def test_one_huge_line_is_quarantined_by_size_in_bounded_memory(real: Path, tmp_path: Path) -> None:
    assert HUGE > 4 * getattr(tape, "MAX_LINE_BYTES", 0)
    body = (real / TAPE_KEY).read_bytes()
    base, huge = tmp_path / "base", tmp_path / "huge"
    for root in (base, huge):
        Lake(str(root)).write_bytes(TAPE_KEY, body)
    # one JSON line, no final newline: {"v":2,"raw":"B|...|", then 48 MiB of digits
    head = b'{"v":2,"fmt":"pipe","raw":"B|090001|0|BBRI|RG|1|'
    big = head + b"9" * (HUGE - len(head) - 2) + b'"}'
    Lake(str(huge)).write_bytes(f"{HOUR}/huge.jsonl", big)

    ref = _build_in_child(base, D)
    got = _build_in_child(huge, D)
    assert got["trades"] == ref["trades"] == 386  # the date's other object builds
    assert got["quarantined"] == {"line too long": 1}
    q = _quarantine(Lake(str(huge)), D, f"{HOUR}/huge.jsonl")
    assert q[0]["line_no"] == 1 and str(q[0]["reason"]).startswith(f"line too long: {HUGE} bytes")
    assert str(q[0]["line"]).startswith(head.decode()) and len(str(q[0]["line"])) <= 2000
    # The object is mapped (its pages count once in RSS); anything near the 11x of issue 29
    # (a 200 MB line peaked at 2.3 GB) fails. Bound: the object twice over the small build.
    extra = int(got["peak"]) - int(ref["peak"])  # type: ignore[call-overload]
    assert extra < 2 * HUGE, f"peak {got['peak']} vs {ref['peak']} for a {HUGE}-byte object"


def test_over_long_lines_between_good_ones_keep_every_line_number() -> None:
    big = b"x" * (tape.MAX_LINE_BYTES + 1)
    long_lines: list[tape.LongLine] = []
    t = tape.lines_table([b"a\n" + big + b"\nb\n" + big, b"c\n" + big + b"\n"], long_lines)
    assert t.column("obj").to_pylist() == [0, 0, 0, 0, 1, 1]
    assert t.column("line_no").to_pylist() == [1, 2, 3, 4, 1, 2]
    lines = [s if s is None else s.rstrip("\n") for s in t.column("line").to_pylist()]
    assert lines == ["a", None, "b", None, "c", None]
    assert [(ll.obj, ll.line_no, ll.nbytes) for ll in long_lines] == [
        (0, 2, len(big)),
        (0, 4, len(big)),
        (1, 2, len(big)),
    ]
    assert all(ll.head == big[: tape_lines.QUARANTINE_HEAD] for ll in long_lines)
