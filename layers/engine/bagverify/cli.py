"""`bagverify verify SOURCE [--json] [--completeness-only | --fast]`: the Lambda's engine, for operators.

SOURCE is a local bag archive (ZIP or tar, plain or compressed) or s3://bucket/key[?versionId=...].
The S3 endpoint comes from the standard AWS environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL).
Exit code: 0 valid, 1 invalid, 2 error (could not verify, or bad usage).

Terminal output (the progress bar, the history and audit tables, the summary) is drawn by `rich`, the
optional `cli` extra (`pip install 'bagverify[cli]'`), imported only when it draws: the Lambda layer
never carries it. Without rich, or when the stream is not a terminal, the output is plain text; --json
output never depends on either.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from functools import cache
from typing import TYPE_CHECKING, TextIO

from bagverify.audit import DEFAULT_INTERVAL_DAYS, as_dict, due_bags, listed_bags, report_name, run_audit
from bagverify.bag.profile import ProfileInvalid
from bagverify.bag.profile_choice import ProfileChoice
from bagverify.ledger import TABLE_VARIABLE, Ledger, LedgerUnavailable
from bagverify.premis import premis_event
from bagverify.sources import S3Location, make_s3_client
from bagverify.sources.profiles import ProfileUnavailable, profile_error, read_profile
from bagverify.verdict import Mode, Status, Verdict, error_verdict
from bagverify.verify import Progress, verify_path, verify_s3_object

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from bagverify.audit import AuditRun
    from bagverify.ledger import Record

EXIT_CODES = {Status.VALID: 0, Status.INVALID: 1, Status.ERROR: 2}
STATUS_STYLES = {Status.VALID: "bold green", Status.INVALID: "bold red", Status.ERROR: "bold yellow"}
RICH_HINT = "bagverify: for a progress bar and tables on a terminal: pip install 'bagverify[cli]'"


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

    bar_console = None if args.json else _console(sys.stderr)
    progress = RichProgress(bar_console) if bar_console else None
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
    finally:
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
    elif console := _console(sys.stdout):
        _draw_summary(console, verdict)
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
    if records and (console := _console(sys.stdout)):
        _draw_history(console, source, records)
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
                with open(path, "wb") as out:  # the operator's own folder (--report), never the engine's
                    out.write(body)
    if args.json:
        print(json.dumps(as_dict(run), indent=2, ensure_ascii=False))
    elif console := _console(sys.stdout):
        _draw_audit(console, run)
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


# Terminal output. rich is imported only here, once a stream is known to be a terminal: `import
# bagverify.cli` (and the Lambda layer, which has no rich) never loads it.


def _console(stream: TextIO) -> Console | None:
    """A rich Console on `stream` when it is a terminal and rich is installed; None: plain text.

    rich's own overrides count: TTY_COMPATIBLE=1 or a non-empty FORCE_COLOR treat any stream as a
    terminal, TTY_COMPATIBLE=0 none (NO_COLOR keeps the layout and drops the colours)."""
    forced = os.environ.get("TTY_COMPATIBLE") == "1" or bool(os.environ.get("FORCE_COLOR"))
    if os.environ.get("TTY_COMPATIBLE") == "0" or not (forced or _isatty(stream)):
        return None
    try:
        from rich.console import Console
    except ImportError:
        _hint()
        return None
    console = Console(file=stream, highlight=False)
    return console if console.is_terminal else None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


@cache
def _hint() -> None:
    """Once a run, on a terminal only: where the progress bar and tables are."""
    if _isatty(sys.stderr):
        print(RICH_HINT, file=sys.stderr)


class RichProgress:
    """rich's progress bar on `console` (stderr): archive bytes verified of the total, rate, files,
    time left. Called after every member, it redraws at most every `min_interval` seconds; it shows
    once the first member is done (a source that fails before draws nothing)."""

    def __init__(self, console: Console, min_interval: float = 0.1) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("verifying"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[files]:,} files"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._bar.add_task("verifying", total=None, files=0)
        self._min_interval = min_interval
        self._last = 0.0
        self._seen: tuple[int, int, int] | None = None  # the last call's (done, total, files)
        self._shown: tuple[int, int, int] | None = None

    def __call__(self, done: int, total: int, files: int) -> None:
        self._seen = (done, total, files)
        now = time.monotonic()
        if now - self._last < self._min_interval and done < total:
            return
        self._last = now
        self._show()

    def _show(self) -> None:
        if self._seen is None or self._seen == self._shown:
            return
        first = self._shown is None
        done, total, files = self._shown = self._seen
        self._bar.update(self._task, completed=done, total=total, files=files)
        if first:
            self._bar.start()

    def finish(self) -> None:
        """The last count drawn (a call the interval skipped included), and the terminal's line back."""
        self._show()
        if self._shown is not None:
            self._bar.stop()


