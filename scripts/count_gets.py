"""Count the GET requests the engine makes, on moto's server, for the demo's sample bag and an 84 MB bag.

    .venv/bin/python scripts/count_gets.py

Each bag is uploaded to a local moto S3 and verified by the real CLI
(`bagverify verify s3://... --json`), whose verdict reports `stats.get_requests`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.local_aws import LocalAws  # noqa: E402
from devtools.sample_bags import make_bag_zip  # noqa: E402

PART = 8 * 1024 * 1024


def main() -> int:
    files = {f"small/{i:04d}.txt": f"file {i}\n".encode() * 50 for i in range(1000)}
    files.update({f"big/{i}.bin": os.urandom(20 * 1024 * 1024) for i in range(4)})
    bags = {"sample-bag.zip": make_bag_zip(), "bag-84mb.zip": make_bag_zip(files)}
    with LocalAws() as aws:
        s3 = aws.client("s3")
        aws.create_bucket("count-gets")
        print("| bag | archive bytes | files | GET requests | bytes read | ceil(bytes / 8 MiB) |")
        print("|---|---|---|---|---|---|")
        for key, body in bags.items():
            s3.put_object(Bucket="count-gets", Key=key, Body=body)
            cli = [str(ROOT / ".venv/bin/bagverify"), "verify", f"s3://count-gets/{key}", "--json"]
            verdict = json.loads(subprocess.run(cli, capture_output=True, text=True, check=False).stdout)
            stats = verdict["stats"]
            assert verdict["status"] == "valid", verdict["problems"]
            print(
                f"| {key} | {stats['archive_bytes']:,} | {stats['files']:,} | {stats['get_requests']} | "
                f"{stats['bytes_read']:,} | {math.ceil(stats['archive_bytes'] / PART)} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
