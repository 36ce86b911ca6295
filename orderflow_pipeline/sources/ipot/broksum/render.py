"""An `en_qu_top_bs` answer -> the `raw-broksum/{T}/{D}.json` file of SPEC §8, byte for byte the
shape of `fixtures/real/raw-broksum/` (same keys, same order, numbers as strings).

Answer rows (`event: "record"`, pipe-delimited):
`code | buy value | buy volume | buy freq | sell value | sell volume | sell freq | net value |
net volume | total value | total lot | …`, volumes in shares. A row whose code is the ticker
itself is the day's summary (`_meta.summary.raw`): value, shares and frequency of the day. How the
file is derived from the rows (each rule checked against the 11 real files):
- brokers_buy: every broker with buy shares > 0, value descending, code ascending on ties;
  `blot` = shares // 100, `blotv` = blot × 100, `bvalv` = `bval`, `netbs_buy_avg_price` =
  floor(value / shares) (shares including odd lots, so a few averages sit one rupiah below
  floor(bval / blotv), as in the real files); brokers_sell the same with the sell columns.
- `type` from the shipped broker table `data/idx_brokers.csv` (a code not in it: `Lokal`, reported).
- bandar_detector: `average` = floor(value / shares) of the summary row, `value`, `volume`,
  `frequency` from it; net per broker = buy − sell (value and shares); `top{1,3,5}` = Σ of the
  N largest net buyers (`bid_*`) and net sellers (`offer_*`, magnitudes); `total_buyer` /
  `total_seller` = brokers with net value > 0 / < 0; `accdist` from the top-5 sums b5, s5:
  b5 > 1.2·s5 "Big Akum", > 1.05·s5 "Akumulasi", s5 > 1.2·b5 "Big Dist", > 1.05·b5
  "Distribusi", else "Neutral".
- `_meta`: source "ipot", the summary row, and `integrity_check` (Σ bval vs the summary value;
  `match_likely` when their difference is below 1e8 IDR).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from orderflow_pipeline.sources.ipot.broksum.brokers import UNKNOWN_TYPE, Broker, default_brokers
from orderflow_pipeline.storage.keys import as_date
from orderflow_pipeline.storage.lake import dumps

MESSAGE = "Successfully retrieved market detector data (IPOT Proxy)"
MATCH_TOLERANCE_IDR = 100_000_000


class AnswerError(ValueError):
    """An answer that cannot become a file (empty, malformed, no summary row)."""


@dataclass(frozen=True)
class Row:
    code: str
    bval: int
    bvol: int  # shares
    bfreq: int
    sval: int
    svol: int
    sfreq: int


def _int(s: str) -> int:
    t = s.replace(",", "").strip()
    if not t.isdigit():
        raise AnswerError(f"not a non-negative integer: {s!r}")
    return int(t)


def split_line(line: str) -> list[str]:
    parts = [p.strip() for p in line.split("|")]
    while parts and not parts[0]:
        parts.pop(0)
    return parts


def parse_row(line: str) -> Row:
    parts = split_line(line)
    if len(parts) < 7 or not parts[0]:
        raise AnswerError(f"row with {len(parts)} fields: {line[:120]!r}")
    return Row(parts[0].upper(), *(_int(p) for p in parts[1:7]))


@dataclass
class Answer:
    """The merged rows of one ticker and date (both sides)."""

    ticker: str
    summary: str | None = None  # the raw summary row with the largest value
    rows: dict[str, Row] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)  # rows that could not be read

    def add(self, lines: Iterable[str]) -> None:
        for line in lines:
            try:
                row = parse_row(line)
            except AnswerError as exc:
                self.bad.append(str(exc))
                continue
            if row.code == self.ticker:
                if self.summary is None or row.bval > parse_row(self.summary).bval:
                    self.summary = line
                continue
            old = self.rows.get(row.code)
            # One broker is one row in either side's answer; two different copies (a row updated
            # between the two queries) keep the larger of each figure, never their sum.
            self.rows[row.code] = (
                row
                if old is None
                else Row(row.code, *(max(a, b) for a, b in zip(_figures(old), _figures(row), strict=True)))
            )


def _figures(r: Row) -> tuple[int, ...]:
    return (r.bval, r.bvol, r.bfreq, r.sval, r.svol, r.sfreq)


def _side(
    answer: Answer, d: date, brokers: Mapping[str, Broker], buy: bool, unknown: set[str]
) -> list[dict[str, str]]:
    lot, amount, avg = (
        ("blot", "bval", "netbs_buy_avg_price") if buy else ("slot", "sval", "netbs_sell_avg_price")
    )
    rows = []
    for r in answer.rows.values():
        value, shares = (r.bval, r.bvol) if buy else (r.sval, r.svol)
        if shares <= 0:
            continue
        b = brokers.get(r.code)
        if b is None:
            unknown.add(r.code)
        lots = shares // 100
        rows.append(
            (
                -value,
                r.code,
                {
                    "netbs_broker_code": r.code,
                    "netbs_date": d.strftime("%Y%m%d"),
                    "netbs_stock_code": answer.ticker,
                    "type": b.type if b else UNKNOWN_TYPE,
                    lot: str(lots),
                    f"{lot}v": str(lots * 100),
                    amount: str(value),
                    f"{amount}v": str(value),
                    avg: str(value // shares),
                },
            )
        )
    return [x[2] for x in sorted(rows, key=lambda x: (x[0], x[1]))]


def _top(net: list[tuple[int, int]], n: int) -> tuple[int, int]:
    part = net[:n]
    return sum(abs(v) for v, _ in part), sum(abs(s) for _, s in part)


def _accdist(b5: int, s5: int) -> str:
    if b5 > s5 * 1.2:
        return "Big Akum"
    if b5 > s5 * 1.05:
        return "Akumulasi"
    if s5 > b5 * 1.2:
        return "Big Dist"
    if s5 > b5 * 1.05:
        return "Distribusi"
    return "Neutral"


def render(
    answer: Answer, d: date | str, brokers: Mapping[str, Broker] | None = None
) -> tuple[bytes, set[str]]:
    """The raw-broksum file of one merged answer, and the broker codes missing from the table.

    Raises AnswerError when the answer has no summary row and no broker row (an empty answer)."""
    dd = as_date(d)
    table = default_brokers() if brokers is None else brokers
    if answer.summary is None and not answer.rows:
        raise AnswerError("empty answer: no summary row and no broker row")
    unknown: set[str] = set()
    buy = _side(answer, dd, table, True, unknown)
    sell = _side(answer, dd, table, False, unknown)
    if answer.summary is not None:
        s = parse_row(answer.summary)
        tv, tvol, freq, raw = s.bval, s.bvol, s.bfreq, answer.summary
    else:  # no summary row: the day from the broker rows (each trade has one buying broker)
        rows = answer.rows.values()
        tv, tvol, freq, raw = (
            sum(r.bval for r in rows),
            sum(r.bvol for r in rows),
            sum(r.bfreq for r in rows),
            "",
        )
    avg = str(tv // tvol) if tvol > 0 else "0"
    net: dict[str, list[int]] = {}
    for r in answer.rows.values():
        x = net.setdefault(r.code, [0, 0])
        if r.bvol > 0:
            x[0] += r.bval
            x[1] += (r.bvol // 100) * 100
        if r.svol > 0:
            x[0] -= r.sval
            x[1] -= (r.svol // 100) * 100
    buyers = sorted(((v, s) for v, s in net.values() if v > 0), key=lambda t: -t[0])
    sellers = sorted(((v, s) for v, s in net.values() if v < 0), key=lambda t: t[0])
    tops = {}
    for n in (1, 3, 5):
        bv, bs = _top(buyers, n)
        sv, ss = _top(sellers, n)
        tops[f"top{n}"] = {"bid_val": str(bv), "bid_vol": str(bs), "offer_val": str(sv), "offer_vol": str(ss)}
    b5, s5 = _top(buyers, 5)[0], _top(sellers, 5)[0]
    buy_total = sum(int(r["bval"]) for r in buy)
    doc = {
        "message": MESSAGE,
        "data": {
            "from": dd.isoformat(),
            "to": dd.isoformat(),
            "bandar_detector": {
                "average": avg,
                "value": str(tv),
                "volume": str(tvol),
                "frequency": str(freq),
                "accdist": _accdist(b5, s5),
                **tops,
                "total_buyer": len(buyers),
                "total_seller": len(sellers),
            },
            "broker_summary": {"symbol": answer.ticker, "brokers_buy": buy, "brokers_sell": sell},
        },
        "_meta": {
            "source": "ipot",
            "summary": {
                "__summary": True,
                "stock_code": answer.ticker,
                "total_value": str(tv),
                "total_volume_shares": str(tvol),
                "total_freq": str(freq),
                "average_price": avg,
                "raw": raw,
            },
            "integrity_check": {
                "calculated_buy_val": str(buy_total),
                "summary_val": str(tv),
                "delta_val": str(tv - buy_total),
                "match_likely": tv - buy_total < MATCH_TOLERANCE_IDR,
            },
        },
    }
    return dumps(doc), unknown
