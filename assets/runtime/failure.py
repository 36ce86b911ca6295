"""One line naming why a run failed, for the end of `orderflow materialize` and the demo.

The line names the first failed step and the asset's own error (not Dagster's wrappers) and where
the data lives; the whole error chain with stacks follows it as the details.
"""

from __future__ import annotations

from collections.abc import Iterator

from dagster import DagsterEventType, DagsterInstance
from dagster_shared.error import SerializableErrorInfo


def _chain(error: SerializableErrorInfo | None) -> Iterator[SerializableErrorInfo]:
    seen = 0
    while error is not None and seen < 20:
        yield error
        error = error.cause or error.context
        seen += 1


def _own(error: SerializableErrorInfo) -> bool:
    """An error the asset's code raised, not one of Dagster's wrappers, check failures or its
    "Exceeded max_retries" note after the last try of a step with a RetryPolicy."""
    return not (error.cls_name or "").startswith(("Dagster", "dagster.")) and not error.message.startswith(
        "Exceeded max_retries"
    )


def _one_line(error: SerializableErrorInfo) -> str:
    msg = " ".join(error.message.split())
    return msg if len(msg) <= 300 else msg[:297] + "..."


def failure_line(instance: DagsterInstance, run_id: str) -> tuple[str, str]:
    """(one line naming the cause, the details) for a failed run.

    The line names the first failed step and the asset's own errors of the chain, outermost and
    innermost (where the object key or endpoint of an I/O error is spelled); the lake, S3
    endpoint and warehouse are added because a storage error's message often omits them. The
    details are the whole chain with stacks, printed after the line.
    """
    from orderflow_pipeline.config import get_settings

    failed: list[tuple[str | None, SerializableErrorInfo | None]] = []
    run_error = None
    for rec in instance.all_logs(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    ):
        ev = rec.dagster_event
        if ev is None:
            continue
        err = getattr(ev.event_specific_data, "error", None)
        if ev.event_type == DagsterEventType.STEP_FAILURE:
            failed.append((ev.step_key, err))
        elif run_error is None:
            run_error = err
    # The cause is the first step that raised an error of its own (an I/O error, say); a blocking
    # check failing (Dagster's own error) is named only when no step raised. With step retries a
    # raising step fails after its last try, so it may end after a check-failed step.
    raised = [(st, e) for st, e in failed if e is not None and any(_own(x) for x in _chain(e))]
    step, error = (raised or failed or [(None, None)])[0]
    error = error or run_error
    if error is None:
        return f"FAILED run {run_id}: step {step or '(run)'}: no error recorded", ""
    chain = list(_chain(error))
    # Dagster wraps the asset's exception ("Error occurred while executing op ..."): name the
    # asset's own errors, outermost and innermost (the message spells the class).
    own = [e for e in chain if _own(e)] or chain
    cause = _one_line(own[0]) if len(own) == 1 else f"{_one_line(own[0])} <- caused by {_one_line(own[-1])}"
    s = get_settings()
    where = f"lake {s.lake}" + (f" via endpoint {s.s3_endpoint_url}" if s.s3_endpoint_url else "")
    retries = sum(
        1
        for rec in instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        if rec.dagster_event is not None and rec.dagster_event.step_key == step
    )
    label = f"{step} ({retries + 1} tries)" if retries else (step or "(run)")
    line = f"FAILED run {run_id}: step {label}: {cause} [{where}, warehouse {s.warehouse}]"
    details = chain[0].to_string()
    return line, details
