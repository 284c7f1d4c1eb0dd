"""AuditStateMachine's real definition executed by moto's Step Functions, its Lambda tasks running the real
handlers (audit_app.py, VerifyBagFunction's app.py, the distributed machine's), against moto's S3, SNS,
DynamoDB and EventBridge Scheduler over HTTP.

A prefix run verifies a dozen bags (one broken) and passes over what is not a bag; a due run takes the
ledger's bags oldest first within its byte budget and skips recent ones; a replaced bag is a regression;
a verification that fails is still a row (error) with its verdict published; a bag at the distributed
threshold goes through the distributed machine; the schedule's input, as the template gives it, starts a
due run.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from bagverify.ledger import Ledger
from devtools.lambda_runner import ROOT, LocalContext, load_handler, load_template
from devtools.local_aws import LocalAws
from devtools.sample_bags import flip_byte, make_bag_zip
from devtools.step_functions import DistributedMachine, Execution, Lambdas, execute

DEFINITION = ROOT / "statemachines" / "audit.asl.json"
SUMMARY_SCHEMA = json.loads((ROOT / "schemas" / "audit-summary.schema.json").read_text())
AUDIT_FUNCTIONS = ("AuditSelectFunction", "AuditRecordFunction", "AuditReportFunction", "VerifyBagFunction")
DEFAULT_THRESHOLD = int(load_template()["Parameters"]["DistributedThresholdBytes"]["Default"])


@dataclass
class AuditMachine:
    arn: str
    lambdas: Lambdas
    ledger: Ledger
    work_bucket: str
    report_bucket: str
    summaries: str  # the audit topic's queue
    definition: str  # functions substituted; threshold and concurrency not yet

    def with_threshold(self, aws: LocalAws, threshold: int) -> str:
        text = self.definition.replace("${DistributedThresholdBytes}", str(threshold))
        return str(
            aws.client("stepfunctions").create_state_machine(
                name=f"Audit-{time.monotonic_ns()}",
                definition=text.replace("${AuditConcurrency}", "4"),
                roleArn=self.lambdas.role_arn,
                type="STANDARD",
            )["stateMachineArn"]
        )


@pytest.fixture
def audit_machine(  # type: ignore[no-untyped-def]
    aws: LocalAws, topic, lambdas: Lambdas, distributed_machine: DistributedMachine, monkeypatch
) -> AuditMachine:
    """AuditStateMachine from its real definition, with its functions' environment as template.yaml sets it
    (the ledger, the work bucket the distributed machine uses too, a report bucket, the audit topic)."""
    ledger = Ledger(aws.client("dynamodb"), f"audit-ledger-{lambdas.suffix}")
    ledger.create()
    report_bucket = aws.create_bucket(f"audit-reports-{lambdas.suffix}")
    audit_topic, summaries = aws.create_topic_with_queue(f"audits-{lambdas.suffix}")
    for name, value in {
        "BAGVERIFY_LEDGER_TABLE": ledger.table,
        "REPORT_BUCKET": report_bucket,
        "AUDIT_TOPIC_ARN": audit_topic,
        "AUDIT_INTERVAL_DAYS": "90",
        "AUDIT_MAX_BYTES_PER_RUN": "0",
    }.items():
        monkeypatch.setenv(name, value)
    text = DEFINITION.read_text(encoding="utf-8").replace(
        "${VerifyBagDistributedStateMachineArn}", distributed_machine.arn
    )
    for function_id in AUDIT_FUNCTIONS:
        text = text.replace(f"${{{function_id}Arn}}", lambdas.create(function_id))
    machine = AuditMachine(
        "", lambdas, ledger, distributed_machine.work_bucket, report_bucket, summaries, text
    )
    machine.arn = machine.with_threshold(aws, DEFAULT_THRESHOLD)
    assert "${" not in text.replace("${DistributedThresholdBytes}", "").replace("${AuditConcurrency}", "")
    return machine


def run(aws: LocalAws, arn: str, payload: dict[str, Any]) -> Execution:
    execution = execute(aws, arn, payload, timeout=300)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "Audited"), execution.history[-3:]
    return execution


def summaries(aws: LocalAws, machine: AuditMachine) -> list[dict[str, Any]]:
    """The audit topic's messages, each checked against schemas/audit-summary.schema.json."""
    sqs, found = aws.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=machine.summaries, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            envelope = json.loads(message["Body"])
            assert envelope["MessageAttributes"]["type"]["Value"] == "audit_summary"
            body = json.loads(envelope["Message"])
            jsonschema.validate(body, SUMMARY_SCHEMA)
            found.append(body)
            sqs.delete_message(QueueUrl=machine.summaries, ReceiptHandle=message["ReceiptHandle"])
    return found


