"""The shipped broker table `data/idx_brokers.csv`: each broker code's name and its `type`
("Asing" / "Lokal") as written into raw-broksum files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# The type of a broker code missing from the table (the fetch reports such codes).
UNKNOWN_TYPE = "Lokal"


@dataclass(frozen=True)
class Broker:
    code: str
    name: str
    type: str  # "Asing" / "Lokal", as written into raw-broksum files
    category: str  # FOREIGN / INSTITUTION / RETAIL (informational, see the table's header)


def parse_brokers(text: str) -> dict[str, Broker]:
    """`code,name,type,category` rows (header required, `#` comments allowed) -> {code: Broker}."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or [c.strip().lower() for c in lines[0].split(",")] != ["code", "name", "type", "category"]:
        raise ValueError("broker table must start with the header 'code,name,type,category'")
    out: dict[str, Broker] = {}
    for n, ln in enumerate(lines[1:], start=2):
        parts = [c.strip() for c in ln.split(",")]
        if len(parts) != 4 or not parts[0] or parts[2] not in ("Asing", "Lokal"):
            raise ValueError(f"broker table line {n}: expected 'code,name,Asing|Lokal,category', got {ln!r}")
        if parts[3] not in ("FOREIGN", "INSTITUTION", "RETAIL"):
            raise ValueError(f"broker table line {n}: bad category {parts[3]!r}")
        out[parts[0].upper()] = Broker(parts[0].upper(), parts[1], parts[2], parts[3])
    return out


@lru_cache(maxsize=1)
def default_brokers() -> Mapping[str, Broker]:
    text = resources.files("orderflow_pipeline").joinpath("data/idx_brokers.csv").read_text()
    return parse_brokers(text)
