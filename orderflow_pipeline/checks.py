"""Integrity check outcomes (SPEC §11) as plain data.

Each layer's core module computes its checks as `CheckOutcome`s; the Dagster layer turns them
into AssetCheckResults, `orderflow check` and `GET /integrity` print them — one computation,
three faces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["ERROR", "WARN"]


@dataclass
class CheckOutcome:
    name: str  # stable id, e.g. "footprint_files_exist"
    asset: str  # asset key it belongs to, e.g. "footprint_ndjson"
    passed: bool
    severity: Severity  # severity when it fails: ERROR blocks downstream, WARN alerts only
    description: str  # one line a person can act on
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def overall_status(outcomes: list[CheckOutcome]) -> str:
    """ERROR if any ERROR check failed, WARN if any WARN failed, else OK."""
    failed = [o for o in outcomes if not o.passed]
    if any(o.severity == "ERROR" for o in failed):
        return "ERROR"
    return "WARN" if failed else "OK"