def report_rows(aws: LocalAws, url: str) -> list[dict[str, str]]:
    bucket, key = url.removeprefix("s3://").split("/", 1)
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def chosen(s3: Any, machine: AuditMachine, execution: Execution) -> list[str]:
    """The keys a due run's selection gave its Map, in order (audits/<run>/bags.json)."""
    key = f"audits/{execution.output['run']}/bags.json"
    return [
        item["key"] for item in json.loads(s3.get_object(Bucket=machine.work_bucket, Key=key)["Body"].read())
    ]


def verify_now(bucket: str, key: str) -> dict[str, Any]:
    """VerifyBagFunction on a direct input, as an earlier verification would have been recorded."""
    return load_handler("VerifyBagFunction")({"bucket": bucket, "key": key}, LocalContext())  # type: ignore[no-any-return]


def test_a_prefix_run_verifies_every_bag_there_and_reports_the_broken_one(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, audit_machine
) -> None:
    good = make_bag_zip({"a.txt": b"alpha\n"})
    for number in range(12):
        broken = number == 7
        body = make_bag_zip({"a.txt": b"alpha\n"}, tamper=flip_byte("data/a.txt", 1)) if broken else good
        s3.put_object(Bucket=bucket, Key=f"collection/bag-{number:02d}.zip", Body=body)
    s3.put_object(Bucket=bucket, Key="collection/notes.txt", Body=b"not a bag")
    s3.put_object(Bucket=bucket, Key="elsewhere/bag.zip", Body=good)

    execution = run(aws, audit_machine.arn, {"bucket": bucket, "prefix": "collection/"})

    summary = execution.output
    jsonschema.validate(summary, SUMMARY_SCHEMA)
    assert summary["scope"] == {"bucket": bucket, "prefix": "collection/"}
    counts = summary["summary"]
    assert (counts["verified"], counts["valid"], counts["invalid"], counts["error"]) == (12, 11, 1, 0)
    assert [message["run"] for message in summaries(aws, audit_machine)] == [summary["run"]]
    rows = report_rows(aws, summary["report"]["csv"])
    assert len(rows) == 12 and not any("notes.txt" in row["bag"] or "elsewhere" in row["bag"] for row in rows)
    [broken_row] = [row for row in rows if row["status"] == "invalid"]
    assert broken_row["bag"].endswith("bag-07.zip") and broken_row["problem_kinds"] == "checksum_mismatch"
    document = json.loads(
        s3.get_object(Bucket=audit_machine.report_bucket, Key=f"audits/{summary['run']}.json")["Body"].read()
    )
    assert document["summary"] == counts and len(document["bags"]) == 12
    # Each bag's own verdict was published, and recorded as an audit's.
    assert (
        sorted(n["Message"]["status"] for n in aws.receive_notifications(topic[1]))
        == ["invalid"] + ["valid"] * 11
    )
    assert audit_machine.ledger.history(broken_row["bag"])[0].trigger == "audit"
    assert len(audit_machine.ledger.latest()) == 12


def test_a_due_run_takes_the_oldest_first_within_its_budget_and_skips_recent_bags(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, audit_machine
) -> None:
    bag = make_bag_zip({"a.txt": b"alpha\n"})
    for number in range(3):
        s3.put_object(Bucket=bucket, Key=f"due/bag-{number}.zip", Body=bag)
        assert verify_now(bucket, f"due/bag-{number}.zip")["status"] == "valid"

    recent = run(aws, audit_machine.arn, {})  # AUDIT_INTERVAL_DAYS 90: all three verified just now
    assert recent.output["summary"]["verified"] == 0 and recent.output["summary"]["not_due"] == 3
    assert "DueVerifyBag" not in recent.entered

    first = run(aws, audit_machine.arn, {"interval_days": 0, "max_bytes": 2 * len(bag)})
    assert (first.output["summary"]["verified"], first.output["summary"]["skipped"]) == (2, 1)
    assert chosen(s3, audit_machine, first) == ["due/bag-0.zip", "due/bag-1.zip"]  # oldest first
    second = run(aws, audit_machine.arn, {"interval_days": 0, "max_bytes": 2 * len(bag)})
    # The one left comes first; then whichever of the first run's two finished first (they ran at once).
    second_chosen = chosen(s3, audit_machine, second)
    assert second_chosen[0] == "due/bag-2.zip" and second_chosen[1] in {"due/bag-0.zip", "due/bag-1.zip"}
    rows = report_rows(aws, second.output["report"]["csv"])
    assert sorted(row["bag"].rsplit("/", 1)[1] for row in rows) == sorted(
        k.split("/")[1] for k in second_chosen
    )
    assert [s["summary"]["verified"] for s in summaries(aws, audit_machine)] == [0, 2, 2]


