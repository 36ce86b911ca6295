"""Integrity checks (SPEC §11): the one registry of check names and severities, and outcomes as data.

Each layer's core module computes its checks as `CheckOutcome`s; the Dagster layer turns them
into AssetCheckResults, `orderflow check` and `GET /integrity` print them — one computation,
three faces. What a check *is* (its name, the asset it belongs to, its severity and so whether it
blocks downstream, one line saying what it asserts) is declared once, in `REGISTRY` below: the
assets build their `AssetCheckSpec`s from it and fold results with its severities, and a layer
builds an outcome with `CheckOutcome.of(name, passed, description, metadata)`, which takes the
asset and severity from here. An outcome whose literal asset or severity disagrees with the
registry is a programming error and raises at once (a test runs every layer on real data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

Severity = Literal["ERROR", "WARN"]

# Who evaluates a check:
# - "layer": the asset's own materialization, from `<layer>.checks(lake, con, d)` (an
#   AssetCheckSpec on the asset, folded by `assets/check_results.fold_checks`);
# - "standalone": a standalone Dagster asset check (`assets/cross_checks.py`), for the checks no
#   single layer computes (context D−1, freshness);
# - "report": only `orderflow check` / `GET /integrity`. These describe the report itself (the
#   warehouse was busy, a layer's checks crashed); inside a run the asset holds the warehouse
#   open and a crash fails the run, so Dagster never needs them.
EvaluatedBy = Literal["layer", "standalone", "report"]

FOOTPRINT, WAREHOUSE, FEATURES, SUMMARY = (
    "footprint_ndjson",
    "footprint_1m",
    "daily_features",
    "footprint_summary",
)
UNIVERSE = "ticker_universe"


@dataclass(frozen=True)
class CheckDef:
    """One integrity check as declared: everything but its result."""

    name: str  # stable id, e.g. "footprint_files_exist"
    asset: str  # asset key it belongs to
    severity: Severity  # severity when it fails: ERROR blocks downstream, WARN alerts only
    description: str  # what it asserts, in one line (the AssetCheckSpec description)
    evaluated_by: EvaluatedBy = "layer"
    runbook: str | None = None  # anchor in the operator runbook (e.g. "docs/runbook.md#..."), when written

    @property
    def spec_description(self) -> str:
        """The description Dagster shows: what it asserts, then where the runbook treats it."""
        return f"{self.description} Runbook: {self.runbook}" if self.runbook else self.description

    @property
    def blocking(self) -> bool:
        """SPEC §11: exactly the ERROR checks stop downstream layers."""
        return self.severity == "ERROR"


def _index(defs: Iterable[CheckDef]) -> Mapping[str, CheckDef]:
    out: dict[str, CheckDef] = {}
    for d in defs:
        if d.name in out:
            raise ValueError(f"check {d.name!r} declared twice")
        out[d.name] = d
    return MappingProxyType(out)


# Where the operator runbook treats each check: section anchor -> check names. Applied to the
# registry below (`CheckDef.runbook`), so every AssetCheckSpec description ends with the link.
RUNBOOK_DOC = "docs/runbook.md"
RUNBOOK_SECTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "dashboard-empty": ("footprint_files_exist", "summary_has_items"),
        "partial-tickers": (
            "warehouse_min_tickers",
            "warehouse_fast_path_tickers",
            "warehouse_objects_loaded",
            "warehouse_manifest_rows",
            "warehouse_readable",
            "footprint_completeness",
            "summary_count_within_warehouse",
            "summary_matches_warehouse",
        ),
        "all-neutral": (
            "context_prev_session",
            "history_20_sessions",
            "broksum_present",
            "broksum_quarantined",
            "broksum_plausible",
            "z_finite",
            "states_allowed",
        ),
        "stale": ("summary_fresh", "raw_tape_lag"),
        "force-refresh-from-the-lake": ("warehouse_unique_minutes", "warehouse_ohlc_valid"),
        "broken-ticker": (
            "footprint_quarantine_empty",
            "warehouse_quarantine",
            "summary_scores_in_range",
            "summary_signals_in_table",
        ),
        "a-ticker-disappeared": ("universe_previous_session_present",),
        "live-differs": ("live_matches_batch",),
        "integrity-report": (
            "footprint_checks_ran",
            "warehouse_checks_ran",
            "smart_money_checks_ran",
            "summary_checks_ran",
            "universe_checks_ran",
            "operations_checks_ran",
        ),
    }
)


def _with_runbook(*defs: CheckDef) -> list[CheckDef]:
    """`defs` with `runbook` set from RUNBOOK_SECTIONS (a name there that no check has is a typo)."""
    section = {name: s for s, names in RUNBOOK_SECTIONS.items() for name in names}
    out = [d if d.runbook or d.name not in section else replace(d, runbook=f"{RUNBOOK_DOC}#{section[d.name]}")
           for d in defs]  # fmt: skip
    unknown = set(section) - {d.name for d in out}
    if unknown:
        raise ValueError(f"RUNBOOK_SECTIONS names checks that are not declared: {sorted(unknown)}")
    return out


def _crash(layer: str, asset: str) -> CheckDef:
    return CheckDef(
        f"{layer}_checks_ran",
        asset,
        "ERROR",
        f"The {layer} checks ran without crashing (their integrity is unknown otherwise).",
        "report",
    )


REGISTRY: Mapping[str, CheckDef] = _index(
    _with_runbook(
        # footprint_ndjson (footprint.checks)
        CheckDef(
            "footprint_files_exist",
            FOOTPRINT,
            "ERROR",
            "The lake has footprint hour files for the date (ERROR, blocking).",
        ),
        CheckDef(
            "footprint_quarantine_empty",
            FOOTPRINT,
            "WARN",
            "No tape line was quarantined (WARN with counts).",
        ),
        CheckDef(
            "footprint_completeness",
            FOOTPRINT,
            "WARN",
            "Tickers that traded all session have >= 50% of the expected 1-minute candles.",
        ),
        CheckDef(
            "raw_tape_lag",
            FOOTPRINT,
            "WARN",
            "During the continuous session the newest raw tape is at most 20 minutes old.",
            "standalone",
        ),
        CheckDef(
            "live_matches_batch",
            FOOTPRINT,
            "WARN",
            "The live engine's candles (SPEC §16) equal the footprint layer's on every closed minute "
            "(WARN naming ticker and minute; skipped without a live API of the date).",
            "standalone",
        ),
        # footprint_1m (warehouse.checks)
        CheckDef("warehouse_min_tickers", WAREHOUSE, "WARN", "Distinct tickers for the date >= 50 (WARN)."),
        CheckDef(
            "warehouse_fast_path_tickers",
            WAREHOUSE,
            "WARN",
            "The warehouse holds every ticker the lake has for the date (and >= the floor, 50); "
            "otherwise the summary builds from the lake and heals.",
        ),
        CheckDef(
            "warehouse_manifest_rows", WAREHOUSE, "WARN", "Rows the manifest recorded = rows in footprint_1m."
        ),
        CheckDef("warehouse_unique_minutes", WAREHOUSE, "WARN", "(ticker, time_key) is unique."),
        CheckDef(
            "warehouse_ohlc_valid",
            WAREHOUSE,
            "WARN",
            "l <= min(o, c) <= max(o, c) <= h and prices > 0 for every candle.",
        ),
        CheckDef(
            "warehouse_objects_loaded",
            WAREHOUSE,
            "WARN",
            "Every lake footprint object of the date is loaded or quarantined.",
        ),
        CheckDef(
            "warehouse_quarantine",
            WAREHOUSE,
            "WARN",
            "No footprint line was quarantined by the warehouse (WARN with counts).",
        ),
        CheckDef(
            "warehouse_readable",
            WAREHOUSE,
            "WARN",
            "The warehouse could be opened for the report (busy or missing: its checks are skipped).",
            "report",
        ),
        # daily_features (smart_money.checks)
        CheckDef(
            "broksum_present", FEATURES, "WARN", "Every ticker that traded on the date has a broker summary."
        ),
        CheckDef("broksum_quarantined", FEATURES, "WARN", "No broker summary of the date was quarantined."),
        CheckDef(
            "broksum_plausible",
            FEATURES,
            "WARN",
            "No broker summary of the date failed the plausibility rules.",
        ),
        CheckDef(
            "history_20_sessions", FEATURES, "WARN", "Every ticker has >= 20 sessions of history (z-scores)."
        ),
        CheckDef("z_finite", FEATURES, "WARN", "Every z-score and score is finite."),
        CheckDef("states_allowed", FEATURES, "WARN", "Every state is ACCUMULATION, DISTRIBUTION or NEUTRAL."),
        # footprint_summary (summary.checks)
        CheckDef(
            "summary_has_items",
            SUMMARY,
            "ERROR",
            "The summary of the date lists at least one ticker (ERROR, blocking).",
        ),
        CheckDef("summary_scores_in_range", SUMMARY, "WARN", "Every sc within [0, 1]."),
        CheckDef("summary_signals_in_table", SUMMARY, "WARN", "Every sig is a signal of the SPEC §9 table."),
        CheckDef(
            "summary_count_within_warehouse",
            SUMMARY,
            "WARN",
            "Item count <= the warehouse's distinct tickers for the date.",
        ),
        CheckDef(
            "summary_matches_warehouse",
            SUMMARY,
            "WARN",
            "Summary totals agree with the warehouse for 5 sampled tickers.",
        ),
        CheckDef(
            "context_prev_session",
            SUMMARY,
            "WARN",
            "daily_features of the previous session exist (the summary's context).",
            "standalone",
        ),
        CheckDef(
            "summary_fresh",
            SUMMARY,
            "WARN",
            "During market hours today's summary is at most 10 minutes old.",
            "standalone",
        ),
        # ticker_universe (universe.checks)
        CheckDef(
            "universe_previous_session_present",
            UNIVERSE,
            "WARN",
            "Every ticker that traded on the previous session trades on the date (WARN, names the missing).",
        ),
        # the integrity report about itself (integrity.integrity_report)
        _crash("footprint", FOOTPRINT),
        _crash("warehouse", WAREHOUSE),
        _crash("smart_money", FEATURES),
        _crash("summary", SUMMARY),
        _crash("universe", UNIVERSE),
        CheckDef(
            "operations_checks_ran",
            SUMMARY,
            "ERROR",
            "The context and freshness checks ran without crashing.",
            "report",
        ),
    )
)


def check_def(name: str) -> CheckDef:
    """The registered check `name` (KeyError naming the registry when it is not declared)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"check {name!r} is not declared in orderflow_pipeline.checks.REGISTRY") from None


