"""`bagverify verify SOURCE [--json] [--completeness-only | --fast]`: the Lambda's engine, for operators.

SOURCE is a local bag archive (ZIP or tar, plain or compressed) or s3://bucket/key[?versionId=...].
The S3 endpoint comes from the standard AWS environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL).
Exit code: 0 valid, 1 invalid, 2 error (could not verify, or bad usage).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import TextIO

from bagverify.audit import DEFAULT_INTERVAL_DAYS, as_dict, due_bags, listed_bags, report_name, run_audit
from bagverify.bag.profile import ProfileInvalid
from bagverify.bag.profile_choice import ProfileChoice
from bagverify.ledger import TABLE_VARIABLE, Ledger, LedgerUnavailable
from bagverify.premis import premis_event
from bagverify.sources import S3Location, make_s3_client
from bagverify.sources.profiles import ProfileUnavailable, profile_error, read_profile
from bagverify.verdict import Mode, Status, Verdict, error_verdict
from bagverify.verify import Progress, verify_path, verify_s3_object

EXIT_CODES = {Status.VALID: 0, Status.INVALID: 1, Status.ERROR: 2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bagverify", description="Verify zipped BagIt bags, local or in S3."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify one bag (ZIP or tar)")
    verify.add_argument("source", help="a local .zip or .tar[.gz|.bz2|.xz|.zst] path, or s3://bucket/key")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON on stdout")
    cheap = verify.add_mutually_exclusive_group()
    cheap.add_argument(
        "--completeness-only",
        action="store_const",
        const=Mode.COMPLETENESS,
        dest="mode",
        help="read no payload byte: every listed file present, every payload file listed, Payload-Oxum, "
        "the tag files (not a fixity check)",
    )
    cheap.add_argument(
        "--fast",
        action="store_const",
        const=Mode.FAST,
        dest="mode",
        help="only that it is a bag and its Payload-Oxum agrees with the archive's listing",
    )
    verify.add_argument(
        "--profile",
        help="a BagIt profile (JSON file or s3:// URL) to check the bag against; no URL a bag names is "
        "ever fetched",
    )
    verify.add_argument(
        "--premis", metavar="FILE", help="also write the verification's PREMIS 3 event to FILE (-: stdout)"
    )
    ledger = commands.add_parser("ledger", help="the fixity ledger named by BAGVERIFY_LEDGER_TABLE")
    ledger.add_argument("action", choices=["create"], help="create: the table, if it is not there")
    history = commands.add_parser("history", help="a bag's verifications in the ledger, newest first")
    history.add_argument("source", help="s3://bucket/key")
    history.add_argument("--json", action="store_true", help="print the records as a JSON array")
    audit = commands.add_parser(
        "audit", help="re-verify the bags due (ledger), or every bag under --prefix; recorded, reported"
    )
    audit.add_argument("--prefix", help="s3://bucket/prefix/: every bag there (else: the ledger's due bags)")
    audit.add_argument("--interval-days", type=float, default=DEFAULT_INTERVAL_DAYS, help="due after [90]")
    audit.add_argument("--max-bytes", type=int, help="the run's byte budget (oldest first; the rest skipped)")
    audit.add_argument(
        "--report", help="where the report goes (s3://bucket/prefix/ or a folder): JSON and CSV"
    )
    audit.add_argument("--json", action="store_true", help="print the run (summary and rows) as JSON")
    args = parser.parse_args(argv)
    if args.command == "audit":
        return _audit(parser, args)
    if args.command == "ledger":
        return _create_ledger(parser)
    if args.command == "history":
        return _history(parser, args.source, as_json=args.json)
    mode = args.mode or Mode.FULL

    progress = ProgressBar(sys.stderr) if sys.stderr.isatty() and not args.json else None
    try:
        profiles = ProfileChoice(explicit=read_profile(args.profile)) if args.profile else None
    except (ProfileInvalid, ProfileUnavailable) as bad_profile:
        # The operator's to fix, not the bag's: nothing of the bag is judged.
        verdict = error_verdict(profile_error(bad_profile), args.source)
    else:
        try:
            verdict = _verify(args.source, progress, mode, profiles)
        except ValueError as bad_source:
            parser.exit(2, f"bagverify: {bad_source}\n")
    if progress:
        progress.finish()
    _record(verdict)
    if args.premis:
        event = premis_event(verdict)
        if args.premis == "-":
            sys.stdout.write(event.decode("utf-8") + "\n")
            return EXIT_CODES[verdict.status]
        with open(args.premis, "wb") as out:  # the operator's own file, never the engine's
            out.write(event)
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(summary(verdict))
    return EXIT_CODES[verdict.status]


def _verify(
    source: str, progress: Progress | None, mode: Mode = Mode.FULL, profiles: ProfileChoice | None = None
) -> Verdict:
    location = S3Location.from_url(source) if source.startswith("s3://") else None
    client = make_s3_client() if location else None
    # What start-up made (boto3's service models: ~70,000 objects) lives as long as the process;
    # frozen, the collections a scan of many small files triggers no longer walk it every time.
    gc.freeze()
    if location:
        return verify_s3_object(location, client, progress=progress, mode=mode, profiles=profiles)
    return verify_path(source, progress=progress, mode=mode, profiles=profiles)


def _ledger(parser: argparse.ArgumentParser) -> Ledger:
    table = os.environ.get(TABLE_VARIABLE)
    if not table:
        parser.exit(2, f"bagverify: set {TABLE_VARIABLE} to the ledger's table name\n")
    import boto3

    return Ledger(boto3.client("dynamodb"), table)


def _create_ledger(parser: argparse.ArgumentParser) -> int:
    ledger = _ledger(parser)
    try:
        created = ledger.create()
    except LedgerUnavailable as error:
        parser.exit(2, f"bagverify: {error}\n")
    print(f"{ledger.table}: {'created' if created else 'already there'}")
    return 0


def _history(parser: argparse.ArgumentParser, source: str, *, as_json: bool) -> int:
    ledger = _ledger(parser)
    try:
        records = ledger.history(S3Location.from_url(source).url)
    except (LedgerUnavailable, ValueError) as error:
        parser.exit(2, f"bagverify: {error}\n")
    if as_json:
        print(json.dumps([record.to_dict() for record in records], indent=2, ensure_ascii=False))
        return 0
    for record in records:
        marks = " REGRESSION" if record.regression else " recovery" if record.recovery else ""
        print(
            f"{record.verified_at.split('#')[0]}  {record.status:<7} {record.mode:<12} "
            f"{record.problem_count:>6} problems  {', '.join(record.problem_kinds[:3]) or '-'}"
            f"  version {record.version_id or '-'}  etag {record.etag or '-'}{marks}"
        )
    if not records:
        print(f"{source}: no verification recorded")
    return 0


def _audit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    client = make_s3_client()
    table = os.environ.get(TABLE_VARIABLE)
    ledger = _ledger(parser) if table or not args.prefix else None
    gc.freeze()
    try:
        if args.prefix:
            where = S3Location.from_url(args.prefix.rstrip("/") + "/x")
            bags, not_due = listed_bags(client, where.bucket, where.key[:-1]), 0
        else:
            assert ledger is not None
            bags, not_due = due_bags(ledger.latest(), interval_days=args.interval_days)
    except (LedgerUnavailable, ValueError) as error:
        parser.exit(2, f"bagverify: {error}\n")
    run = run_audit(
        bags,
        lambda location: verify_s3_object(location, client),
        ledger,
        max_bytes=args.max_bytes,
        not_due=not_due,
    )
    if args.report:
        for suffix, body in ((".json", run.report_json()), (".csv", run.report_csv())):
            name = report_name() + suffix
            if args.report.startswith("s3://"):
                target = S3Location.from_url(args.report.rstrip("/") + "/" + name)
                client.put_object(Bucket=target.bucket, Key=target.key, Body=body)
            else:
                path = os.path.join(args.report, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as out:
                    out.write(body)
    if args.json:
        print(json.dumps(as_dict(run), indent=2, ensure_ascii=False))
    else:
        summary_of = run.summary()
        print(", ".join(f"{count:,} {what}" for what, count in summary_of.items()))
        for row in run.rows:
            marks = " REGRESSION" if row.regression else ""
            print(f"  {row.status:<7} {row.bag}  {' '.join(row.problem_kinds)}{marks}")
    return 0 if all(row.status == "valid" for row in run.rows) else 1


def _record(verdict: Verdict) -> None:
    """With BAGVERIFY_LEDGER_TABLE set, record an S3 bag's verification (marking a regression); a
    ledger that fails is said on stderr, and the verdict stays what it is."""
    table = os.environ.get(TABLE_VARIABLE)
    if not table or not verdict.source.startswith("s3://"):
        return
    import boto3

    try:
        Ledger(boto3.client("dynamodb"), table).record(verdict, trigger="cli")
    except LedgerUnavailable as error:
        print(f"bagverify: the verification was not recorded: {error}", file=sys.stderr)


def summary(verdict: Verdict) -> str:
    stats = verdict.stats
    lines = [
        f"{verdict.status.upper()}: {verdict.source}"
        + ("" if verdict.mode is Mode.FULL else f" ({verdict.mode} only: not a fixity check)")
        + (" REGRESSION: it was valid" if verdict.regression else " (recovered)" if verdict.recovery else ""),
        f"  {stats.files:,} payload files, {stats.bytes:,} bytes; archive {stats.archive_bytes:,} bytes; "
        f"{stats.get_requests} GET requests, {stats.bytes_read:,} bytes read; {stats.seconds:.2f} s",
    ]
    lines += [f"  problem [{p.kind}] {p.message}" for p in verdict.problems]
    lines += [f"  warning [{w.kind}] {w.message}" for w in verdict.warnings]
    return "\n".join(lines)


class ProgressBar:
    """One self-overwriting line on a terminal: bytes verified of the total, rate, files."""

    WIDTH = 30

    def __init__(self, stream: TextIO, min_interval: float = 0.2) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._last = 0.0
        self._min_interval = min_interval
        self._shown = False

    def __call__(self, done: int, total: int, files: int) -> None:
        now = time.monotonic()
        if now - self._last < self._min_interval and done < total:
            return
        self._last = now
        fraction = done / total if total else 1.0
        rate = done / max(now - self._started, 1e-6) / 1e6
        filled = int(fraction * self.WIDTH)
        self._stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:6.1%} "
            f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {rate:,.1f} MB/s  {files:,} files"
        )
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
