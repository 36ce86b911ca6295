"""The broker codes and types seen in the real IPOT fixtures (8 foreign, 78 local).

Shared by the trades (every print gets a buying and a selling broker) and the broker-summary
documents (the `type` field, Asing/Lokal, that the smart-money layer reads as foreign flow).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FOREIGN_BROKERS = ("AK", "BK", "CC", "DX", "KZ", "RX", "YU", "ZP")
LOCAL_BROKERS = tuple(
    "AD AF AG AH AI AN AO AR AT AZ BB BQ BR BS CD CP DD DH DP DR DU EL EP ES FO FS FZ GA GI GR HD HP "
    "ID IF IH II IN IT IU JB KI KK LG LS MG MI MU NI OD OK PC PD PF PG PO PP QA RB RF RG RO RS SA SF "
    "SH SQ SS TF TP TS XA XC XL YB YJ YO YP ZR".split()
)
BROKERS = FOREIGN_BROKERS + LOCAL_BROKERS  # a broker's index is its position here
BROKER_TYPE = tuple("Asing" if i < len(FOREIGN_BROKERS) else "Lokal" for i in range(len(BROKERS)))
_NF = len(FOREIGN_BROKERS)


def broker_weights(
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Zipf-like weights over a ticker-specific ordering of foreign and local brokers.

    Why Zipf: in the real summaries a few brokers carry most of a ticker's value, and which ones
    differs per ticker; the top-1/3/5 fields of the document depend on that concentration.
    """
    wf = 1.0 / np.arange(1, _NF + 1) ** 1.1
    wl = 1.0 / np.arange(1, len(LOCAL_BROKERS) + 1) ** 1.1
    return rng.permutation(wf) / wf.sum(), rng.permutation(wl) / wl.sum()
