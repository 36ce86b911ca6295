"""HTTP API and dashboard (SPEC §10, §11 read side, §13), by job:

- `models`: pydantic response models (OpenAPI), checked against `documents`;
- `params`: query parsing, every bad input a 400;
- `cache`: the summary body cache (ETag, gzip, last good body while the warehouse is busy);
- `reads`: warehouse-first, lake-fallback reads (history, coverage, health, the summary chain);
- `app`: routes and `create_app`.

`app` below is the uvicorn target (`orderflow_pipeline.api:app`); it shadows the `app` submodule
as a package attribute, which is why callers import `create_app` from here.
"""

from __future__ import annotations

from orderflow_pipeline.api.app import create_app
from orderflow_pipeline.api.cache import MAX_CACHED_DATES
from orderflow_pipeline.api.params import MAX_RANGE_DAYS

app = create_app()

__all__ = ["MAX_CACHED_DATES", "MAX_RANGE_DAYS", "app", "create_app"]
