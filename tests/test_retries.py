"""Every lake/S3 and DuckDB step retries (issue 19): a real moto S3 server behind a small
fault-injecting proxy on loopback fails a burst of requests, more than the S3 client's own retries
absorb, and the Dagster run still succeeds through the step's RetryPolicy; no alert is sent.

The proxy forwards every request to moto unchanged, except that while its fault budget lasts it
answers `500 InternalError` (what a struggling S3 endpoint answers) instead of forwarding.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dagster import DagsterEventType, DagsterInstance

from assets.definitions import build_defs
from assets.resources import IO_RETRY
from orderflow_pipeline.storage import s3 as lake_mod
from orderflow_pipeline.storage.lake import Lake

D = "2026-02-18"
TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
FAULT_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>injected fault</Message></Error>"
)


class FaultProxy:
    """HTTP proxy on 127.0.0.1 in front of `upstream`; `fail_next(n)` makes the next n requests 500."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.budget = 0
        self.failed = 0
        self.forwarded = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the S3 clients expect

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with outer.lock:
                    fail = outer.budget > 0
                    if fail:
                        outer.budget -= 1
                        outer.failed += 1
                    else:
                        outer.forwarded += 1
                if fail:
                    self.send_response(500)
                    self.send_header("content-type", "application/xml")
                    self.send_header("content-length", str(len(FAULT_BODY)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(FAULT_BODY)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in (
                            "transfer-encoding",
                            "connection",
                            "content-length",
                            "server",
                            "date",
                        ):
                            self.send_header(k, v)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any  # noqa: N815 - http.server API

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail_next(self, n: int) -> None:
        with self.lock:
            self.budget = n

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_server: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_server)
    try:
        yield p
    finally:
        p.close()


def test_every_io_step_has_the_retry_policy() -> None:
    """Every materializable asset reads the lake or DuckDB, so each retries with IO_RETRY; the one
    exception is raw_broksum, which talks to the IPOT feed and has a slower policy of its own."""
    defs = build_defs()
    graph = defs.resolve_asset_graph()
    steps = {k.to_user_string() for k in graph.materializable_asset_keys}
    assert {"footprint_ndjson", "footprint_1m", "daily_features", "footprint_summary"} <= steps
    for step in sorted(steps - {"raw_broksum"}):
        assert defs.resolve_assets_def(step).op.retry_policy == IO_RETRY, step
    feed = defs.resolve_assets_def("raw_broksum").op.retry_policy
    assert feed is not None and feed.max_retries >= 1
    assert IO_RETRY.max_retries == 3 and IO_RETRY.backoff is not None and IO_RETRY.jitter is not None


def test_retries_absorb_injected_s3_faults(
    env: dict[str, str], moto_server: str, proxy: FaultProxy, real: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import make_s3_lake

    direct = make_s3_lake(moto_server)  # bucket made straight at moto; the pipeline goes through the proxy
    direct.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    monkeypatch.setenv("ORDERFLOW_LAKE", direct.root)
    monkeypatch.setenv("ORDERFLOW_S3_ENDPOINT_URL", proxy.url)
    from assets.runtime.range_runs import materialize_range

    instance = DagsterInstance.get()
    try:
        # Twice as many failures in a row as one S3 call's own attempts (botocore retries a 500 up to
        # S3_MAX_ATTEMPTS; s3fs does not retry a ClientError): the first step's first two tries fail,
        # Dagster retries after its backoff, and the third try finds the burst over.
        burst = 2 * lake_mod.S3_MAX_ATTEMPTS
        proxy.fail_next(burst)
        result = materialize_range(
            build_defs(),
            D,
            instance=instance,
            raise_on_error=False,
            asset_keys=["footprint_ndjson", "footprint_1m", "footprint_summary"],
        )
        assert result.success, "the run failed although only a burst of requests failed"
        assert proxy.failed == burst and proxy.budget == 0
        retried = [
            r.dagster_event.step_key
            for r in instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
            if r.dagster_event is not None
        ]
        assert retried == ["footprint_ndjson", "footprint_ndjson"], retried
        assert not list(instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_FAILURE))
    finally:
        instance.dispose()
    # the same result as without faults: the real tape's 94 tickers (93 + PJHB-W) in the summary
    lake = Lake(direct.root, endpoint_url=moto_server)
    doc = lake.read_json("features/footprint-summary/2026-02-18.json")
    assert doc["count"] == 94 and "PJHB-W" in {i["t"] for i in doc["items"]}
    assert not lake.exists("_state/alerts.json")  # nothing paged
