"""The S3 requests of a run, from the moto server's own request log (issue 28).

On S3 every request is a round trip (and a charge), so what a run sends is pinned here: an
unchanged re-run of all layers sends no PUT and no HEAD, reads no object twice, and stays within a
per-date budget of GETs and LISTs (it sent 19 GETs, 4 LISTs and a HEAD per date before: every
layer re-read the summary documents, the per-ticker z-score files were read back to compare, and
each layer listed the date's quarantine folder). A full run on a fresh lake reads no object twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from conftest import moto_requests, running_moto

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake

DAYS = idx_calendar.trading_days("2026-01-05", "2026-01-16")[:3]
# The unchanged re-run's budget per date: the footprint manifest and its minutes state, the
# summary document and its check state, the signal outcomes (GETs); the date's tape folders and
# quarantine folder (LISTs). Per run: the universe and the latest summary (GETs); the broker
# summaries, footprint/, and the two z-score folders (LISTs), and one tape folder more than dates.
GETS_PER_DATE, GETS_PER_RUN = 5, 2
LISTS_PER_DATE, LISTS_PER_RUN = 2, 5


@pytest.fixture(scope="module")
def moto_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A moto server of this module's own, its request log in a file (the shared one discards it)."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with running_moto(log) as endpoint:
        yield endpoint, log


def test_an_unchanged_s3_rerun_sends_only_its_listings_and_one_read_per_document(
    tmp_path: Path, moto_log: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance

    from assets.definitions import build_defs
    from assets.runtime.range_runs import materialize_range

    endpoint, log = moto_log
    local = Lake(str(tmp_path / "local"))
    simulate_range(local, DAYS[0], DAYS[-1], n_tickers=6, seed=5)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    s3 = Lake(f"s3://{bucket}/prefix", endpoint_url=endpoint)
    s3.write_many(local.cat_many(local.list("")))
    home = tmp_path / "home"
    home.mkdir()
    for k, v in {
        "ORDERFLOW_LAKE": s3.root,
        "ORDERFLOW_DUCKDB": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_HOME": str(home),
        "ORDERFLOW_S3_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(k, v)

    instance = DagsterInstance.ephemeral()
    offset = moto_requests(log, 0)[1]
    runs: dict[str, list[tuple[str, str]]] = {}
    try:
        for phase in ("full", "unchanged"):
            result = materialize_range(
                build_defs(), DAYS[0], DAYS[-1], instance=instance, log_level="WARNING"
            )
            assert result.success
            runs[phase], offset = moto_requests(log, offset)
    finally:
        instance.dispose()

    for phase, reqs in runs.items():
        read_twice = {k: n for k, n in Counter(k for m, k in reqs if m == "GET").items() if n > 1}
        assert not read_twice, f"{phase} run read objects more than once: {read_twice}"
    kinds = Counter(m for m, _ in runs["unchanged"])
    assert kinds["PUT"] == kinds["HEAD"] == kinds["DELETE"] == 0, kinds
    n = len(DAYS)
    assert kinds["GET"] <= GETS_PER_DATE * n + GETS_PER_RUN, sorted(runs["unchanged"])
    assert kinds["LIST"] <= LISTS_PER_DATE * n + LISTS_PER_RUN, sorted(runs["unchanged"])
