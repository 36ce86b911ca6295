"""`--duration` stops flushed; a feed that refuses the token: after repeated failures the capture
fetches a new one.

Real processes (`python -m orderflow_pipeline.cli capture|replay-server`), a real WebSocket server on
loopback, a local HTTP page serving the token (issue 18, first half)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import live_lab
from live_lab import lake_raw_lines, start_capture, start_replay, stop

# the shared fixture (pytest finds a fixture by its name in the module)
src = live_lab.src


def test_token_refresh_after_repeated_failures(src: Path, tmp_path: Path) -> None:
    """The feed refuses the configured token (HTTP 403); after 3 failed connects the capture fetches
    a new one from ORDERFLOW_IPOT_TOKEN_URL (a page like indopremier.com/ipc/appsession.js) and gets in."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body = b'var x = 1;\nwindow.appsession = "fresh-token-42";\n'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    page = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "500", "--token", "fresh-token-42")
    try:
        proc = start_capture(
            tmp_path / "cap",
            tmp_path / "spool",
            port,
            tmp_path / "cap.log",
            "--duration",
            "8",
            ORDERFLOW_IPOT_TOKEN_URL=f"http://127.0.0.1:{page.server_address[1]}/ipc/appsession.js",
        )
        assert proc.wait(40) == 0
    finally:
        stop(rs)
        page.shutdown()
        page.server_close()
    log = (tmp_path / "cap.log").read_text()
    assert "HTTP 403" in log and "token refreshed (fres…, changed)" in log
    assert "fresh-token-42" not in log  # never more than the first characters
    assert lake_raw_lines(tmp_path / "cap")


def test_duration_stops_flushed(src: Path, tmp_path: Path) -> None:
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "500")
    try:
        t0 = time.time()
        proc = start_capture(
            tmp_path / "cap", tmp_path / "spool", port, tmp_path / "cap.log", "--duration", "3"
        )
        assert proc.wait(30) == 0
        assert time.time() - t0 < 20
    finally:
        stop(rs)
    got = lake_raw_lines(tmp_path / "cap")
    hb = json.loads((tmp_path / "cap/_state/capture/t1.json").read_text())
    assert got and hb["lines"] == len(got) and hb["spool_bytes"] == 0
