"""The S3 client's options for the lake (SPEC §15): bounded timeouts and retries, and retries
made visible in the log. The lake (`storage.lake.Lake`) builds its s3fs filesystem from these."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

# S3 (botocore via s3fs): explicit timeouts and retries instead of the library defaults (60 s
# connect + 60 s read, retried silently), so a frozen endpoint costs seconds per attempt and every
# retry is logged. Worst case per request: S3FS_RETRIES x S3_MAX_ATTEMPTS x (connect + read).
S3_CONNECT_TIMEOUT_S = 5
S3_READ_TIMEOUT_S = 20
S3_MAX_ATTEMPTS = 3  # total, first try included; botocore "standard" mode retries timeouts, 5xx, throttling
S3FS_RETRIES = 2  # s3fs's own loop around each call (socket timeouts, truncated reads)


class _RetryLog(logging.Filter):
    """Lifts the S3 libraries' retry messages (logged at DEBUG) to a WARNING naming the wait.

    Why a filter: botocore and s3fs only report a retry at DEBUG, so a frozen endpoint looked like
    a hung run. The filter lowers the library logger's level to DEBUG so the records exist, turns
    retry records into WARNINGs, and drops every other record below the level that was in force
    before (so no DEBUG chatter appears that was not asked for)."""

    MARKERS = ("Retry needed", "Retryable error", "Max attempts", "retry quota")

    def __init__(self, keep_from: int) -> None:
        super().__init__()
        self.keep_from = keep_from

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if any(m in msg for m in self.MARKERS):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = f"S3 waiting/retrying ({record.name}): {msg}", ()
            return True
        return record.levelno >= self.keep_from


def log_s3_retries() -> None:
    """Install `_RetryLog` once on each S3 library logger that reports retries."""
    for name in ("s3fs", "botocore.retries.standard", "aiobotocore.retries.standard"):
        lg = logging.getLogger(name)
        if any(isinstance(f, _RetryLog) for f in lg.filters):
            continue
        lg.addFilter(_RetryLog(lg.getEffectiveLevel()))
        lg.setLevel(logging.DEBUG)


def s3_options(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """s3fs options with the explicit timeouts and retries above; the caller's own values win."""
    # max_concurrency=1: s3fs would otherwise send a HEAD before every GET (to split a large
    # object into ranged reads), doubling the requests of `cat_many`; lake objects are small.
    opts: dict[str, Any] = {"use_listings_cache": False, "max_concurrency": 1, **storage_options}
    config = {
        "connect_timeout": S3_CONNECT_TIMEOUT_S,
        "read_timeout": S3_READ_TIMEOUT_S,
        "retries": {"total_max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
    }
    opts["config_kwargs"] = {**config, **dict(storage_options.get("config_kwargs") or {})}
    return opts
