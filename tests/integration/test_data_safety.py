"""Data safety: logs carry no credentials or signatures, and fetch.txt URLs are never followed.

The logs test runs the real handler (the path template.yaml names) in a child process, as Lambda
would: credentials of its own in the environment (recognisable values, which moto accepts), the
Powertools log level at DEBUG, a root logging handler at WARNING as Lambda's runtime sets it, and
S3/SNS on moto's server. Every byte the process writes to stdout and stderr is searched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from devtools.lambda_runner import ROOT, LocalContext
from devtools.local_aws import LocalAws
from devtools.sample_bags import add_file, flip_byte, make_bag_zip, refresh_tag_manifests

KEY_ID = "AKIABAGVERIFYLOGTEST"
SECRET = "bagverify/SECRET/must-never-be-logged/0123456789abcdef"
TOKEN = "bagverify-SESSION-TOKEN-must-never-be-logged-" + "Zm9v" * 40
NEVER_LOGGED = [
    KEY_ID,
    SECRET,
    TOKEN,
    "X-Amz-Signature",
    "Signature=",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
]

CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING)  # as Lambda's runtime: a root handler at WARNING
from devtools.lambda_runner import LocalContext, load_handler
handler = load_handler()
for event in json.loads(sys.argv[1]):
    result = handler(event, LocalContext())
    kinds = [p["kind"] for p in result["problems"]]
    print("RESULT", json.dumps({"status": result["status"], "kinds": kinds}))
"""


def test_logs_carry_no_credentials_or_signatures(
    aws: LocalAws, s3: Any, bucket: str, topic: tuple[str, str], some_missing_bag: bytes
) -> None:
    bad = make_bag_zip(tamper=flip_byte("data/README.txt"))
    s3.put_object(Bucket=bucket, Key="incoming/bad.zip", Body=bad)
    s3.put_object(Bucket=bucket, Key="incoming/many.zip", Body=some_missing_bag)  # over 256 KiB: a report
    reports = aws.create_bucket(f"{bucket}-reports")
    events = [
        {"bucket": bucket, "key": "incoming/bad.zip"},  # invalid: problems logged one by one
        {"bucket": bucket, "key": "incoming/many.zip"},  # invalid, cut to fit SNS: PutObject of the report
        {"bucket": bucket, "key": "incoming/no-such.zip"},  # error: not_found
        {"unexpected": "event"},  # error: bad_event
    ]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "TOPIC_ARN": topic[0],
        "REPORT_BUCKET": reports,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "functions" / "verify_bag")]),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(events)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = child.stdout + child.stderr
    assert child.returncode == 0, output[-3000:]
    results = [
        json.loads(line[len("RESULT ") :]) for line in child.stdout.splitlines() if line.startswith("RESULT ")
    ]
    assert [r["status"] for r in results] == ["invalid", "invalid", "error", "error"]
    assert results[2]["kinds"] == ["not_found"] and results[3]["kinds"] == ["bad_event"]
    # What was captured is the function's logging: a line per problem, the summaries, the publishing.
    assert '"message":"problem"' in output.replace(" ", "")
    assert output.count('"verdict published"') + output.count('"message":"verdict published"') >= 4
    assert f"s3://{reports}/reports/" in output  # the report was written, and named by its s3:// URL
    for secret in NEVER_LOGGED:
        assert secret not in output, f"{secret!r} appears in the function's output"


# -- fetch.txt ----------------------------------------------------------------------------------------


class _Counting(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that serves anything and records every request it gets."""
    _Counting.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Counting.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_fetch_txt_urls_are_never_followed(
    handler: Any, s3: Any, bucket: str, topic: tuple[str, str], counting_server: tuple[str, list[str]]
) -> None:
    url, requests = counting_server

    def fetched_later(bag_dir: Path) -> None:
        # data/fetched.bin is listed in the manifests and in fetch.txt, and is not in the bag.
        for manifest in bag_dir.glob("manifest-*.txt"):
            algorithm = manifest.name[len("manifest-") : -len(".txt")]
            digest = hashlib.new(algorithm, b"hello").hexdigest()
            with manifest.open("a", encoding="utf-8") as out:
                out.write(f"{digest}  data/fetched.bin\n")
        add_file("fetch.txt", f"{url}/data/fetched.bin 5 data/fetched.bin\n".encode())(bag_dir)
        refresh_tag_manifests(bag_dir)

    s3.put_object(Bucket=bucket, Key="incoming/fetch.zip", Body=make_bag_zip(tamper=fetched_later))
    verdict = handler({"bucket": bucket, "key": "incoming/fetch.zip"}, LocalContext())
    assert verdict["status"] == "invalid"
    missing = [p for p in verdict["problems"] if p["kind"] == "missing_file"]
    assert [p["path"] for p in missing] == ["data/fetched.bin"]
    assert missing[0]["fetch_url"] == f"{url}/data/fetched.bin"
    assert "never follows fetch URLs" in missing[0]["message"]
    assert requests == [], f"the fetch URL was requested: {requests}"
