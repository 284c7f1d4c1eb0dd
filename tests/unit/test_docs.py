"""The README and docs/ stay true to the repository: every test they cite exists, every relative link
resolves (to a heading, for an #anchor into a Markdown page), nothing links outside the repository,
and the README stays a front page. Pure: it reads files, imports nothing of bagverify."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 160

# `tests/unit/test_x.py::test_name`, and a path cited alone: `tests/unit/test_x.py`.
CITED_TEST = re.compile(r"\b(tests/[\w./-]+\.py)::(test_\w+)")
CITED_PATH = re.compile(r"`(tests/[\w./-]+\.py)`")
# A bare test name as a whole code span, not part of a `path::name`.
BARE_TEST = re.compile(r"`(test_\w+)`")
FENCE = re.compile(r"^(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a Markdown file outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opened = FENCE.match(line.lstrip())
        if fence is None and opened:
            fence = opened.group(1)[0] * 3
            continue
        if fence is not None:
            if line.lstrip().startswith(fence):
                fence = None
            continue
        yield number, line


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation but '-' and '_'
    removed, each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(path):
        found.update(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading is None:
            continue
        slug = github_slug(heading.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


@cache
def defined_tests(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r"^\s*(?:async\s+)?def (test_\w+)\s*\(", path.read_text("utf-8"), re.M))


@cache
def every_defined_test() -> frozenset[str]:
    return frozenset().union(*(defined_tests(path) for path in (ROOT / "tests").rglob("test_*.py")))


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(path):
        text = CODE_SPAN.sub("", line)
        for target in INLINE_LINK.findall(text):
            yield number, target
        reference = REFERENCE_LINK.match(text)
        if reference:
            yield number, reference.group(1)


def test_the_pages_are_there() -> None:
    names = {path.name for path in pages()}
    assert {"README.md", "verdict.md", "kinds.md", "faults.md"} <= names, names


def test_every_cited_test_exists() -> None:
    missing = []
    for page in pages():
        for number, line in prose_lines(page):
            where = f"{shown(page)}:{number}"
            for file, name in CITED_TEST.findall(line):
                if not (ROOT / file).is_file():
                    missing.append(f"{where}: {file} does not exist")
                elif name not in defined_tests(ROOT / file):
                    missing.append(f"{where}: {file} has no def {name}")
            for file in CITED_PATH.findall(line):
                if not (ROOT / file).is_file():
                    missing.append(f"{where}: {file} does not exist")
            in_a_table = line.lstrip().startswith("|")
            if in_a_table and (CITED_TEST.search(line) or CITED_PATH.search(line)):
                for name in BARE_TEST.findall(line):
                    if name not in every_defined_test():
                        missing.append(f"{where}: no def {name} under tests/")
    assert not missing, "\n".join(missing)


def test_every_relative_link_resolves_inside_the_repository() -> None:
    broken = []
    for page in pages():
        for number, target in links(page):
            where = f"{shown(page)}:{number}: ({target})"
            if SCHEME.match(target):
                continue  # http(s), mailto: not this test's business
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / unquote(file_part)).resolve() if file_part else page
            if not linked.is_relative_to(ROOT):
                broken.append(f"{where} points outside the repository")
            elif not linked.exists():
                broken.append(f"{where} does not exist")
            elif anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
                broken.append(f"{where}: {shown(linked)} has no heading #{anchor}")
    assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move reference text to docs/"
    linked = {target.partition("#")[0] for _, target in links(README)}
    unlisted = [shown(page) for page in sorted(DOCS.glob("*.md")) if f"docs/{page.name}" not in linked]
    assert not unlisted, f"README.md's table of contents does not link {unlisted}"


def test_the_message_page_documents_every_field_and_the_operating_page_every_metric() -> None:
    schema_path = ROOT / "schemas" / "verdict-message.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    page = (DOCS / "verdict.md").read_text(encoding="utf-8")
    section = page[page.index("## The SNS message") :]
    assert "schemas/verdict-message.schema.json" in section
    unlisted = [name for name in schema["properties"] if f"`{name}`" not in section]
    assert not unlisted, f"docs/verdict.md's SNS message section does not list {unlisted}"
    operating = (DOCS / "operating.md").read_text(encoding="utf-8")
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    metrics = ["BagsVerified", "BagsInvalid", "BagsErrored", "BytesVerified", "GetRequests"]
    metrics += ["VerificationSeconds", "BagsRouted"]
    alarms = re.findall(r"^  (\w+Alarm):\s*$", template, re.M)
    assert alarms, "no alarms found in template.yaml"
    undocumented = [name for name in metrics + alarms if f"`{name}`" not in operating]
    assert not undocumented, f"docs/operating.md does not document {undocumented}"


def test_every_problem_kind_has_its_line_on_the_kinds_page() -> None:
    source = (ROOT / "layers" / "engine" / "bagverify" / "verdict.py").read_text(encoding="utf-8")
    body = source[source.index("class Kind(") :]
    body = body[: body.index("\n\n\n")]
    kinds = re.findall(r'^    [A-Z_]+ = "(\w+)"', body, re.M)
    assert len(kinds) > 40, kinds
    rows = {
        match.group(1)
        for line in (DOCS / "kinds.md").read_text(encoding="utf-8").splitlines()
        if (match := re.match(r"\| `(\w+)` \|", line))
    }
    assert not set(kinds) - rows, f"docs/kinds.md has no row for {sorted(set(kinds) - rows)}"
    assert not rows - set(kinds), f"docs/kinds.md has rows for kinds gone: {sorted(rows - set(kinds))}"


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("The SNS message", "the-sns-message"),
        ("Sizing, time and cost", "sizing-time-and-cost"),
        ("BagIt 0.93\u20130.97 compared with RFC 8493 (1.0)", "bagit-093097-compared-with-rfc-8493-10"),
        ("`S3RangedFile` and [its parts](x.md)", "s3rangedfile-and-its-parts"),
        ("What to do on each error kind", "what-to-do-on-each-error-kind"),
    ],
)
def test_github_slugs(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug
