"""Quarantine: rejected input is kept with its reason, never silently dropped (SPEC §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from orderflow_pipeline.storage.keys import quarantine_key
from orderflow_pipeline.storage.lake import Lake


def describe(exc: BaseException) -> str:
    """A quarantine reason for an exception: its type and first line, bounded in length.

    One formula for every layer, so an operator greps one shape ("RecursionError: ...")."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}"[:300] if text else type(exc).__name__


@dataclass
class Rejected:
    source: str  # lake key (or other origin) of the rejected input
    line_no: int  # 1-based line number in the source; 0 for a whole object
    reason: str
    line: str  # the raw text, truncated to keep quarantine objects small

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line_no": self.line_no,
            "reason": self.reason,
            "line": self.line[:2000],
        }


@dataclass
class QuarantineBatch:
    """Collects rejects of one layer run and writes them as one object per source."""

    layer: str
    items: list[Rejected] = field(default_factory=list)

    def add(self, source: str, line_no: int, reason: str, line: str | bytes) -> None:
        text = line.decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else str(line)
        self.items.append(Rejected(source, line_no, reason, text))

    def __len__(self) -> int:
        return len(self.items)

    def by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.items:
            key = r.reason.split(":", 1)[0]
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def write(self, lake: Lake, d: date | str) -> list[str]:
        """One object per source key, replaced atomically, so a re-run does not duplicate rejects.

        Written only when its content changed: a reject met on every run (a bad symlink is never
        an object, so no manifest remembers it) must not rewrite its object every five minutes."""
        grouped: dict[str, list[Rejected]] = {}
        for r in self.items:
            grouped.setdefault(r.source, []).append(r)
        written = []
        for source, rows in sorted(grouped.items()):
            key = quarantine_key(d, self.layer, source)
            body = "".join(json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in rows).encode()
            lake.write_if_changed(key, body)
            written.append(key)
        return written


def quarantine_folder(d: date | str) -> str:
    """The prefix of date `d`'s quarantine objects (every layer's)."""
    return f"quarantine/{str(d)[:10]}/"


def quarantine_objects(lake: Lake, d: date | str, layer: str | None = None) -> list[str]:
    """Keys of the quarantine objects of date `d` (of `layer`, when given).

    The date's whole folder is listed and filtered here: on S3 the run's listing of it then
    answers every layer of the run (one LIST per date, not one per date and layer)."""
    folder = quarantine_folder(d)
    return [k for k in lake.list(folder) if layer is None or k.startswith(f"{folder}{layer}/")]


def count_quarantined(lake: Lake, d: date | str, layer: str | None = None) -> dict[str, int]:
    """Quarantined line counts per layer for a date (what the integrity check reports)."""
    counts: dict[str, int] = {}
    keys = quarantine_objects(lake, d, layer)
    for key, body in lake.cat_many(keys).items():
        lyr = key.split("/")[2]
        counts[lyr] = counts.get(lyr, 0) + sum(1 for ln in body.splitlines() if ln.strip())
    return counts
