"""One place that reads the environment (SPEC §3).

The CLI, the Dagster resources and the API all build their settings here, so a variable means the
same thing in every entry point and in tests. A value that cannot be used stops the entry point
with a `ConfigError` naming the variable: a typo in a threshold silently replaced by the default
would change which path builds the summary without anyone noticing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from orderflow_pipeline.layers.summary.liquidity import DEFAULT_KINDS, Filter, Instrument, parse_kinds
from orderflow_pipeline.warehouse.backend import DUCKDB, Target, TargetError, parse_target

# The warehouse fast path of the summary (§11, issue 19): taken when the warehouse holds every
# ticker the lake has for the date AND at least this many; otherwise the summary is built from the
# lake and heals the warehouse. The seed's 200 was a stand-in for "complete" on the full market;
# coverage now says that directly, so the floor only guards against a near-empty warehouse and a
# complete 150-ticker market takes the fast path.
MIN_WAREHOUSE_TICKERS = 50
# Integrity floor for the warehouse ticker count (WARN, §11).
MIN_WAREHOUSE_TICKERS_WARN = 50

# The liquidity floor of the dashboard's default view and the outcomes filter (issue 27): rupiah
# traded on the date. Rp 500 M keeps 354 of the 864 shares of the real snapshot and drops the
# names whose score comes from a handful of prints.
MIN_TRADED_VALUE = 500_000_000

DEFAULT_LAKE = "./data/lake"
DEFAULT_DUCKDB = "./data/warehouse.duckdb"
DEFAULT_DAGSTER_HOME = "./.dagster"
DEFAULT_IPOT_URL = "wss://ipotapp.ipot.id/socketcluster/"
# How `fetch-broksum` writes the en_qu_top_bs date: `padded` (YYYY-MM-DD, what the original sent)
# or `official` (YYYY-M-DD, what IPOT's own web client sends).
IPOT_DATE_STYLES = ("padded", "official")
# Where `orderflow serve` listens by default: the base of the links in signal alerts.
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8000"

# What ORDERFLOW_LIVE_BROKER may name: Redis (rediss = over TLS).
BROKER_SCHEMES = ("redis", "rediss")

# Lake roots the Lake class can open: S3 (any S3-compatible endpoint) or the local filesystem.
_REMOTE_LAKE_SCHEMES = ("s3://",)
_LOCAL_LAKE_SCHEME = "file://"


class ConfigError(ValueError):
    """A setting's value cannot be used; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    lake: str = DEFAULT_LAKE
    s3_endpoint_url: str | None = None
    alert_webhook: str | None = None
    dagster_home: str = DEFAULT_DAGSTER_HOME
    # Below this many tickers in the warehouse for a date the summary is built from the lake (§11).
    min_warehouse_tickers: int = MIN_WAREHOUSE_TICKERS
    # Integrity floor for the warehouse ticker count (WARN, §11).
    min_warehouse_tickers_warn: int = MIN_WAREHOUSE_TICKERS_WARN
    # Rupiah a ticker must trade on the date to be in the liquid view (layers/summary/liquidity.py).
    min_traded_value: int = MIN_TRADED_VALUE
    # Instrument kinds of that view (ORDERFLOW_LIQUID_KINDS, e.g. `share,warrant`).
    liquid_kinds: tuple[Instrument, ...] = DEFAULT_KINDS
    storage_options: dict[str, object] = field(default_factory=dict)
    # Folder holding fixtures/real/ (the real fixtures and daily snapshot); None = ../shared
    # next to the repo, else the packaged snapshot copy. Development and tests only.
    shared_dir: str | None = None
    # The IPOT live feed (issue 18; ../shared/IPOT.md): `orderflow capture` and `fetch-broksum`.
    ipot_url: str = DEFAULT_IPOT_URL
    ipot_token: str | None = None
    ipot_token_url: str | None = None
    ipot_date_style: str = IPOT_DATE_STYLES[0]
    capture_id: str | None = None  # None: the host name
    capture_spool: str | None = None  # None: ./data/capture-spool/{capture_id}
    # The broker carrying the live trades from `orderflow capture` to `orderflow serve` replicas on
    # other hosts (SPEC §16 Source): `redis://host:port/db` (Redis Streams, live/broker.py). None:
    # the API tails the capture's local spool (live/journal.py), which needs no broker at all.
    live_broker: str | None = None
    # Receives one JSON POST per ticker, signal and day when an intraday signal becomes
    # STRONG_BUY, TRAP_WARNING or STRONG_SELL (assets/sensors/signal_alerts.py); None = log only.
    signal_webhook: str | None = None
    # Base URL of the dashboard, for the link each signal alert carries.
    dashboard_url: str = DEFAULT_DASHBOARD_URL
    # The `orderflow serve` whose live engine (SPEC §16) Dagster reconciles with the batch
    # (`live_matches_batch`) and reports (capture-heartbeat sensor); None = not looked at, so a
    # run never depends on an API it was not told about.
    live_api_url: str | None = None
    # The one place that says where the warehouse is (SPEC §7): `duckdb:<path>` or
    # `ducklake:<libpq dsn>`. ORDERFLOW_DUCKDB is only the env spelling of the `duckdb:` file.
    warehouse: str = f"{DUCKDB}:{DEFAULT_DUCKDB}"
    # Where DuckLake writes its Parquet (a folder or s3://…); empty = `<lake>/warehouse/`.
    warehouse_data: str = ""

    def __post_init__(self) -> None:
        if not self.warehouse_data:
            object.__setattr__(self, "warehouse_data", _lake_path(self.lake).rstrip("/") + "/warehouse/")

    @property
    def liquidity(self) -> Filter:
        """The liquid view: the dashboard's default and `orderflow outcomes --liquid`."""
        return Filter(self.min_traded_value, self.liquid_kinds)

    @property
    def is_s3(self) -> bool:
        return self.lake.startswith("s3://")

    @property
    def warehouse_target(self) -> Target:
        """What `duck.connect` opens: the target plus DuckLake's data path and S3 endpoint."""
        return parse_target(self.warehouse, data=self.warehouse_data, endpoint_url=self.s3_endpoint_url)