def _status(status: str, shown: str | None = None) -> Text:
    """`status` (or `shown` for it) in its colour."""
    from rich.text import Text

    style = STATUS_STYLES[Status(status)] if status in {str(known) for known in Status} else ""
    return Text(status if shown is None else shown, style=style)


def _draw_summary(console: Console, verdict: Verdict) -> None:
    """summary(verdict), styled: the status coloured, each problem's and warning's kind marked."""
    from rich.text import Text

    stats = verdict.stats
    head = Text.assemble(_status(verdict.status, verdict.status.upper()), ": ", verdict.source)
    if verdict.mode is not Mode.FULL:
        head.append(f" ({verdict.mode} only: not a fixity check)", style="yellow")
    if verdict.regression:
        head.append(" REGRESSION: it was valid", style="bold red")
    elif verdict.recovery:
        head.append(" (recovered)", style="green")
    console.print(head, soft_wrap=True)
    console.print(
        Text(
            f"  {stats.files:,} payload files, {stats.bytes:,} bytes; archive {stats.archive_bytes:,} bytes; "
            f"{stats.get_requests} GET requests, {stats.bytes_read:,} bytes read; {stats.seconds:.2f} s",
            style="dim",
        ),
        soft_wrap=True,
    )
    for label, style, items in (
        ("problem", "red", verdict.problems),
        ("warning", "yellow", verdict.warnings),
    ):
        for item in items:
            console.print(
                Text.assemble(f"  {label} ", (f"[{item.kind}]", style), " ", item.message), soft_wrap=True
            )


def _draw_history(console: Console, source: str, records: list[Record]) -> None:
    """A bag's records, newest first, as a table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=source, title_justify="left")
    for name in ("verified at", "status", "mode", "problems", "kinds", "version", "etag", ""):
        table.add_column(name, justify="right" if name == "problems" else "left")
    for record in records:
        marks = (
            Text("REGRESSION", style="bold red")
            if record.regression
            else Text("recovery", style="green")
            if record.recovery
            else Text("")
        )
        table.add_row(
            Text(record.verified_at.split("#")[0]),
            _status(record.status),
            Text(record.mode),
            Text(f"{record.problem_count:,}"),
            Text(", ".join(record.problem_kinds[:3]) or "-"),
            Text(record.version_id or "-"),
            Text(record.etag or "-"),
            marks,
        )
    console.print(table)


def _draw_audit(console: Console, run: AuditRun) -> None:
    """An audit run: a table of its bags (a REGRESSION column if any is one), then its counts."""
    from rich.table import Table
    from rich.text import Text

    if run.rows:
        marked = any(row.regression for row in run.rows)
        bags = Table(title="bags audited", title_justify="left")
        for name in ("status", "bag", "problems", "kinds", *([""] if marked else [])):
            bags.add_column(name, justify="right" if name == "problems" else "left")
        for row in run.rows:
            cells = [_status(row.status), Text(row.bag), Text(f"{row.problem_count:,}")]
            cells.append(Text(" ".join(row.problem_kinds)))
            if marked:
                cells.append(Text("REGRESSION", style="bold red") if row.regression else Text(""))
            bags.add_row(*cells)
        console.print(bags)
    counts = Table(title="summary", title_justify="left")
    summary_of = run.summary()
    for what in summary_of:
        counts.add_column(what.replace("_", " "), justify="right")
    counts.add_row(*(Text(f"{count:,}") for count in summary_of.values()))
    console.print(counts)


if __name__ == "__main__":
    raise SystemExit(main())
