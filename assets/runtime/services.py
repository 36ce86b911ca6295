"""The long-running children of the demos (dagster dev, the API, the replay server, capture), started
so that Ctrl-C or SIGTERM ends all of them, and their children, within a few seconds.

Why not just signal them: `dagster dev` answers SIGTERM by waiting on its webserver, daemon and
code servers and took 30 s+, and a child left in the terminal's process group gets every Ctrl-C
too. Each service therefore runs in its own session, its output goes to a log file (the daemon
logs every sensor tick), and `stop` collects the whole tree *before* signalling (a child whose
parent died is re-parented and can no longer be found), sends SIGTERM to every process in it,
waits `GRACE_S` and SIGKILLs what is left.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

import psutil

GRACE_S = 2.0  # SIGTERM -> SIGKILL: the whole stop stays under the 5 s a user waits


class Services:
    """Child processes that live until `stop` (or the end of the `with` block)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        log: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in its own session; its output goes to `{log_dir}/{name}.log` unless `log`
        is False (then it shares this terminal: the capture's and the replay's few lines)."""
        out: IO[bytes] | None = None
        if log:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{name}.log").open("ab")
            self._logs.append(out)
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        """SIGTERM every process of every service's tree, SIGKILL what is alive after GRACE_S."""
        tree: list[psutil.Process] = []
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                tree += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        for p in tree:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(tree, timeout=GRACE_S)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=GRACE_S)
        for proc in self.procs:  # reap our own children (no zombies left behind)
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        for f in self._logs:
            f.close()
        self._logs.clear()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT raise KeyboardInterrupt in the main thread, as Ctrl-C does, so
    one `finally` stops the services whichever way the user ends the demo.

    SIGINT too, because an in-process Dagster run (the live demo's intraday loop) leaves SIGTERM
    set to whatever SIGINT's handler is when it ends (`dagster._utils.interrupts` maps SIGTERM to
    SIGINT "for k8s"); a demo started in the background inherits SIGINT ignored, so after its first
    run SIGTERM was ignored too and the demo could not be stopped but by SIGKILL."""

    def interrupt(signum: int, frame: FrameType | None) -> Any:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    before = {s: signal.signal(s, interrupt) for s in signals}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