def test_a_replaced_bag_is_a_regression_in_the_row_the_summary_and_its_message(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, audit_machine
) -> None:
    s3.put_object(Bucket=bucket, Key="kept/bag.zip", Body=make_bag_zip())
    assert verify_now(bucket, "kept/bag.zip")["status"] == "valid"
    aws.receive_notifications(topic[1])
    s3.put_object(Bucket=bucket, Key="kept/bag.zip", Body=make_bag_zip(tamper=flip_byte("bagit.txt", 3)))

    execution = run(aws, audit_machine.arn, {"interval_days": 0})

    assert execution.output["summary"]["regressions"] == 1
    [row] = report_rows(aws, execution.output["report"]["csv"])
    assert (row["status"], row["regression"]) == ("invalid", "True")
    [notification] = aws.receive_notifications(topic[1])
    assert notification["MessageAttributes"]["regression"]["Value"] == "true"


def test_a_verification_that_fails_is_an_error_row_and_its_verdict_is_published(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, audit_machine
) -> None:
    for name in ("ok.zip", "crash.zip"):
        s3.put_object(Bucket=bucket, Key=f"some/{name}", Body=make_bag_zip())

    def crash(event: dict[str, Any]) -> None:
        if event["key"].endswith("crash.zip"):
            raise MemoryError("the function ran out of memory")

    audit_machine.lambdas.faults["VerifyBagFunction"] = crash
    execution = run(aws, audit_machine.arn, {"bucket": bucket, "prefix": "some/"})

    counts = execution.output["summary"]
    assert (counts["verified"], counts["valid"], counts["error"]) == (2, 1, 1)
    rows = {row["bag"].rsplit("/", 1)[1]: row for row in report_rows(aws, execution.output["report"]["csv"])}
    assert (rows["crash.zip"]["status"], rows["crash.zip"]["problem_kinds"]) == ("error", "step_failed")
    published = {
        n["Message"]["source"].rsplit("/", 1)[1]: n["Message"] for n in aws.receive_notifications(topic[1])
    }
    assert published["crash.zip"]["status"] == "error"
    assert "MemoryError" in published["crash.zip"]["problems"][0]["message"]
    assert audit_machine.ledger.history(f"s3://{bucket}/some/crash.zip")[0].trigger == "audit"


def test_a_bag_at_the_threshold_is_verified_by_the_distributed_machine(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, audit_machine
) -> None:
    body = make_bag_zip()
    s3.put_object(Bucket=bucket, Key="big/bag.zip", Body=body)
    s3.put_object(Bucket=bucket, Key="big/small.zip", Body=make_bag_zip({"a.txt": b"a\n"}))
    small_size = s3.head_object(Bucket=bucket, Key="big/small.zip")["ContentLength"]
    assert small_size < len(body)
    arn = audit_machine.with_threshold(aws, len(body))

    execution = run(aws, arn, {"bucket": bucket, "prefix": "big/"})

    assert execution.output["summary"]["valid"] == 2
    assert [e["key"] for e in audit_machine.lambdas.invocations["VerifyBagFunction"]] == ["big/small.zip"]
    [planned] = audit_machine.lambdas.invocations["PlanBagFunction"]
    assert planned["bag"] == {"bucket": bucket, "key": "big/bag.zip", "trigger": "audit"}
    history = audit_machine.ledger.history(f"s3://{bucket}/big/bag.zip")
    assert [record.trigger for record in history] == ["audit"]


def test_the_schedule_as_the_template_makes_it_starts_a_due_run(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, audit_machine
) -> None:
    template = load_template()
    schedule = template["Resources"]["AuditSchedule"]["Properties"]
    defaults = {name: str(spec.get("Default")) for name, spec in template["Parameters"].items()}
    given_input = re.sub(
        r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], schedule["Target"]["Input"]["Fn::Sub"]
    )
    scheduler = aws.client("scheduler")
    scheduler.create_schedule(
        Name=f"audit-{audit_machine.lambdas.suffix}",
        ScheduleExpression=defaults["AuditScheduleExpression"],
        FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
        State=defaults["AuditScheduleState"],
        Target={"Arn": audit_machine.arn, "RoleArn": audit_machine.lambdas.role_arn, "Input": given_input},
    )
    created = scheduler.get_schedule(Name=f"audit-{audit_machine.lambdas.suffix}")
    assert created["ScheduleExpression"] == "rate(1 day)" and created["State"] == "ENABLED"
    scheduled_input = json.loads(created["Target"]["Input"])
    assert scheduled_input == {"interval_days": 90, "max_bytes": 1_000_000_000_000}

    s3.put_object(Bucket=bucket, Key="sched/bag.zip", Body=make_bag_zip())
    assert verify_now(bucket, "sched/bag.zip")["status"] == "valid"
    execution = run(aws, audit_machine.arn, scheduled_input)  # as Scheduler starts it

    assert execution.output["scope"] == "due"
    assert execution.output["summary"]["not_due"] == 1 and execution.output["summary"]["verified"] == 0
