"""The main job on a built-in local default: moto S3/SNS, a sample bag, the real handler, the real events.

    python scripts/demo.py

Starts moto's server on 127.0.0.1, builds a bag with bagit-python, zips it, uploads it
to the bucket and key named in events/s3-put.json, runs the handler named in
template.yaml on that event (as `sam local invoke -e events/s3-put.json` would), and
prints the verdict and the SNS message read back from a subscribed SQS queue. Then the
same for a copy with one payload byte flipped: invalid, naming the file. Then the sample bag as a
.tar.gz (packed by GNU tar), through the same handler and event shape: valid. Every verification is
recorded in the ledger (DynamoDB on moto): last, the sample bag is replaced by its corrupted copy at
the same key, a regression; the ledger's records of that key and that verification's PREMIS event
are printed.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bagverify.ledger import Ledger  # noqa: E402
from bagverify.premis import premis_event  # noqa: E402
from bagverify.verdict import Verdict  # noqa: E402
from devtools.lambda_runner import LocalContext, function_environment, load_handler  # noqa: E402
from devtools.local_aws import LocalAws  # noqa: E402
from devtools.sample_bags import flip_byte, make_bag_tar, make_bag_zip  # noqa: E402

EVENT_FILE = ROOT / "events" / "s3-put.json"


def verdict_from_dict(document: dict[str, object]) -> Verdict:
    """The handler's returned verdict (JSON) as a Verdict again, for its PREMIS event."""
    from bagverify.verdict import Kind, Mode, Problem, Stats, Status

    def problems(items: object) -> list[Problem]:
        out = []
        for item in items if isinstance(items, list) else []:
            details = {k: v for k, v in item.items() if k not in ("kind", "message", "path")}
            out.append(Problem(Kind(item["kind"]), item["message"], item.get("path"), details))
        return out

    stats = document.get("stats")
    return Verdict(
        Status(str(document["status"])),
        str(document["source"]),
        problems(document.get("problems")),
        problems(document.get("warnings")),
        Stats(**stats) if isinstance(stats, dict) else Stats(),
        dict(document.get("object") or {}),  # type: ignore[call-overload]
        Mode(str(document.get("mode", "full"))),
        bool(document.get("regression")),
    )


def main() -> int:
    event = json.loads(EVENT_FILE.read_text())
    record = event["Records"][0]["s3"]
    bucket, key = record["bucket"]["name"], record["object"]["key"]

    with LocalAws() as aws:
        aws.create_bucket(bucket)
        topic_arn, queue_url = aws.create_topic_with_queue("bagverify-verdicts")
        # The function's environment from template.yaml, as `sam local invoke` sets it, plus the topic.
        os.environ.update({**function_environment(), "TOPIC_ARN": topic_arn})
        handler = load_handler()
        s3 = aws.client("s3")

        cases = [
            ("sample bag", key, make_bag_zip()),
            (
                "corrupted copy (one byte flipped in data/images/scan-0001.tif)",
                key.replace(".zip", "-corrupted.zip"),
                make_bag_zip(tamper=flip_byte("data/images/scan-0001.tif", 1000)),
            ),
            ("sample bag as a .tar.gz (GNU tar)", key.replace(".zip", ".tar.gz"), make_bag_tar()),
        ]
        # The ledger on moto (as `bagverify ledger create` makes it): every verification below is recorded.
        os.environ["BAGVERIFY_LEDGER_TABLE"] = "bagverify-ledger"
        Ledger(aws.client("dynamodb"), "bagverify-ledger").create()
        cases.append(
            (
                "the sample bag replaced by its corrupted copy, same key: a regression",
                key,
                make_bag_zip(tamper=flip_byte("data/images/scan-0001.tif", 1000)),
            )
        )
        statuses = []
        for title, case_key, archive in cases:
            etag = s3.put_object(Bucket=bucket, Key=case_key, Body=archive)["ETag"]
            case_event = copy.deepcopy(event)
            # As S3 would send it: the key, the size and the ETag (unquoted) of this upload.
            case_event["Records"][0]["s3"]["object"].update(
                key=case_key, size=len(archive), eTag=etag.strip('"')
            )
            print(f"\n=== {title}: s3://{bucket}/{case_key} ({len(archive):,} bytes) ===", flush=True)
            print("--- handler logs (Powertools, JSON) ---", flush=True)
            verdict = handler(case_event, LocalContext())
            print("--- verdict returned by the handler ---")
            print(json.dumps(verdict, indent=2, ensure_ascii=False))
            print("--- SNS message received (via an SQS subscription) ---")
            for envelope in aws.receive_notifications(queue_url):
                attributes = {name: a["Value"] for name, a in envelope.get("MessageAttributes", {}).items()}
                print(
                    json.dumps(
                        {"attributes": attributes, "message": envelope["Message"]},
                        indent=2,
                        ensure_ascii=False,
                    )
                )
            statuses.append(verdict["status"])
            last_verdict = verdict_from_dict(verdict)
        ledger = Ledger(aws.client("dynamodb"), "bagverify-ledger")
        records = ledger.history(f"s3://{bucket}/{key}")
        print(f"\n=== the ledger's records of s3://{bucket}/{key}, newest first ===")
        for record in records:
            print(
                f"{record.verified_at.split('#')[0]}  {record.status:<7} regression={record.regression}  "
                f"{record.problem_count} problems {record.problem_kinds}  etag {record.etag}"
            )
        print("\n=== the PREMIS 3 event of the regressed verification ===")
        print(premis_event(last_verdict).decode("utf-8"))
        expected = ["valid", "invalid", "valid", "invalid"]
        regressed = [record.regression for record in records] == [True, False]
        print(f"\nverdicts: {statuses} (expected {expected}); the last a regression: {regressed}")
        return 0 if statuses == expected and regressed else 1


if __name__ == "__main__":
    raise SystemExit(main())
