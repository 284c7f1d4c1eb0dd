"""The distributed state machine, run by moto's Step Functions interpreter, Distributed Map included.

moto (5.2) executes `statemachines/verify_bag_distributed.asl.json` as written: the Map state in
DISTRIBUTED mode reads its items from S3 with the ItemReader (`s3:getObject`, InputType JSON),
runs each item's ItemProcessor (VerifyShard, and RecordShardFailure through the Catch) on as many
workers as MaxConcurrencyPath says, and applies ResultPath null and the Map's Catch. What moto
lacks, and what these tests therefore do not show: child "executions" run inside the parent's
interpreter, not as executions of their own (no StartExecution, no Map Run, which the deployed
role's states:StartExecution/DescribeExecution/StopExecution are for); ToleratedFailurePercentage
is parsed but ignored (a failed child never fails the Map, which is what 100 means in AWS);
ResultWriter (not used here) writes only an empty manifest; ItemReader has no JSONL or manifest
input (shards.json is a JSON array); and an execution is marked SUCCEEDED a moment before its
output is stored (`execute` waits for it).

As in test_state_machine.py, `lambda:invoke` reaches moto's Lambda API over HTTP, and its
docker-free backend's `invoke` is replaced by one that runs the handler template.yaml names for
that function (PlanBagFunction, VerifyShardFunction, AggregateVerdictFunction), from the code the
functions deploy, answering as Lambda does (`X-Amz-Function-Error: Unhandled` when it raises).
"""

from __future__ import annotations

import io
import json
import random
import time
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from devtools.lambda_runner import ROOT, LocalContext, load_handler
from devtools.local_aws import LocalAws
from devtools.sample_bags import make_bag_tar, make_bag_zip
from devtools.step_functions import DistributedMachine as Machine
from devtools.step_functions import Execution, wait_for_execution
from devtools.step_functions import execute as run_execution

STEP_FUNCTIONS_MAX_BYTES = 256 * 1024
# The states of a run that planned no shard (no bag, or one refused): straight to the aggregator.
NOTHING_TO_SCAN = ["PlanBag", "AnyShards", "AggregateVerdict", "RouteOnVerdict", "VerificationError"]

# 30 payload files of 20 KB, stored: each 26,000 bytes of estimated work (its size plus
# MEMBER_WORK_BYTES), 780,000 in all; shards of at most 270,000 make three shards of ten files.
FILES = {f"scans/page-{number:03d}.bin": bytes([number]) * 20_000 for number in range(30)}
THREE_SHARDS = 270_000


@pytest.fixture
def machine(distributed_machine: Machine) -> Machine:
    """The distributed state machine (tests/integration/conftest.py), its functions and their hooks."""
    return distributed_machine


def execute(aws: LocalAws, machine: Machine, payload: dict[str, Any], timeout: float = 120) -> Execution:
    return run_execution(aws, machine.arn, payload, timeout)


def run_objects(aws: LocalAws, machine: Machine) -> dict[str, bytes]:
    """Every object the run wrote to the work bucket, by key."""
    s3 = aws.client("s3")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=machine.work_bucket)
        for item in page.get("Contents", [])
    ]
    return {key: s3.get_object(Bucket=machine.work_bucket, Key=key)["Body"].read() for key in keys}


