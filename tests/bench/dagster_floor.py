"""Dagster's own floor for one `orderflow materialize --date D` (issue 28), run as a subprocess.

The same asset graph as the real run (asset names, dependencies, partitions, single-run backfill
policy, every check, the checks that are their own steps as their own steps), with bodies that do
nothing but report their checks passed; started the way the CLI starts (`assets.cli._startup`,
the CLI's SQLite instance, `materialize_range`, out by `os._exit`). What it costs is what any
run of this graph costs in a fresh process before our layers do any work: Python, Dagster's
imports, the instance, creating the run and its planned events, the steps' events.

    python dagster_floor.py '<shape json>' D     (DAGSTER_HOME: the instance to run on)

`shape` is `graph_shape()`'s answer, computed by the caller from the real definitions, so this
process imports none of our layers. Prints one JSON line: seconds to the definitions, to the end
of the run, and the run's event count.
"""

# no `from __future__ import annotations`: Dagster resolves the bodies' annotations at runtime

import json
import os
import sys
import time
from typing import Any

T0 = time.perf_counter()

import dagster as dg  # noqa: E402  (after T0: the import is part of the floor)


def graph_shape() -> dict[str, Any]:
    """{asset: {"deps": [...], "checks": [...in-step], "own_steps": [...check steps]}} of the run."""
    from assets.definitions import build_defs
    from assets.runtime.range_runs import job_for

    defs = build_defs()
    graph = defs.resolve_asset_graph()
    apart = {k for c in defs.asset_checks or [] for k in c.check_keys}
    shape: dict[str, Any] = {}
    for key in job_for(defs, None).asset_layer.executable_asset_keys:
        node = graph.get(key)
        checks = sorted(node.check_keys, key=lambda c: c.name)
        shape[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "checks": [c.name for c in checks if c not in apart],
            "own_steps": [c.name for c in checks if c in apart],
        }
    return shape


def floor_defs(shape: dict[str, Any]) -> Any:
    from assets.partitions import trading_days
    from assets.runtime.range_runs import ALL_LAYERS_JOB

    def make_asset(name: str, spec: dict[str, Any]) -> Any:
        @dg.asset(
            name=name,
            deps=spec["deps"],
            partitions_def=trading_days,
            backfill_policy=dg.BackfillPolicy.single_run(),
            check_specs=[dg.AssetCheckSpec(c, asset=name) for c in spec["checks"]],
        )
        def noop(context: dg.AssetExecutionContext) -> Any:
            for c in spec["checks"]:
                yield dg.AssetCheckResult(check_name=c, passed=True)
            yield dg.MaterializeResult(metadata={"dates": len(context.partition_keys)})

        return noop

    def make_check(asset: str, name: str) -> Any:
        @dg.asset_check(asset=asset, name=name)
        def check() -> dg.AssetCheckResult:
            return dg.AssetCheckResult(passed=True)

        return check

    assets = [make_asset(n, s) for n, s in shape.items()]
    checks = [make_check(n, c) for n, s in shape.items() for c in s["own_steps"]]
    job = dg.define_asset_job(ALL_LAYERS_JOB, selection=list(shape))
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[job])


def main() -> None:
    from assets import cli

    shape, day = json.loads(sys.argv[1]), sys.argv[2]
    with cli._startup():
        from assets.runtime.range_runs import materialize_range

        instance = cli._instance()
        defs = floor_defs(shape)
    t_defs = time.perf_counter()
    result = materialize_range(defs, day, instance=instance, log_level="WARNING")
    events = len(instance.all_logs(result.run_id))
    out = {"defs_s": round(t_defs - T0, 3), "run_end_s": round(time.perf_counter() - T0, 3), "events": events}
    print(json.dumps(out), flush=True)
    sys.stderr.flush()
    os._exit(0 if result.success else 1)


if __name__ == "__main__":
    main()
