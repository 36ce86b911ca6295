"""What one footprint build reports: the counters behind the asset's materialization metadata.

Its own module because the build (build.py) and the hour-file writing (hour_files.py) both fill
it in, and neither should import the other for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from orderflow_pipeline.layers.footprint import tape


@dataclass
class FootprintResult:
    date: str
    tape_objects: int = 0  # tape objects of the date in the lake
    tape_objects_read: int = 0
    tape_objects_skipped: int = 0  # unchanged since the last run: not read
    lines: int = 0
    trades: int = 0  # distinct regular-board trades in the rebuilt ticker-hours
    duplicates: int = 0
    non_regular: int = 0
    tickers: int = 0
    candles: int = 0  # candles in the files (re)built this run
    hour_files: int = 0  # hour files (re)built this run
    hour_files_written: int = 0
    hour_files_unchanged: int = 0
    hour_files_deleted: int = 0
    upstream_files_validated: int = 0
    stale_temps_removed: int = 0  # `.tmp-*` files older than an hour, left by a killed write
    neutral_lots: int = 0
    total_lots: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    write_seconds: float = 0.0  # of `seconds`: writing hour files (file creation dominates locally)
    # how the loaded trades' sides were decided (aggressor_quality.py); None: nothing was loaded
    aggressor: dict[str, Any] | None = None

    def count_load(self, load: tape.TapeLoad) -> None:
        """The tape counters a build reports are the load's: copied in one place."""
        self.lines, self.trades = load.lines, load.trades
        self.duplicates, self.non_regular = load.duplicates, load.non_regular

    @property
    def neutral_share(self) -> float:
        """Auction / unclassified lots as a share of all lots (0 when nothing traded)."""
        return self.neutral_lots / self.total_lots if self.total_lots else 0.0

    def as_metadata(self) -> dict[str, Any]:
        out = asdict(self)
        out["neutral_share"] = round(self.neutral_share, 4)
        out["seconds"] = round(self.seconds, 3)
        out["write_seconds"] = round(self.write_seconds, 3)
        return out
