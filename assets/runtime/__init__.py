"""How runs are launched and waited on: run owners, reaping, pool waits, range runs, failure lines.

Runs that died must never hold resources (issue 16). Dagster's concurrency pools (the DuckDB
writer pool, the footprint pool; limit 1 each in dagster.yaml) are rows in the instance's
storage: a run killed with SIGKILL never frees its row, stays `STARTED` for ever, and every later
run waits for that slot silently. Hence `owners` (who executes a run, is it alive), `reaper` (fail
dead runs, free their slots), `pool_wait` (sleep and say who holds a slot), `range_runs` (one run
for a range of dates), `failure` (one line naming why a run failed) and `services` (the demos'
servers, stopped with their whole process tree within seconds of Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import logging

# One logger for the whole package: its name is what operators see on stderr next to Dagster's log.
log = logging.getLogger("orderflow.runner")
