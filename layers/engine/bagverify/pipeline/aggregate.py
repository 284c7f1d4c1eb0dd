"""Step 3, the verdict: every scan's results merged into one BagContents, the whole-bag checks, one Verdict.

The checks are `bag.checks.check_bag`, whatever the number of shards: completeness both ways,
checksums against every manifest, Payload-Oxum, tag manifests, bagit.txt, bag-info.txt, fetch.txt.

A scan that stopped (S3 failed, deadline) or a shard that never reported is an *error*, and its
members are merged as present but unreadable: the checks then neither call them missing nor
compare their checksums, and every problem the other shards found is still named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bagverify.bag.checks import BagContents, Findings, check_bag
from bagverify.bag.layout import ManifestName
from bagverify.checksums import DigestLayout
from bagverify.pipeline.plan import Plan
from bagverify.pipeline.scan import ScanResult, payload_totals
from bagverify.verdict import Problem, Stats, Verdict, decide


def aggregate(
    plan: Plan,
    results: Sequence[ScanResult],
    *,
    get_requests: int = 0,
    bytes_read: int = 0,
    seconds: float = 0.0,
    errors: Iterable[Problem] = (),
    hedged_requests: int = 0,
) -> Verdict:
    """The verdict on the bag from its plan and the results of its scans (tag files first, then shards).

    `errors`: failures outside any scan (a shard's Lambda that failed, ...), each an *error*.
    """
    findings = Findings()
    findings.extend(plan.problems, plan.warnings)
    failures = [plan.error] if plan.error else []
    for result in results:
        findings.extend(result.problems, result.warnings)
        if result.error is not None:
            failures.append(result.error)
    failures.extend(errors)
    digest = None
    if plan.listed:
        from bagverify.ledger import manifests_digest  # with the ledger's code, on first use

        contents = merge(plan, results)
        digest = manifests_digest(
            {path: data for path, data in contents.tag_contents.items() if ManifestName.parse(path)}
        )
        unverifiable = check_bag(
            contents,
            plan.manifests,
            findings,
            mode=plan.mode,
            profiles=plan.profiles,
            serialization=plan.serialization,
        )
        if unverifiable is not None:
            failures.append(unverifiable)
    files, payload_bytes = payload_totals(results)
    stats = Stats(
        files, payload_bytes, plan.archive_bytes, get_requests, bytes_read, round(seconds, 3), hedged_requests
    )
    return Verdict(
        decide(findings.problems, failures[0] if failures else None),
        plan.source,
        [*findings.problems, *failures],
        findings.warnings,
        stats,
        plan.object,
        plan.mode,
        manifests_digest=digest,
    )


def merge(plan: Plan, results: Iterable[ScanResult]) -> BagContents:
    """The results as one BagContents. It takes over their tag files' contents (the checks let go of
    each manifest once parsed: a million lines are ~100 MB)."""
    contents = BagContents(
        has_payload_dir=plan.has_payload_dir,
        payload_layout=DigestLayout(plan.payload_algorithms),
        tag_layout=DigestLayout(plan.tag_algorithms),
    )
    for result in results:
        for path, size, digests in result.files:
            contents.sizes[path] = size
            if digests is None:
                contents.unreadable.add(path)
            else:
                contents.digests[path] = digests
        for path, size in result.unverified:
            contents.sizes[path] = size
            contents.unreadable.add(path)
        contents.unreadable.update(result.unreadable)
        contents.tag_contents.update(result.tag_contents)
        result.tag_contents = {}
    return contents
