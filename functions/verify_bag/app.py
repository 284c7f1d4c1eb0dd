"""Lambda handler: event in → engine → verdict out (logs, metrics, SNS, the return value for Step Functions).

An upload too large for one invocation is handed to the distributed state machine instead
(`routing.py`), whose aggregator publishes its verdict. Thin on purpose: everything about bags lives
in the `bagverify` engine (the layer).
Nothing here, nor in the engine, writes to /tmp or any disk (a full report goes to S3 from memory).
"""

from __future__ import annotations

import functools
import gc
import time
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from bagverify import Kind, Problem, Status, Verdict
from bagverify.verdict import error_verdict
from bagverify.verify import verify_s3_object
from delivery import MAX_RESULT_BYTES, deliver, log_verdict, logger, metrics, profiles_for, record, s3, tracer
from event_targets import Target, UnrecognisedEvent, event_targets
from routing import Routing, Started, start_distributed

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Everything made so far (boto3's service models: ~70,000 objects) lives as long as the execution
# environment; frozen, the garbage collections a scan of many small files triggers skip it.
gc.freeze()

# Verification stops this long before Lambda's deadline, leaving time to publish an error verdict
# (kind timeout) instead of being killed silently: 5% of the time left, and at least 10 s.
MIN_SAFETY_SECONDS = 10.0
SAFETY_FRACTION = 0.05


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = deadline_for(context.get_remaining_time_in_millis())
    try:
        targets = event_targets(event)
    except UnrecognisedEvent as bad_event:
        return deliver(_unrecognised_event_verdict(bad_event), MAX_RESULT_BYTES)
    routing = Routing.from_environment()
    # Uploads too large for one invocation are handed over first: if that fails, the invocation
    # fails (and is retried) before anything else the event names has been verified and published.
    routed = {
        index: _route(target, routing) for index, target in enumerate(targets) if routing.routes(target)
    }
    budget = MAX_RESULT_BYTES // len(targets)
    memory_limit = _memory_limit(context)
    results = []
    for index, target in enumerate(targets):
        if index in routed:
            results.append(routed[index])
            continue
        logger.set_correlation_id(target.location.url)
        verdict = _verify(target, deadline, memory_limit)
        if _has_too_many_files(verdict) and routing.can_route(target):
            # Small in bytes but too many files for this function's memory (known once the central
            # directory is read): an upload goes to the distributed machine after all.
            results.append(_route(target, routing))
            continue
        record(verdict, trigger=target.trigger)
        log_verdict(verdict)
        results.append(deliver(verdict, budget))
    return results[0] if len(results) == 1 else {"verdicts": results}


def _memory_limit(context: LambdaContext) -> int | None:
    """The function's memory in bytes."""
    return memory_bytes(getattr(context, "memory_limit_in_mb", None))


def memory_bytes(megabytes: object) -> int | None:
    """Lambda's megabytes (MiB; the runtime gives a string or a number) in bytes; None if not a number."""
    try:
        return int(str(megabytes)) * 1024 * 1024
    except ValueError:
        return None


def _has_too_many_files(verdict: Verdict) -> bool:
    return verdict.status == Status.ERROR and any(p.kind == Kind.TOO_MANY_FILES for p in verdict.problems)


def deadline_for(remaining_ms: int, now: float | None = None) -> float:
    """The `time.monotonic()` value at which verification must stop, given Lambda's remaining time."""
    remaining = remaining_ms / 1000
    safety = max(MIN_SAFETY_SECONDS, SAFETY_FRACTION * remaining)
    return (time.monotonic() if now is None else now) + remaining - safety


@tracer.capture_method(capture_response=False)
def _verify(target: Target, deadline: float, memory_limit: int | None) -> Verdict:
    try:
        profiles = profiles_for(target.profile)
    except Exception as failure:
        # Here, not at module level: the profile code is loaded only where profiles are used.
        from bagverify.bag.profile import ProfileInvalid
        from bagverify.sources.profiles import ProfileUnavailable, profile_error

        if not isinstance(failure, ProfileInvalid | ProfileUnavailable):
            raise
        # The operator's to fix: the bag is not judged against a profile that can't be read.
        return error_verdict(profile_error(failure), target.location.url, target.location.object_info())
    return verify_s3_object(
        target.location,
        s3,
        deadline=deadline,
        memory_limit=memory_limit,
        mode=target.mode,
        profiles=profiles,
    )


@tracer.capture_method(capture_response=False)
def _route(target: Target, routing: Routing) -> dict[str, Any]:
    """Start the distributed verification of an upload of `routing.threshold_bytes` or more; what was
    started, in place of a verdict (nothing is published here: the run's aggregator publishes)."""
    logger.set_correlation_id(target.location.url)
    # Any failure but "already started" propagates: see routing.start_distributed.
    started: Started = start_distributed(_stepfunctions(), routing.state_machine_arn, target.location)
    logger.info(
        "bag already routed to the distributed state machine"
        if started.already_started
        else "bag routed to the distributed state machine",
        extra={
            "execution_arn": started.execution_arn,
            "already_started": started.already_started,
            "object": target.location.object_info(),
            "size": target.size,
            "threshold_bytes": routing.threshold_bytes,
        },
    )
    # One EMF document, status "routed": how many uploads went to the distributed machine.
    metrics.add_dimension(name="status", value="routed")
    metrics.add_metric(name="BagsRouted", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    return {
        "routed": "distributed",
        "source": target.location.url,
        "object": {**target.location.object_info(), "size": target.size},
        "execution_arn": started.execution_arn,
        "already_started": started.already_started,
    }


@functools.cache
def _stepfunctions() -> Any:
    """Made on the first upload routed (most environments route none: no need to load Step Functions'
    service model at every cold start), then reused like the other clients."""
    return boto3.client("stepfunctions")


def _unrecognised_event_verdict(bad_event: UnrecognisedEvent) -> Verdict:
    logger.error("unrecognised event", extra={"reason": str(bad_event)})
    problem = Problem(Kind.BAD_EVENT, str(bad_event))
    return error_verdict(problem, "")
