"""HTTP side of the exports (issue 21): turn `export.py`'s files and CSV into responses.

The Parquet route copies under a read-only connection that is closed before the first byte is
sent, so a slow client never holds the warehouse; the temp file is deleted when the stream ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import duckdb
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException

from orderflow_pipeline.api.params import BadInput
from orderflow_pipeline.read import export
from orderflow_pipeline.warehouse import duck, queries

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


def summary_csv_response(body: bytes, stale: bool) -> Response:
    """The cached summary body (JSON bytes) as CSV, named after its date."""
    doc = json.loads(body)
    name = f"footprint-summary-{doc.get('date') or 'latest'}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-cache",
               "X-Summary-Status": str(doc.get("status"))}  # fmt: skip
    if stale:
        headers["X-Stale"] = "1"
    return Response(export.summary_csv(doc), media_type="text/csv; charset=utf-8", headers=headers)


def parquet_response(
    target: str | duck.Target, table: str, start: date, end: date, tickers: Sequence[str]
) -> Response:
    """Stream the export of `table` as Parquet; 400 for a bad request, 404 for a table or warehouse
    that does not exist yet, WarehouseBusy (-> 503) while a writer holds the file."""
    if table not in export.EXPORT_TABLES:
        raise HTTPException(404, f"no export for {table!r}; exportable: {', '.join(export.EXPORT_TABLES)}")
    try:
        export.check_request(table, start, end, tickers)
    except export.ExportError as exc:
        raise BadInput(str(exc)) from exc
    try:
        with queries.reading(target) as con:
            path, rows = export.parquet_tempfile(con, table, start, end, tickers)
    except duck.WarehouseMissing as exc:
        raise HTTPException(404, f"{exc}: nothing to export") from exc
    except duckdb.CatalogException as exc:
        raise HTTPException(404, f"table {table} has not been materialized yet") from exc
    name = f"{table}_{start.isoformat()}_{end.isoformat()}.parquet"
    return StreamingResponse(
        export.stream_file(path),
        media_type=PARQUET_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Rows": str(rows)},
    )
