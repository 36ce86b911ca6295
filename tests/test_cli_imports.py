"""What `orderflow materialize` imports (issue 28): the whole process's wall counts, so a module
only another command or another process needs is not imported by building the CLI's parser or
loading the code location. Checked in a fresh interpreter (this one has imported everything)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each is imported by the command or process that uses it, never by `orderflow materialize`.
NOT_FOR_MATERIALIZE = (
    "fastapi",  # orderflow serve
    "uvicorn",
    "orderflow_pipeline.api",
    "orderflow_pipeline.read.export",  # orderflow export (its --table choices are read lazily)
    "orderflow_pipeline.layers.outcome_report",  # orderflow outcomes
    "orderflow_pipeline.read.outcomes_cli",
    "orderflow_pipeline.sources.ipot.broksum.fetch",  # the raw_broksum asset's runs (the feed)
    "websockets",
)


def test_the_parser_and_the_definitions_leave_other_commands_modules_alone() -> None:
    code = (
        "import json, sys\n"
        "import assets.cli\n"
        "assets.cli.build_parser().parse_args(['materialize', '--date', '2026-02-18'])\n"
        "from assets.definitions import build_defs\n"
        "build_defs()\n"
        f"print(json.dumps([m for m in {list(NOT_FOR_MATERIALIZE)!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_export_still_names_its_tables_on_a_wrong_one() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "assets.cli", "export", "--table", "nope", "--from", "2026-02-18"]
        + ["--to", "2026-02-18", "--out", "x.parquet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "invalid choice: 'nope'" in out.stderr and "'footprint_1m'" in out.stderr


def test_the_console_script_exits_with_the_commands_code_and_all_it_wrote() -> None:
    # `run` leaves by os._exit (no interpreter teardown): whatever the command left in stdout's
    # buffer and in a log handler must still come out, and the exit code must be main's.
    code = (
        "import logging, sys\n"
        "import assets.cli as cli\n"
        "def fake_main():\n"
        "    logging.getLogger('orderflow.test').addHandler(logging.StreamHandler(sys.stderr))\n"
        "    logging.getLogger('orderflow.test').warning('the last log line')\n"
        "    sys.stdout.write('x' * 200_000)\n"  # more than one buffer's worth, no newline
        "    return 3\n"
        "cli.main = fake_main\n"
        "cli.run()\n"
        "print('not reached')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 3
    assert out.stdout == "x" * 200_000
    assert out.stderr.strip().splitlines()[-1] == "the last log line"


def test_startup_pauses_the_collector_and_always_gives_it_back() -> None:
    import gc

    import assets.cli as cli

    try:
        with cli._startup():
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(RuntimeError), cli._startup():
            raise RuntimeError("an import failed")
        assert gc.isenabled()
    finally:
        gc.unfreeze()