def checks_of(asset: str, evaluated_by: EvaluatedBy = "layer") -> tuple[CheckDef, ...]:
    """The checks of `asset` that `evaluated_by` evaluates, in declaration order."""
    return tuple(d for d in REGISTRY.values() if d.asset == asset and d.evaluated_by == evaluated_by)


@dataclass
class CheckOutcome:
    name: str  # a REGISTRY name
    asset: str  # asset key it belongs to (the registry's)
    passed: bool
    severity: Severity  # severity when it fails (the registry's)
    description: str  # one line a person can act on, with the numbers of this evaluation
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Unregistered names pass here (the registry test names them); a registered check must
        # not be re-declared differently at the call site.
        d = REGISTRY.get(self.name)
        if d is not None and (self.asset, self.severity) != (d.asset, d.severity):
            raise ValueError(
                f"check {self.name!r} emitted as ({self.asset}, {self.severity}) but registered as "
                f"({d.asset}, {d.severity}) in orderflow_pipeline.checks.REGISTRY"
            )

    @classmethod
    def of(
        cls, name: str, passed: bool, description: str, metadata: Mapping[str, Any] | None = None
    ) -> CheckOutcome:
        """An outcome of the registered check `name`: asset and severity come from the registry."""
        d = check_def(name)
        return cls(name, d.asset, passed, d.severity, description, dict(metadata or {}))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def overall_status(outcomes: list[CheckOutcome]) -> str:
    """ERROR if any ERROR check failed, WARN if any WARN failed, else OK."""
    failed = [o for o in outcomes if not o.passed]
    if any(o.severity == "ERROR" for o in failed):
        return "ERROR"
    return "WARN" if failed else "OK"
