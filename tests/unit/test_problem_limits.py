"""Of each kind a verdict names at most MAX_NAMED_PER_KIND problems and counts the rest, exactly.

A bag zipped without its payload folder has every listed file missing, an archive zipped with a
password every member encrypted: a million Problems held at once took 1.9 GB, more than the
function has. Here the limit is lowered so that small real bags reach it.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from bagverify import Kind, Status, verify_archive
from bagverify import verdict as verdict_module
from bagverify.notify import verdict_message
from bagverify.verdict import NamedProblems, Problem, problem_count
from devtools.sample_bags import make_bag_zip

FILES = {f"page-{number:02d}.txt": f"page {number}\n".encode() for number in range(12)}


def without_payload(archive: bytes) -> bytes:
    """The archive with its data/ members left out, as a depositor zipping only the tag files would."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if "/data/" not in info.filename:
                target.writestr(info, source.read(info))
    return out.getvalue()


def test_a_bag_without_its_payload_names_the_first_missing_files_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = without_payload(make_bag_zip(FILES))
    unlimited = verify_archive(io.BytesIO(archive), "bag.zip")
    monkeypatch.setattr(verdict_module, "MAX_NAMED_PER_KIND", 5)
    limited = verify_archive(io.BytesIO(archive), "bag.zip")

    assert unlimited.status is limited.status is Status.INVALID
    missing = [p for p in limited.problems if p.kind is Kind.MISSING_FILE]
    named = [p for p in missing if p.path is not None]
    [summary] = [p for p in missing if p.path is None]
    assert [p.path for p in named] == [p.path for p in unlimited.problems if p.kind is Kind.MISSING_FILE][:5]
    assert summary.details == {"not_named": 7} and "7 more missing_file" in summary.message
    # Everything else is named as before, and the counts published stay exact.
    others = [p for p in limited.problems if p.kind is not Kind.MISSING_FILE]
    assert others == [p for p in unlimited.problems if p.kind is not Kind.MISSING_FILE]
    assert verdict_message(limited)["problem_count"] == verdict_message(unlimited)["problem_count"]
    assert verdict_message(unlimited)["problem_count"] == len(unlimited.problems)


def test_an_archive_encrypted_throughout_names_the_first_members_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with zipfile.ZipFile(io.BytesIO(make_bag_zip(FILES))) as archive:
        archive.extractall(tmp_path)
    target = tmp_path / "encrypted.zip"
    subprocess.run(["zip", "-q", "-r", "-P", "secret", str(target), "sample-bag"], cwd=tmp_path, check=True)
    monkeypatch.setattr(verdict_module, "MAX_NAMED_PER_KIND", 3)

    verdict = verify_archive(io.BytesIO(target.read_bytes()), "encrypted.zip")

    encrypted = [p for p in verdict.problems if p.kind is Kind.ENCRYPTED_MEMBER]
    assert len([p for p in encrypted if p.path]) == 3
    [summary] = [p for p in encrypted if p.path is None]
    with zipfile.ZipFile(target) as archive:
        members = sum(1 for info in archive.infolist() if not info.is_dir())
    assert summary.details["not_named"] == members - 3, verdict.problems


def test_counts_from_several_scans_are_merged_into_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # A distributed run: each shard limits its own problems; the aggregator adds up their counts.
    monkeypatch.setattr(verdict_module, "MAX_NAMED_PER_KIND", 2)
    shards = []
    for shard in range(3):
        problems = NamedProblems()
        problems.extend(Problem(Kind.CORRUPT_MEMBER, "bad", f"data/{shard}-{n}") for n in range(5))
        shards.append(problems.done())
    merged = NamedProblems()
    for problems in shards:
        merged.extend(problems)

    done = merged.done()
    assert [p.path for p in done] == ["data/0-0", "data/0-1", None]
    assert done[-1].details == {"not_named": 13}
    assert problem_count(done) == 15
