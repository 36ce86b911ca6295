"""The code location loads, validates with the Dagster CLI, and partitions are IDX trading days."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import Definitions

from assets.partitions import trading_days

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load() -> None:
    from assets.definitions import defs

    assert isinstance(defs, Definitions)


def test_dagster_definitions_validate(env: dict[str, str]) -> None:
    exe = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(exe), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_february_2026_partitions_are_trading_days() -> None:
    keys = [k for k in trading_days.get_partition_keys() if k.startswith("2026-02")]
    assert len(keys) == 18
    assert "2026-02-16" not in keys and "2026-02-17" not in keys
    assert keys[0] == "2026-02-02" and keys[-1] == "2026-02-27"