def corrupt_member(archive: bytes, name: str, at: int = 100) -> bytes:
    """`archive` with one byte of `name`'s stored data flipped: bit rot inside the ZIP."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    assert info.compress_type == zipfile.ZIP_STORED
    name_length, extra_length = (
        int.from_bytes(archive[info.header_offset + 26 : info.header_offset + 28], "little"),
        int.from_bytes(archive[info.header_offset + 28 : info.header_offset + 30], "little"),
    )
    data = bytearray(archive)
    data[info.header_offset + 30 + name_length + extra_length + at] ^= 0xFF
    return bytes(data)


def shard_items(objects: dict[str, bytes]) -> list[dict[str, Any]]:
    [key] = [key for key in objects if key.endswith("/shards.json")]
    return json.loads(objects[key])  # type: ignore[no-any-return]


# -- the tests ---------------------------------------------------------------------------------------


def test_a_valid_bag_in_three_shards_is_valid(aws, s3, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(FILES, compression="stored"))
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/bag.zip", "shard_bytes": THREE_SHARDS}
    )
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.history
    verdict = execution.output
    assert verdict["status"] == "valid", verdict["problems"]
    assert verdict["source"] == f"s3://{bucket}/incoming/bag.zip"
    assert verdict["object"]["etag"] and verdict["object"]["size"] > 0
    assert (verdict["stats"]["files"], verdict["stats"]["bytes"]) == (30, 600_000)
    objects = run_objects(aws, machine)
    items = shard_items(objects)
    assert len(items) == 3
    assert [item["shard"]["files"] for item in items] == [10, 10, 10]
    # Every shard ran once and wrote its result; the planner and the aggregator ran once each.
    assert sorted(e["shard"]["number"] for e in machine.invocations["VerifyShardFunction"]) == [0, 1, 2]
    assert (
        len(machine.invocations["PlanBagFunction"])
        == len(machine.invocations["AggregateVerdictFunction"])
        == 1
    )
    assert sum(key.endswith(".jsonl") and "/results/shard-" in key for key in objects) == 3
    # One SNS message for the bag, however many shards.
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "valid"


def test_a_corrupt_member_in_the_middle_shard_makes_the_bag_invalid_naming_it(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    archive = corrupt_member(
        make_bag_zip(FILES, compression="stored"), "sample-bag/data/scans/page-015.bin", at=1234
    )
    s3.put_object(Bucket=bucket, Key="incoming/rotten.zip", Body=archive)
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/rotten.zip", "shard_bytes": THREE_SHARDS}
    )
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagInvalid"), execution.history
    problems = execution.output["problems"]
    assert [(p["kind"], p["path"]) for p in problems] == [("corrupt_member", "data/scans/page-015.bin")]
    assert "CRC-32" in problems[0]["message"]
    # It was found by the middle shard, of three.
    objects = run_objects(aws, machine)
    assert len(shard_items(objects)) == 3
    results = {key.rsplit("/", 1)[1]: value for key, value in objects.items() if "/results/shard-" in key}
    assert b"page-015.bin" in results["shard-00001.jsonl"].split(b"\n")[0]
    assert b"corrupt_member" not in results["shard-00000.jsonl"] + results["shard-00002.jsonl"]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "invalid"


def test_a_small_bag_is_one_shard_through_the_same_state_machine(aws, s3, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/small.zip", Body=make_bag_zip())
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/small.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.history
    assert execution.entered[:3] == ["PlanBag", "AnyShards", "VerifyShards"]
    assert len(machine.invocations["VerifyShardFunction"]) == 1
    assert execution.output["stats"]["files"] == 4
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "valid"


def _fail_shard(number: int, *, also_its_record: bool = False) -> Callable[[dict[str, Any]], None]:
    def fault(event: dict[str, Any]) -> None:
        if event["shard"]["number"] == number and (also_its_record or "failure" not in event):
            raise RuntimeError(f"injected failure of shard {number + 1}")

    return fault


def test_a_failed_shard_is_an_error_naming_it_and_the_other_shards_problems_are_kept(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    # Shard 2's Lambda fails; shard 3 holds a corrupt member.
    archive = corrupt_member(make_bag_zip(FILES, compression="stored"), "sample-bag/data/scans/page-025.bin")
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=archive)
    machine.faults["VerifyShardFunction"] = _fail_shard(1)
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/bag.zip", "shard_bytes": THREE_SHARDS}
    )
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    verdict = execution.output
    assert verdict["status"] == "error"
    kinds = [(p["kind"], p.get("path")) for p in verdict["problems"]]
    assert kinds == [("corrupt_member", "data/scans/page-025.bin"), ("step_failed", None)]
    failed = verdict["problems"][1]
    assert failed["message"].startswith("shard 2 of 3 ")
    assert "RuntimeError" in failed["message"] and "injected failure of shard 2" in failed["message"]
    assert (failed["shard"], failed["shards"]) == (2, 3)
    assert failed["error"]["Error"] == "RuntimeError"
    # Not retried (a task failure), recorded once by RecordShardFailure; its members are neither
    # called missing nor counted as verified.
    calls = machine.invocations["VerifyShardFunction"]
    assert [e["shard"]["number"] for e in calls if "failure" not in e].count(1) == 1
    assert [e["shard"]["number"] for e in calls if "failure" in e] == [1]
    assert verdict["stats"]["files"] == 20
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "error"
    assert notification["Message"]["problem_count"] == 2


def test_a_shard_that_leaves_no_result_at_all_is_named(aws, s3, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(FILES, compression="stored"))
    machine.faults["VerifyShardFunction"] = _fail_shard(2, also_its_record=True)
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/bag.zip", "shard_bytes": THREE_SHARDS}
    )
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    problems = execution.output["problems"]
    named = [p for p in problems if p["kind"] == "step_failed" and p.get("shard") == 3]
    assert len(named) == 1 and "wrote no result" in named[0]["message"], problems
    # Its members are neither missing nor verified; the Map went on (ToleratedFailurePercentage
    # 100 in AWS; moto ignores that field and never fails a Distributed Map for a failed child).
    assert problems == named
    assert "VerifyShards" in execution.entered and execution.output["stats"]["files"] == 20
    aws.receive_notifications(topic[1])


def test_a_failed_planner_is_published_as_an_error_verdict(aws, s3, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())

    def out_of_memory(event: dict[str, Any]) -> None:
        raise MemoryError("injected")

    machine.faults["PlanBagFunction"] = out_of_memory
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered == ["PlanBag", "AggregateVerdict", "RouteOnVerdict", "VerificationError"]
    verdict = execution.output
    [problem] = verdict["problems"]
    assert (
        problem["kind"] == "step_failed" and "the planner's Lambda failed (MemoryError)" in problem["message"]
    )
    assert verdict["source"] == f"s3://{bucket}/incoming/bag.zip"
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"][0]["kind"] == "step_failed"


def test_a_missing_bag_skips_the_map_and_is_published_as_not_found(aws, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/never-uploaded.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered == NOTHING_TO_SCAN
    assert [p["kind"] for p in execution.output["problems"]] == ["not_found"]
    assert machine.invocations["VerifyShardFunction"] == []
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "error"


def test_an_object_replaced_after_planning_is_an_error_never_a_mixed_verdict(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(FILES, compression="stored"))
    replaced = []

    def replace_before_the_second_shard(event: dict[str, Any]) -> None:
        if event["shard"]["number"] == 1 and not replaced:
            replaced.append(s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(FILES)))

    machine.faults["VerifyShardFunction"] = replace_before_the_second_shard
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/bag.zip", "shard_bytes": THREE_SHARDS}
    )
    assert execution.final_state == "VerificationError", execution.history
    problems = execution.output["problems"]
    # Shards read after the upload are refused (IfMatch on the ETag the planner saw) and say so;
    # shard 3 may have run before the upload (up to 4 shards at once).
    changed = [p for p in problems if p["kind"] == "object_changed"]
    assert {p["shard"] for p in changed} >= {2}
    assert all(p["message"].startswith(f"shard {p['shard']} of 3 ") for p in changed)
    assert all("replaced after it was planned" in p["message"] for p in changed)
    assert {p["kind"] for p in problems} == {"object_changed"}, problems
    aws.receive_notifications(topic[1])


def test_a_failed_aggregator_still_ends_in_an_error_verdict(aws, s3, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())

    def crash(event: dict[str, Any]) -> None:
        raise KeyError("TOPIC_ARN")

    machine.faults["AggregateVerdictFunction"] = crash
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered[-5:] == [
        "LambdaFailed",
        "BuildErrorVerdict",
        "BuildErrorMessage",
        "PublishErrorVerdict",
        "VerificationError",
    ]
    [problem] = execution.output["problems"]
    assert problem["kind"] == "lambda_failed" and problem["error"]["Error"] == "KeyError"
    assert execution.output["object"] == {"bucket": bucket, "key": "incoming/bag.zip"}
    assert len(machine.invocations["AggregateVerdictFunction"]) == 1, "a task failure is not retried"
    # Nothing else published a verdict: the state machine did (checked against the schema).
    [notification] = aws.receive_notifications(topic[1])
    message = notification["Message"]
    assert (message["status"], message["problem_count"]) == ("error", 1)
    assert message["problems"] == [problem]
    no_version = {"version_id": None, "etag": None}
    assert message["object"] == {"bucket": bucket, "key": "incoming/bag.zip", **no_version}
    assert notification["MessageAttributes"]["status"] == {"Type": "String", "Value": "error"}
    assert notification["MessageAttributes"]["bucket"] == {"Type": "String", "Value": bucket}


def test_a_failed_aggregator_on_a_routed_upload_publishes_only_the_bags_fields(  # type: ignore[no-untyped-def]
    aws, s3, versioned_bucket, topic, machine
) -> None:
    """The input routing.py gives (version id, ETag) plus shard_bytes: the message's object names the
    version and ETag, and nothing else of the input (the schema allows no other field)."""
    put = s3.put_object(Bucket=versioned_bucket, Key="incoming/bag.zip", Body=make_bag_zip())

    def crash(event: dict[str, Any]) -> None:
        raise MemoryError("injected")

    machine.faults["AggregateVerdictFunction"] = crash
    bag = {
        "bucket": versioned_bucket,
        "key": "incoming/bag.zip",
        "version_id": put["VersionId"],
        "etag": put["ETag"].strip('"'),
    }
    execution = execute(aws, machine, {**bag, "shard_bytes": THREE_SHARDS})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.output["object"] == {**bag, "shard_bytes": THREE_SHARDS}  # the input, as before
    [notification] = aws.receive_notifications(topic[1])
    message = notification["Message"]
    assert message["object"] == bag
    [problem] = message["problems"]
    assert (problem["kind"], problem["error"]["Error"]) == ("lambda_failed", "MemoryError")


def test_a_failed_aggregator_whose_verdict_cannot_be_published_still_ends_in_an_error_verdict(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())

    def crash(event: dict[str, Any]) -> None:
        raise KeyError("TOPIC_ARN")

    machine.faults["AggregateVerdictFunction"] = crash
    # The same definition, its topic substituted by one that does not exist (SNS NotFound).
    no_topic = aws.client("stepfunctions").create_state_machine(
        name=f"VerifyBagDistributedNoTopic-{time.monotonic_ns()}",
        definition=machine.definition.replace("${VerdictTopicArn}", f"{topic[0]}-deleted"),
        roleArn=machine.role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    execution = run_execution(aws, no_topic, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered[-3:] == ["PublishErrorVerdict", "ErrorVerdictNotPublished", "VerificationError"]
    verdict = execution.output
    assert set(verdict) == {"status", "source", "object", "problems", "warnings", "stats"}
    assert verdict["status"] == "error" and verdict["object"] == {"bucket": bucket, "key": "incoming/bag.zip"}
    assert [p["kind"] for p in verdict["problems"]] == ["lambda_failed"]
    assert aws.receive_notifications(topic[1]) == []


def test_an_oversized_verdict_is_capped_for_step_functions(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine, some_missing_bag
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/some-missing.zip", Body=some_missing_bag)
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/some-missing.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagInvalid"), execution.status
    output = execution.output
    assert len(json.dumps(output).encode()) <= STEP_FUNCTIONS_MAX_BYTES
    assert output["problem_count"] == 3_000 and output["problems_truncated"] is True
    aws.receive_notifications(topic[1])


def test_each_shard_reads_only_its_own_byte_range_and_the_planner_only_what_it_needs(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    # 12 random files of 3 MiB, stored: three shards of ~12 MiB, each more than one 8 MiB part.
    rng = random.Random(6)
    files = {f"part-{number:02d}.bin": rng.randbytes(3 * 1024 * 1024) for number in range(12)}
    archive = make_bag_zip(files, algorithms=("sha256",), compression="stored")
    s3.put_object(Bucket=bucket, Key="incoming/big.zip", Body=archive)
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/big.zip", "shard_bytes": 13 * 1024 * 1024}
    )
    assert execution.final_state == "BagValid", execution.output
    objects = run_objects(aws, machine)
    items = shard_items(objects)
    assert len(items) == 3
    for item in items:
        [result] = [value for key, value in objects.items() if key.endswith(item["result"])]
        header = json.loads(result.split(b"\n", 1)[0])
        span = item["shard"]["end"] - item["shard"]["start"]
        # Its range and a 64 KiB first GET: no read-ahead into the next shard's range.
        assert span <= header["bytes_read"] <= span + 64 * 1024, (item["shard"], header["bytes_read"])
        assert header["hedged_requests"] == 0  # moto answers evenly: no part is slow
    planner = json.loads(next(v for k, v in objects.items() if k.endswith("/plan.json")))["planner"]
    # The 8 MiB tail (directory, manifests) and the 8 MiB part holding bagit.txt and bag-info.txt.
    assert planner["get_requests"] == 2 and planner["bytes_read"] == 16 * 1024 * 1024
    assert planner["hedged_requests"] == 0
    stats = execution.output["stats"]
    assert stats["hedged_requests"] == 0
    assert stats["bytes_read"] <= len(archive) + 16 * 1024 * 1024 + 3 * 64 * 1024
    aws.receive_notifications(topic[1])


def test_a_shard_out_of_time_stops_before_the_deadline_and_is_named(aws, s3, bucket, topic, machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(FILES, compression="stored"))
    # Shard 3's Lambda has 2 s left: under the handler's 10 s safety margin, it stops at once.
    machine.time_left["VerifyShardFunction"] = lambda event: (
        2_000 if event["shard"]["number"] == 2 else 900_000
    )
    execution = execute(
        aws, machine, {"bucket": bucket, "key": "incoming/bag.zip", "shard_bytes": THREE_SHARDS}
    )
    assert execution.final_state == "VerificationError", execution.history
    [problem] = execution.output["problems"]
    assert problem["kind"] == "timeout" and (problem["shard"], problem["shards"]) == (3, 3)
    assert (
        problem["message"].startswith("shard 3 of 3 ") and "stopped before the deadline" in problem["message"]
    )
    assert problem["files_verified"] == 0
    assert execution.output["stats"]["files"] == 20
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"][0]["kind"] == "timeout"


def test_a_large_upload_routed_by_the_s3_trigger_gets_its_verdict_from_this_state_machine(  # type: ignore[no-untyped-def]
    aws, s3, versioned_bucket, topic, machine, monkeypatch
) -> None:
    """VerifyBagFunction on an S3 event for an upload over the threshold starts this state machine,
    whose aggregator publishes the one verdict; a repeated delivery starts nothing more."""
    archive = make_bag_zip(FILES, compression="stored")
    put = s3.put_object(Bucket=versioned_bucket, Key="incoming/large bag.zip", Body=archive)
    monkeypatch.setenv("DISTRIBUTED_STATE_MACHINE_ARN", machine.arn)
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", "100000")
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = versioned_bucket
    event["Records"][0]["s3"]["object"].update(
        key="incoming/large+bag.zip",
        size=len(archive),
        versionId=put["VersionId"],
        eTag=put["ETag"].strip('"'),
    )
    s3_trigger = load_handler("VerifyBagFunction")
    routed = s3_trigger(event, LocalContext())
    execution = wait_for_execution(aws, routed["execution_arn"])
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.history
    assert execution.output["stats"]["files"] == 30
    [plan] = machine.invocations["PlanBagFunction"]
    name = routed["execution_arn"].rsplit(":", 1)[1]
    assert plan == {
        "bag": {
            "bucket": versioned_bucket,
            "key": "incoming/large bag.zip",
            "version_id": put["VersionId"],
            "etag": put["ETag"].strip('"'),
        },
        "run": name,
    }
    assert any(key.startswith(f"runs/{name}/") for key in run_objects(aws, machine))
    # Delivered again after the run ended: already started, nothing run or published again.
    again = s3_trigger(event, LocalContext())
    assert (again["execution_arn"], again["already_started"]) == (routed["execution_arn"], True)
    assert len(machine.invocations["PlanBagFunction"]) == 1
    [notification] = aws.receive_notifications(topic[1])
    message = notification["Message"]
    assert message["status"] == "valid"
    assert (message["object"]["version_id"], message["object"]["etag"]) == (put["VersionId"], put["ETag"])


def test_a_bag_of_more_files_than_the_aggregator_holds_is_refused_by_the_planner_and_published(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine, monkeypatch
) -> None:
    # PlanBagFunction's environment names the aggregator's memory (template: LargeBagMemorySize);
    # 60 MB is less than any bag needs, as millions of files are in the deployed 3,008 MB.
    monkeypatch.setenv("AGGREGATOR_MEMORY_MB", "60")
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(FILES))
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered == NOTHING_TO_SCAN
    assert machine.invocations["VerifyShardFunction"] == []
    [problem] = execution.output["problems"]
    assert problem["kind"] == "too_many_files" and problem["entries"] >= 30
    assert "LargeBagMemorySize" in problem["message"]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "error"
    assert notification["Message"]["problems"][0]["kind"] == "too_many_files"


def test_a_tar_bag_is_refused_by_the_planner_as_not_shardable_and_published(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.tar.gz", Body=make_bag_tar())
    execution = execute(aws, machine, {"bucket": bucket, "key": "incoming/bag.tar.gz"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    [problem] = execution.output["problems"]
    assert problem["kind"] == "not_shardable" and "bagverify verify s3://" in problem["message"]
    assert not machine.invocations["VerifyShardFunction"]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"][0]["kind"] == "not_shardable"


def test_completeness_mode_through_the_distributed_machine_runs_no_shard(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, machine
) -> None:
    archive = corrupt_member(
        make_bag_zip(FILES, compression="stored"), "sample-bag/data/scans/page-015.bin", at=1234
    )
    s3.put_object(Bucket=bucket, Key="incoming/rotten.zip", Body=archive)
    payload = {
        "bucket": bucket,
        "key": "incoming/rotten.zip",
        "shard_bytes": THREE_SHARDS,
        "mode": "completeness",
    }
    execution = execute(aws, machine, payload)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.history
    assert (
        execution.output["mode"] == "completeness"
    )  # complete: its bytes were not read, so not a fixity proof
    assert (execution.output["stats"]["files"], execution.output["stats"]["bytes"]) == (30, 600_000)
    assert not machine.invocations["VerifyShardFunction"]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["mode"] == "completeness"
