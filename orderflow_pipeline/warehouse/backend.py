"""Which warehouse a connection opens: the embedded DuckDB file or DuckLake (SPEC §7, issue 20).

`ORDERFLOW_WAREHOUSE` names a target: `duckdb:<path>` (one file, one writing process on one
machine) or `ducklake:<libpq dsn>` (catalog in Postgres, Parquet data under
`ORDERFLOW_WAREHOUSE_DATA`, a local folder or s3://…): several processes on several machines
write at once — DuckLake commits optimistically and a logical conflict fails the COMMIT, which
`duck.committed` retries. Both backends are the same DuckDB SQL, so every layer runs one statement
on either; only opening the connection differs, and that happens here.

Extensions are LOADed from the PyPI packages' files (`duckdb-extension-<name>`, built for the
pinned DuckDB), never downloaded: autoinstall/autoload are switched off right after.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import duckdb

DUCKDB: Literal["duckdb"] = "duckdb"
DUCKLAKE: Literal["ducklake"] = "ducklake"
SCHEMES = (DUCKDB, DUCKLAKE)
# The name the DuckLake catalog is attached under; `USE` makes it the default, so the layers'
# unqualified table names mean the same tables on both backends.
CATALOG = "wh"
# PyPI package module -> extension file name (SPEC §7: postgres comes from -postgres-scanner).
_EXTENSIONS = {
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "ducklake": "duckdb_extension_ducklake",
    "httpfs": "duckdb_extension_httpfs",
}


class TargetError(ValueError):
    """A warehouse target string that names no known backend."""


@dataclass(frozen=True)
class Target:
    """A parsed warehouse target. `data` (DuckLake's DATA_PATH) and `endpoint_url` (its S3
    endpoint) only matter for DuckLake; the DuckDB file ignores them."""

    kind: Literal["duckdb", "ducklake"]
    location: str  # the file path, or the libpq DSN of the Postgres catalog
    data: str | None = None
    endpoint_url: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"

    @property
    def is_lake(self) -> bool:
        return self.kind == DUCKLAKE


def parse_target(target: str | Target, *, data: str | None = None, endpoint_url: str | None = None) -> Target:
    """`duckdb:<path>`, `ducklake:<dsn>`, or a bare path (the DuckDB file: what every caller
    passed before there were two backends)."""
    if isinstance(target, Target):
        return target
    text = target.strip()
    scheme, sep, rest = text.partition(":")
    if sep and scheme == DUCKDB:
        if not rest.strip():
            raise TargetError(f"warehouse target {target!r}: duckdb: needs a file path")
        return Target(DUCKDB, rest.strip())
    if sep and scheme == DUCKLAKE:
        dsn = rest.strip()
        if dsn.startswith("postgres:"):
            dsn = dsn[len("postgres:") :]
        if "=" not in dsn:
            raise TargetError(
                f"warehouse target {target!r}: ducklake: needs a libpq DSN, e.g. "
                "ducklake:dbname=wh host=127.0.0.1 port=5432 user=orderflow"
            )
        return Target(DUCKLAKE, dsn, data=data, endpoint_url=endpoint_url)
    if sep and len(scheme) > 1 and "/" not in scheme and "\\" not in scheme:
        raise TargetError(f"warehouse target {target!r}: scheme must be one of {', '.join(SCHEMES)}")
    if not text:
        raise TargetError("warehouse target is empty")
    return Target(DUCKDB, text)


@cache
def extension_file(name: str) -> str:
    """The `.duckdb_extension` file shipped by the extension's PyPI package."""
    module = __import__(_EXTENSIONS[name])
    found = sorted(Path(str(module.__file__)).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    if not found:
        raise RuntimeError(f"{_EXTENSIONS[name]} has no {name}.duckdb_extension (reinstall it)")
    return str(found[-1])


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    for name in names:
        con.execute(f"LOAD '{extension_file(name)}'")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def s3_secret_sql(endpoint_url: str | None) -> str:
    """CREATE SECRET for DuckDB's S3 reads/writes, from the credentials boto finds (the same
    chain the lake's s3fs uses: env, config files, instance role) and the lake's endpoint."""
    import botocore.session

    session = botocore.session.get_session()
    creds = session.get_credentials()
    parts = ["TYPE s3"]
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        parts += [f"KEY_ID {_sql_str(frozen.access_key)}", f"SECRET {_sql_str(frozen.secret_key)}"]
        if frozen.token:
            parts.append(f"SESSION_TOKEN {_sql_str(frozen.token)}")
    parts.append(f"REGION {_sql_str(str(session.get_config_variable('region') or 'us-east-1'))}")
    if endpoint_url:
        url = urlsplit(endpoint_url)
        parts += [
            f"ENDPOINT {_sql_str(url.netloc)}",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if url.scheme == 'https' else 'false'}",
        ]
    return f"CREATE OR REPLACE SECRET orderflow_s3 ({', '.join(parts)})"


def open_ducklake(target: Target, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the DuckLake catalog attached and made the default.

    A new catalog is created (with `target.data` as its DATA_PATH) only by a writer; a reader of
    a catalog that does not exist gets DuckDB's InvalidInputException (duck.connect turns it into
    WarehouseMissing)."""
    data = target.data or ""
    con = duckdb.connect()
    try:
        # httpfs always: an existing catalog's data path (stored in it) may be on S3 even when
        # this target names none.
        load_extensions(con, ("postgres_scanner", "ducklake", "httpfs"))
        if data.startswith("s3://") or target.endpoint_url:
            con.execute(s3_secret_sql(target.endpoint_url))
        elif data and not read_only:
            os.makedirs(data, exist_ok=True)
        opts = []
        if data and not read_only:
            opts.append(f"DATA_PATH {_sql_str(data.rstrip('/') + '/')}")
        if read_only:
            opts.append("READ_ONLY")
        options = f" ({', '.join(opts)})" if opts else ""
        con.execute(f"ATTACH {_sql_str('ducklake:postgres:' + target.location)} AS {CATALOG}{options}")
        con.execute(f"USE {CATALOG}")
    except BaseException:
        con.close()
        raise
    return con


def is_ducklake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `con`'s default catalog is a DuckLake (vs the DuckDB file or an in-memory db)."""
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is not None and row[0] == DUCKLAKE
