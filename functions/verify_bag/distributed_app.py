"""Lambda handlers of the distributed verification (statemachines/verify_bag_distributed.asl.json).

Three functions share this code package with VerifyBagFunction, each with its own role:

- PlanBagFunction → `plan_handler`: reads the bag's central directory and tag files, writes the
  run to the work bucket, returns where the shard items are;
- VerifyShardFunction → `shard_handler`: one Distributed Map item (a shard), or the record of
  that shard's failure when the state machine's Catch passes one;
- AggregateVerdictFunction → `aggregate_handler`: the verdict, delivered exactly as
  VerifyBagFunction delivers one (delivery.deliver: SNS message within 256 KiB, optional full report,
  metrics, a result capped for Step Functions).

Thin on purpose: the steps are `bagverify.pipeline.distributed`.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from app import deadline_for, memory_bytes
from bagverify.pipeline.distributed import (
    ShardItem,
    aggregate_run,
    failed_plan_verdict,
    plan_bag,
    plan_unrecognised,
    record_shard_failure,
    sizing_from,
    verify_shard,
)
from bagverify.pipeline.work import S3WorkStore, run_folder
from delivery import MAX_RESULT_BYTES, deliver, log_verdict, logger, profiles_for, record, s3, tracer
from event_targets import UnrecognisedEvent, event_targets


def _ledger_trigger(trigger: object) -> str:
    """What the ledger records for a distributed run: "audit" when an audit started it."""
    return "audit" if trigger == "audit" else "distributed"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {"bag": {"bucket", "key", "version_id"?, "etag"?, "shard_bytes"?}, "run": execution name}."""
    bag = event.get("bag", event)
    run = run_folder(event.get("run") or uuid.uuid4())
    store = S3WorkStore(s3, os.environ["WORK_BUCKET"], f"{os.environ.get('WORK_PREFIX', 'runs/')}{run}/")
    sizing = sizing_from(
        bag.get("shard_bytes") if isinstance(bag, dict) else None, os.environ.get("SHARD_CONCURRENCY")
    )
    try:
        [target] = event_targets(bag)[:1]
    except UnrecognisedEvent as bad_event:
        logger.error("unrecognised input", extra={"reason": str(bad_event)})
        summary = plan_unrecognised(str(bad_event), store)
        return {**summary, "work": store.describe(), "concurrency": sizing.concurrency}
    location = target.location
    logger.set_correlation_id(location.url)
    planned = plan_bag(
        location,
        store,
        s3,
        sizing=sizing,
        deadline=deadline_for(context.get_remaining_time_in_millis()),
        aggregator_memory=memory_bytes(os.environ.get("AGGREGATOR_MEMORY_MB")),
        mode=target.mode,
        profile=target.profile,
    )
    logger.info("bag planned", extra={"run": run, **planned})
    # Through to the aggregator, which records the verification: an audit's run is recorded as one.
    return {**planned, "trigger": _ledger_trigger(target.trigger)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def shard_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input: one item of shards.json; with "failure" ({"Error", "Cause"}), record that failure instead."""
    logger.set_correlation_id(str(event.get("source", "")))
    store = S3WorkStore.from_description(s3, event["work"])
    if "failure" in event:
        logger.error("shard failed", extra={"shard": event["shard"], "failure": event["failure"]})
        return record_shard_failure(cast(ShardItem, event), event["failure"], store)
    item = cast(ShardItem, event)  # one item of shards.json, as the planner wrote it
    summary = verify_shard(item, store, s3, deadline=deadline_for(context.get_remaining_time_in_millis()))
    logger.info("shard verified", extra=summary)
    return summary


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def aggregate_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input: the planner's output (+ "map_failure"), or the run's input + "failure" if the planner failed."""
    if "work" in event:
        store = S3WorkStore.from_description(s3, event["work"])
        logger.set_correlation_id(str(event.get("source", "")))
        verdict = aggregate_run(store, map_failure=event.get("map_failure"), profiles=profiles_for)
    else:
        verdict = failed_plan_verdict(event, event.get("failure") or {})
        logger.set_correlation_id(verdict.source)
    record(verdict, trigger=_ledger_trigger(event.get("trigger")))
    log_verdict(verdict)
    return deliver(verdict, MAX_RESULT_BYTES)
