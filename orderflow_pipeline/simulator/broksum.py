"""The IPOT broker-summary document (`raw-broksum/{ticker}/{date}.json`) of one ticker-day.

Built from the same trades as the tape (regular board, auctions included, other boards and
replays excluded): `value = Σ price·lots·100`, `volume = Σ lots·100` (shares),
`average = floor(value / volume)`, `frequency` = number of those trades, and every trade has one
buying and one selling broker, so Σ bval = Σ sval = value exactly. A ticker-day without trades
gets either a file whose `bandar_detector.value` is "0" or no file at all (both occur upstream).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from orderflow_pipeline.simulator.brokers import BROKER_TYPE, BROKERS
from orderflow_pipeline.simulator.trades import BOARD_RG, TickerDay


def _accdist(top5_bid: int, top5_offer: int) -> str:
    """IPOT's accumulation/distribution label from the top-5 net buyers' vs sellers' value."""
    tot = top5_bid + top5_offer
    r = (top5_bid - top5_offer) / tot if tot else 0.0
    if r > 0.09:
        return "Big Akum"
    if r > 0.01:
        return "Akumulasi"
    if r < -0.09:
        return "Big Dist"
    if r < -0.01:
        return "Distribusi"
    return "Neutral"


def broksum_document(ticker: str, d: date, td: TickerDay | None) -> dict[str, Any]:
    """The IPOT broker-summary document of one ticker-day, built from its regular-board trades."""
    day = d.isoformat()
    compact = d.strftime("%Y%m%d")
    nb = len(BROKERS)
    if td is not None:
        rg = td.board == BOARD_RG
        price, lots = td.price[rg], td.lots[rg]
        val = price * lots * 100
        bb, sb = td.buy_broker[rg], td.sell_broker[rg]
        bval = np.rint(np.bincount(bb, weights=val, minlength=nb)).astype(np.int64)
        blot = np.bincount(bb, weights=lots, minlength=nb).astype(np.int64)
        sval = np.rint(np.bincount(sb, weights=val, minlength=nb)).astype(np.int64)
        slot = np.bincount(sb, weights=lots, minlength=nb).astype(np.int64)
        value, volume, freq = int(val.sum()), int(lots.sum()) * 100, int(rg.sum())
    else:
        bval = blot = sval = slot = np.zeros(nb, dtype=np.int64)
        value = volume = freq = 0
    buys, sells = [], []
    for i in sorted(np.flatnonzero(blot > 0), key=lambda i: (-bval[i], BROKERS[i])):
        buys.append(
            {
                "netbs_broker_code": BROKERS[i],
                "netbs_date": compact,
                "netbs_stock_code": ticker,
                "type": BROKER_TYPE[i],
                "blot": str(blot[i]),
                "blotv": str(blot[i] * 100),
                "bval": str(bval[i]),
                "bvalv": str(bval[i]),
                "netbs_buy_avg_price": str(bval[i] // (blot[i] * 100)),
            }
        )
    for i in sorted(np.flatnonzero(slot > 0), key=lambda i: (-sval[i], BROKERS[i])):
        sells.append(
            {
                "netbs_broker_code": BROKERS[i],
                "netbs_date": compact,
                "netbs_stock_code": ticker,
                "type": BROKER_TYPE[i],
                "slot": str(slot[i]),
                "slotv": str(slot[i] * 100),
                "sval": str(sval[i]),
                "svalv": str(sval[i]),
                "netbs_sell_avg_price": str(sval[i] // (slot[i] * 100)),
            }
        )
    net_val = bval - sval
    net_vol = (blot - slot) * 100
    up = sorted(np.flatnonzero(net_val > 0), key=lambda i: (-net_val[i], BROKERS[i]))
    down = sorted(np.flatnonzero(net_val < 0), key=lambda i: (net_val[i], BROKERS[i]))

    def top(k: int) -> dict[str, str]:
        return {
            "bid_val": str(int(sum(net_val[i] for i in up[:k]))),
            "bid_vol": str(int(sum(net_vol[i] for i in up[:k]))),
            "offer_val": str(int(-sum(net_val[i] for i in down[:k]))),
            "offer_vol": str(int(-sum(net_vol[i] for i in down[:k]))),
        }

    tops = {f"top{k}": top(k) for k in (1, 3, 5)}
    average = value // volume if volume else 0
    return {
        "message": "Successfully retrieved market detector data (IPOT Proxy)",
        "data": {
            "from": day,
            "to": day,
            "bandar_detector": {
                "average": str(average),
                "value": str(value),
                "volume": str(volume),
                "frequency": str(freq),
                "accdist": _accdist(int(tops["top5"]["bid_val"]), int(tops["top5"]["offer_val"])),
                **tops,
                "total_buyer": len(up),
                "total_seller": len(down),
            },
            "broker_summary": {"symbol": ticker, "brokers_buy": buys, "brokers_sell": sells},
        },
        "_meta": {
            "source": "ipot",
            "summary": {
                "__summary": True,
                "stock_code": ticker,
                "total_value": str(value),
                "total_volume_shares": str(volume),
                "total_freq": str(freq),
                "average_price": str(average),
                "raw": f"{ticker}|{value}|{volume}|{freq}|{value}|{volume}|{freq}|0|0|{2 * value}|{2 * volume}|1",
            },
            "integrity_check": {
                "calculated_buy_val": str(int(bval.sum())),
                "summary_val": str(value),
                "delta_val": str(value - int(bval.sum())),
                "match_likely": True,
            },
        },
    }
