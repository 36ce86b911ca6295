"""The demos' stop on SIGTERM survives an in-process Dagster run (assets/runtime/services.py).

Found running `make live-demo` in the background: Dagster's interrupt handling maps SIGTERM to
SIGINT's handler when a run ends, and a background job inherits SIGINT ignored, so after the live
demo's first intraday run SIGTERM did nothing. The script below reproduces exactly that: SIGINT
ignored as `cmd &` leaves it, one `materialize()` inside `interrupt_on_sigterm()`, then SIGTERM.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

SCRIPT = textwrap.dedent(
    """
    import os, signal, time
    import dagster as dg
    from assets.runtime.services import interrupt_on_sigterm

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background job inherits

    @dg.asset
    def one() -> int:
        return 1

    with interrupt_on_sigterm():
        try:
            assert dg.materialize([one]).success
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(3)
            print("SIGTERM ignored")
        except KeyboardInterrupt as e:
            print("interrupted by", e)
    """
)


def test_sigterm_interrupts_after_an_in_process_dagster_run(tmp_path: Path) -> None:
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "interrupted by SIGTERM", r.stdout
