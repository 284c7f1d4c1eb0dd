"""Powertools outside AWS: structured logs with a correlation id, EMF metrics, X-Ray subsegments.

Logger and Metrics print to stdout, which is read back here with capsys. The Logger's handler
holds the stdout it found at import, so the fixture points it at the current one for the test. The
Tracer is off outside Lambda; the last test switches it on in a child process that believes it
is in Lambda (LAMBDA_TASK_ROOT, _X_AMZN_TRACE_ID) and catches the UDP datagrams the X-Ray SDK
sends to the daemon address: no daemon is needed, and the segments are checked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from devtools.lambda_runner import ROOT, LocalContext
from devtools.sample_bags import flip_byte, make_bag_zip


def _logs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_aws" not in line]


def _emf(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_aws" in line]


# -- Logger ---------------------------------------------------------------------------------------


def test_one_summary_line_per_bag_and_one_line_per_problem_with_the_bag_url(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, stdout_lines
) -> None:
    archive = make_bag_zip(tamper=flip_byte("data/images/scan-0002.tif", 77))
    s3.put_object(Bucket=bucket, Key="incoming/bad.zip", Body=archive)
    verdict = handler({"bucket": bucket, "key": "incoming/bad.zip"}, LocalContext())
    logs = _logs(stdout_lines())
    url = f"s3://{bucket}/incoming/bad.zip"

    summaries = [line for line in logs if line["message"].startswith("bag ")]
    assert len(summaries) == 1
    [summary] = summaries
    assert summary["message"] == "bag invalid" and summary["status"] == "invalid"
    assert summary["correlation_id"] == url
    assert summary["problem_count"] == len(verdict["problems"]) == 2  # sha256 and sha512 both differ
    assert summary["stats"] == verdict["stats"]
    assert summary["object"]["etag"] == verdict["object"]["etag"]
    assert summary["service"] == "bagverify" and summary["level"] == "INFO"

    problems = [line for line in logs if line["message"] == "problem"]
    assert [line["problem"] for line in problems] == verdict["problems"]
    assert {line["correlation_id"] for line in problems} == {url}
    assert {line["level"] for line in problems} == {"WARNING"}
    aws.receive_notifications(topic[1])


def test_correlation_id_does_not_leak_into_the_next_invocation(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, stdout_lines
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    handler({"bucket": bucket, "key": "incoming/bag.zip"}, LocalContext())
    handler({"hello": "world"}, LocalContext())  # names no bag
    last = _logs(stdout_lines())[-2:]
    assert [line["message"] for line in last] == ["unrecognised event", "verdict published"]
    assert all(line.get("correlation_id") is None for line in last), last
    aws.receive_notifications(topic[1])


# -- Metrics (CloudWatch EMF) ---------------------------------------------------------------------


def _metrics(document: dict[str, Any]) -> tuple[str, list[list[str]], dict[str, str], dict[str, Any]]:
    [directive] = document["_aws"]["CloudWatchMetrics"]
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    values = {name: document[name] for name in units}
    return directive["Namespace"], directive["Dimensions"], units, values


@pytest.mark.parametrize(
    ("case", "status", "counter"),
    [("valid", "valid", None), ("invalid", "invalid", "BagsInvalid"), ("missing", "error", "BagsErrored")],
)
def test_one_emf_document_per_bag_with_status_dimension(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, stdout_lines, case, status, counter
) -> None:
    if case != "missing":
        tamper = flip_byte("data/README.txt", 0) if case == "invalid" else None
        s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip(tamper=tamper))
    verdict = handler({"bucket": bucket, "key": "incoming/bag.zip"}, LocalContext())
    assert verdict["status"] == status
    [document] = _emf(stdout_lines())
    namespace, dimensions, units, values = _metrics(document)
    assert namespace == "bagverify"
    assert [sorted(dimension_set) for dimension_set in dimensions] == [["service", "status"]]
    assert (document["status"], document["service"]) == (status, "bagverify")
    expected_units = {
        "BagsVerified": "Count",
        "BytesVerified": "Bytes",
        "GetRequests": "Count",
        "VerificationSeconds": "Seconds",
    }
    if counter:
        expected_units[counter] = "Count"
    assert units == expected_units
    assert values["BagsVerified"] == [1.0]
    if counter:
        assert values[counter] == [1.0]
    assert values["BytesVerified"] == [float(verdict["stats"]["bytes"])]
    assert values["GetRequests"] == [float(verdict["stats"]["get_requests"])]
    assert values["VerificationSeconds"] == [verdict["stats"]["seconds"]]
    if case == "valid":
        assert values["BytesVerified"][0] > 0 and values["GetRequests"] == [1.0]
    aws.receive_notifications(topic[1])


# -- Tracer (X-Ray) -------------------------------------------------------------------------------

TRACED_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from devtools.lambda_runner import LocalContext, load_handler
verdict = load_handler()(json.loads(sys.argv[2]), LocalContext())
print("VERDICT " + json.dumps(verdict["status"]))
"""


def test_tracer_sends_subsegments_for_s3_and_sns_without_a_daemon(aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # stands in for the X-Ray daemon
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    env = {
        **os.environ,
        "TOPIC_ARN": topic[0],
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "verify_bag"),  # "in Lambda": tracing on
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_LAMBDA_FUNCTION_NAME": "bagverify-VerifyBagFunction",
    }
    env.pop("AWS_SAM_LOCAL", None)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            TRACED_CHILD,
            str(ROOT),
            json.dumps({"bucket": bucket, "key": "incoming/bag.zip"}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert 'VERDICT "valid"' in child.stdout
    segments = []
    try:
        while True:
            datagram = daemon.recv(65535)
            header, body = datagram.split(b"\n", 1)
            assert json.loads(header) == {"format": "json", "version": 1}
            segments.append(json.loads(body))
    except TimeoutError:
        pass
    finally:
        daemon.close()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for segment in segments:
        by_name.setdefault(segment["name"], []).append(segment)
    assert {"## lambda_handler", "## app._verify", "## delivery._publish", "s3", "sns"} <= set(by_name), (
        sorted(by_name)
    )
    [verify] = by_name["## app._verify"]
    [publish] = by_name["## delivery._publish"]
    gets = [s for s in by_name["s3"] if s["aws"]["operation"] == "GetObject"]
    assert gets and all(get["parent_id"] == verify["id"] for get in gets), "S3 GETs are traced inside _verify"
    [sns_publish] = by_name["sns"]
    assert sns_publish["aws"]["operation"] == "Publish" and sns_publish["parent_id"] == publish["id"]
    assert {segment["trace_id"] for segment in segments} == {"1-5759e988-bd862e3fe1be46a994272793"}
    # No verdicts in the trace: capture_response is off (a verdict can exceed X-Ray's 64 KiB document).
    assert all(
        "metadata" not in segment or "response" not in json.dumps(segment["metadata"]) for segment in segments
    )