def _lake_path(lake: str) -> str:
    """The lake root as DuckDB spells it (s3://… as is, file:// stripped)."""
    return lake[len(_LOCAL_LAKE_SCHEME) :] if lake.startswith(_LOCAL_LAKE_SCHEME) else lake


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's value with surrounding blanks removed; unset and empty both mean "use the default"."""
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = _env(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {raw!r}")
    return value


def _url(environ: Mapping[str, str], name: str) -> str | None:
    raw = _env(environ, name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http:// or https:// URL with a host, got {raw!r}")
    return raw


def _ws_url(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = _env(environ, name)
    if raw is None:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"{name} must be a ws:// or wss:// URL with a host, got {raw!r}")
    return raw


def _broker_url(environ: Mapping[str, str], name: str) -> str | None:
    """A Redis URL; the client would otherwise take a typo (http://, a bare host) as a socket path
    or fail only at the first trade, long after the process said it started."""
    raw = _env(environ, name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in BROKER_SCHEMES or not parts.hostname or port == -1:
        raise ConfigError(
            f"{name} must be redis://host[:port][/db] or rediss://host[:port][/db], got {raw!r}"
        )
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(f"{name}: the database after the host must be a number, got {raw!r}")
    return raw


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when unset); anything else is an error, never a silent default."""
    raw = _env(environ, name)
    if raw is None:
        return choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _path(environ: Mapping[str, str], name: str, default: str) -> str:
    """A local path, resolved against the working directory (a relative path means the same folder
    whichever process later reads the setting)."""
    return str(Path(_env(environ, name) or default).expanduser().resolve())


def _lake(environ: Mapping[str, str]) -> str:
    raw = _env(environ, "ORDERFLOW_LAKE") or DEFAULT_LAKE
    if raw.startswith(_REMOTE_LAKE_SCHEMES):
        scheme, rest = raw.split("://", 1)
        if not rest.split("/", 1)[0]:
            raise ConfigError(f"ORDERFLOW_LAKE must name a bucket: {scheme}://bucket[/prefix], got {raw!r}")
        return raw
    if raw.startswith(_LOCAL_LAKE_SCHEME):
        return raw
    if "://" in raw:
        raise ConfigError(
            f"ORDERFLOW_LAKE must be a local folder, file://path or s3://bucket[/prefix], got {raw!r}"
        )
    return str(Path(raw).expanduser().resolve())


def _warehouse(environ: Mapping[str, str]) -> str:
    """ORDERFLOW_WAREHOUSE, default `duckdb:$ORDERFLOW_DUCKDB` (the older variable, kept as the
    short way to name the file; ORDERFLOW_WAREHOUSE wins when both are set); a relative file path
    is resolved against the working directory like every other path setting."""
    raw = _env(environ, "ORDERFLOW_WAREHOUSE")
    if raw is None:
        return DUCKDB + ":" + _path(environ, "ORDERFLOW_DUCKDB", DEFAULT_DUCKDB)
    try:
        target = parse_target(raw)
    except TargetError as exc:
        raise ConfigError(
            f"ORDERFLOW_WAREHOUSE must be duckdb:<path> or ducklake:<libpq dsn>: {exc}"
        ) from None
    if target.is_lake:
        return str(target)
    return f"{DUCKDB}:{Path(target.location).expanduser().resolve()}"


def _warehouse_data(environ: Mapping[str, str]) -> str:
    raw = _env(environ, "ORDERFLOW_WAREHOUSE_DATA")
    if raw is None:
        return ""  # Settings: <lake>/warehouse/
    if raw.startswith(_REMOTE_LAKE_SCHEMES):
        if not raw.split("://", 1)[1].split("/", 1)[0]:
            raise ConfigError(
                f"ORDERFLOW_WAREHOUSE_DATA must name a bucket: s3://bucket[/prefix], got {raw!r}"
            )
        return raw.rstrip("/") + "/"
    if "://" in raw and not raw.startswith(_LOCAL_LAKE_SCHEME):
        raise ConfigError(
            f"ORDERFLOW_WAREHOUSE_DATA must be a local folder or s3://bucket[/prefix], got {raw!r}"
        )
    return str(Path(_lake_path(raw)).expanduser().resolve()) + "/"


def _kinds(environ: Mapping[str, str]) -> tuple[Instrument, ...]:
    raw = _env(environ, "ORDERFLOW_LIQUID_KINDS")
    if raw is None:
        return DEFAULT_KINDS
    try:
        return parse_kinds(raw)
    except ValueError as exc:
        raise ConfigError(f"ORDERFLOW_LIQUID_KINDS: {exc}, got {raw!r}") from None


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (`environ`, default os.environ); relative paths are resolved
    against the working directory. Raises ConfigError naming the variable for a value that cannot
    be used."""
    e: Mapping[str, str] = os.environ if environ is None else environ
    min_tickers = _int(e, "ORDERFLOW_MIN_WAREHOUSE_TICKERS", MIN_WAREHOUSE_TICKERS, minimum=1)
    min_warn = _int(e, "ORDERFLOW_MIN_WAREHOUSE_TICKERS_WARN", MIN_WAREHOUSE_TICKERS_WARN, minimum=0)
    shared = _env(e, "ORDERFLOW_SHARED")
    return Settings(
        lake=_lake(e),
        s3_endpoint_url=_url(e, "ORDERFLOW_S3_ENDPOINT_URL"),
        warehouse=_warehouse(e),
        warehouse_data=_warehouse_data(e),
        alert_webhook=_url(e, "ORDERFLOW_ALERT_WEBHOOK"),
        dagster_home=_path(e, "DAGSTER_HOME", DEFAULT_DAGSTER_HOME),
        min_warehouse_tickers=min_tickers,
        min_warehouse_tickers_warn=min_warn,
        min_traded_value=_int(e, "ORDERFLOW_MIN_TRADED_VALUE", MIN_TRADED_VALUE, minimum=0),
        liquid_kinds=_kinds(e),
        shared_dir=str(Path(shared).expanduser().resolve()) if shared else None,
        ipot_url=_ws_url(e, "ORDERFLOW_IPOT_URL", DEFAULT_IPOT_URL),
        ipot_token=_env(e, "ORDERFLOW_IPOT_TOKEN"),
        ipot_token_url=_url(e, "ORDERFLOW_IPOT_TOKEN_URL"),
        ipot_date_style=_choice(e, "ORDERFLOW_IPOT_DATE_STYLE", IPOT_DATE_STYLES),
        capture_id=_env(e, "ORDERFLOW_CAPTURE_ID"),
        capture_spool=_path(e, "ORDERFLOW_CAPTURE_SPOOL", "") if _env(e, "ORDERFLOW_CAPTURE_SPOOL") else None,
        live_broker=_broker_url(e, "ORDERFLOW_LIVE_BROKER"),
        signal_webhook=_url(e, "ORDERFLOW_SIGNAL_WEBHOOK"),
        dashboard_url=(_url(e, "ORDERFLOW_DASHBOARD_URL") or DEFAULT_DASHBOARD_URL).rstrip("/"),
        live_api_url=(_url(e, "ORDERFLOW_LIVE_API_URL") or "").rstrip("/") or None,
    )
