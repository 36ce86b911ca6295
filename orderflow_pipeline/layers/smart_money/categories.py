"""Broker categories: who counts as smart money (SPEC §8).

The table is `data/broker_categories.csv` (`code,category`, category one of FOREIGN,
INSTITUTION, RETAIL; lines starting with `#` are comments). It ships empty, so by default a
broker takes its summary `type` (`Asing` -> FOREIGN, anything else -> RETAIL) and smart money is
the foreign brokers. The table's digest is stored with every parsed broker day, so editing the
table makes the next run re-parse the affected objects instead of mixing two definitions of
smart money in one 20-session window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

CATEGORIES = ("FOREIGN", "INSTITUTION", "RETAIL")
SMART = frozenset({"FOREIGN", "INSTITUTION"})


@lru_cache(maxsize=1)
def default_categories() -> Mapping[str, str]:
    """The shipped table (read once per process: it only changes with a deploy)."""
    text = resources.files("orderflow_pipeline").joinpath("data/broker_categories.csv").read_text()
    return parse_categories(text)


def parse_categories(text: str) -> dict[str, str]:
    """`code,category` rows (header required, `#` comments allowed) -> {code: category}."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or [c.strip().lower() for c in lines[0].split(",")][:2] != ["code", "category"]:
        raise ValueError("broker category table must start with the header 'code,category'")
    out: dict[str, str] = {}
    for n, ln in enumerate(lines[1:], start=2):
        parts = [c.strip() for c in ln.split(",")]
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"broker category table line {n}: expected 'code,category', got {ln!r}")
        code, cat = parts[0].upper(), parts[1].upper()
        if cat not in CATEGORIES:
            raise ValueError(f"broker category table line {n}: category {cat!r} not in {CATEGORIES}")
        out[code] = cat
    return out


def categories_digest(categories: Mapping[str, str]) -> str:
    """Short stable digest of a category table (order-independent)."""
    body = "\n".join(f"{k},{v}" for k, v in sorted(categories.items()))
    return hashlib.sha1(body.encode()).hexdigest()[:12]


def broker_category(code: str, type_: object, categories: Mapping[str, str]) -> str:
    """Table first; otherwise the summary's own type (`Asing` foreign, everything else retail)."""
    cat = categories.get(code.upper())
    if cat:
        return cat
    return "FOREIGN" if isinstance(type_, str) and type_.strip().lower() == "asing" else "RETAIL"
