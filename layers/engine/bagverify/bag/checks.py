"""RFC 8493 checks over what one pass through the archive found. Every problem is named; none stops the rest.

Section numbers refer to RFC 8493. Where BagIt 0.93-0.97 differ, the declared version's rules apply:
each such rule is a property of versions.VersionRules, named by its row in docs/bagit-versions.md.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bagverify.bag.layout import (
    PAST_PAYLOAD_DIR,
    PAYLOAD_DIR,
    ManifestName,
    all_payload,
    any_unsafe_path,
    is_payload,
    is_unsafe_path,
)
from bagverify.bag.tag_files import (
    FetchEntry,
    LineProblems,
    Manifest,
    decode_manifest_path,
    decode_tag_file,
    parse_bag_info,
    parse_bagit_txt,
    parse_fetch,
    parse_manifest,
    parse_payload_oxum,
    quoted,
)
from bagverify.bag.versions import KNOWN_VERSIONS, RFC_8493, VersionRules
from bagverify.checksums import DigestLayout, hashlib_name
from bagverify.verdict import Kind, Mode, NamedProblems, Problem

if TYPE_CHECKING:
    from bagverify.bag.profile_choice import ProfileChoice

# Tag files bagverify parses, so keeps in memory while streaming the archive.
PARSED_TAG_FILES = ("bagit.txt", "bag-info.txt", "package-info.txt", "fetch.txt")


@dataclass
class BagContents:
    """What one pass over the archive found, keyed by path relative to the bag root.

    `digests`: per file read, its raw digests concatenated, of the payload algorithms for a path
    under data/, else of the tag algorithms (`payload_layout`, `tag_layout`).
    """

    digests: dict[str, bytes] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    tag_contents: dict[str, bytes] = field(default_factory=dict)
    has_payload_dir: bool = False
    payload_layout: DigestLayout = field(default_factory=lambda: DigestLayout([]))
    tag_layout: DigestLayout = field(default_factory=lambda: DigestLayout([]))


class Findings:
    """Problems (the bag is invalid) and warnings (valid, but not strictly so), in the order found;
    of each kind at most MAX_NAMED_PER_KIND named, the rest counted (verdict.NamedProblems)."""

    def __init__(self) -> None:
        self._problems = NamedProblems()
        self._warnings = NamedProblems()

    @property
    def problems(self) -> list[Problem]:
        return self._problems.done()

    @property
    def warnings(self) -> list[Problem]:
        return self._warnings.done()

    def problem(self, kind: Kind, message: str, path: str | None = None, **details: Any) -> None:
        self._problems.add(Problem(kind, message, path, details))

    def warning(self, kind: Kind, message: str, path: str | None = None, **details: Any) -> None:
        self._warnings.add(Problem(kind, message, path, details))

    def extend(self, problems: Iterable[Problem], warnings: Iterable[Problem] = ()) -> None:
        self._problems.extend(problems)
        self._warnings.extend(warnings)


def check_bag(
    contents: BagContents,
    manifest_names: list[ManifestName],
    findings: Findings,
    *,
    mode: Mode = Mode.FULL,
    profiles: ProfileChoice | None = None,
    serialization: str | None = None,
) -> Problem | None:
    """Every check of the bag in `contents`. In fast mode (bagit-python's --fast) only that it is a bag
    (bagit.txt, data/, a payload manifest) and its Payload-Oxum; in completeness mode everything but
    the payload's checksums, which were not computed (their files' digests are absent).

    `profiles`: the BagIt profile to check the bag against, chosen once its bag-info.txt is read (in
    every mode: a profile is judged from the tag files and the listing); `serialization` the archive's
    MIME type, from its content. Returns the error that keeps the bag from being verified as asked
    (the profile it names is malformed, or missing where one is required), else None."""
    version, encoding = _check_bagit_txt(contents, findings)
    rules = VersionRules(version)
    present = _PresentFiles(contents.sizes)
    present.warn_about_collisions(findings)
    if not contents.has_payload_dir:
        findings.problem(Kind.NO_PAYLOAD_DIR, "the bag has no payload directory data/", PAYLOAD_DIR)

    payload_names = [m for m in manifest_names if not m.is_tag]
    tag_names = [m for m in manifest_names if m.is_tag]
    if not payload_names:
        findings.problem(Kind.NO_PAYLOAD_MANIFEST, "the bag has no payload manifest (manifest-<alg>.txt)")
    if mode is Mode.FAST:
        tags = _check_bag_info(contents, present, encoding, rules, findings)
        return _check_profile(
            profiles, version, tags, manifest_names, present, contents, serialization, findings
        )
    payload_manifests = _read_manifests(contents, payload_names, encoding, rules, present, findings)
    tag_manifests = _read_manifests(contents, tag_names, encoding, rules, present, findings)
    fetch_entries = _read_fetch(contents, encoding, rules, present, findings)

    fetched_later = {entry.path: entry for entry in fetch_entries}
    _check_listed_files(contents, present, payload_manifests, fetched_later, findings, payload=True)
    _check_every_payload_file_listed(present, payload_manifests, rules, findings)
    _check_tag_manifest_rules(tag_manifests, payload_names, present, rules, findings)
    _check_listed_files(contents, present, tag_manifests, {}, findings, payload=False)
    _check_fetch(fetch_entries, payload_manifests, present, rules, findings)
    tags = _check_bag_info(contents, present, encoding, rules, findings)
    return _check_profile(profiles, version, tags, manifest_names, present, contents, serialization, findings)


def _check_profile(
    profiles: ProfileChoice | None,
    version: tuple[int, int],
    tags: list[tuple[str, str]],
    manifest_names: list[ManifestName],
    present: _PresentFiles,
    contents: BagContents,
    serialization: str | None,
    findings: Findings,
) -> Problem | None:
    if profiles is None or not profiles.active:
        return None
    # Imported here: most bags are checked against no profile.
    from bagverify.bag.profile import BagFacts, check_profile

    profile, warnings, error = profiles.choose(tags)
    findings.extend([], warnings)
    if profile is None:
        return error
    facts = BagFacts(
        bagit_version=version,
        bag_info=tags,
        payload_manifest_algorithms=[m.algorithm for m in manifest_names if not m.is_tag],
        tag_manifest_algorithms=[m.algorithm for m in manifest_names if m.is_tag],
        tag_files=list(present.tag_paths),
        payload_files={path: contents.sizes[path] for path in present.payload_paths},
        has_fetch="fetch.txt" in present.paths,
        serialization=serialization,
    )
    findings.extend(check_profile(profile, facts))
    return None


# -- bagit.txt (§2.1.1) ----------------------------------------------------------


def _check_bagit_txt(contents: BagContents, findings: Findings) -> tuple[tuple[int, int], str]:
    """The declared version and tag-file encoding (1.0 and UTF-8 when they can't be read)."""
    data = contents.tag_contents.get("bagit.txt")
    if data is None:
        if "bagit.txt" not in contents.unreadable:
            findings.problem(Kind.BAGIT_TXT_INVALID, "bagit.txt is missing", "bagit.txt")
        return RFC_8493, "utf-8"
    # A BOM is judged here, by the version declared after it (V1); the parser reads what follows.
    bom = data.startswith(codecs.BOM_UTF8)
    declaration, problems = parse_bagit_txt(data[len(codecs.BOM_UTF8) :] if bom else data)
    if bom and (declaration is None or VersionRules(declaration.version).bagit_txt_bom_is_a_problem):
        findings.problem(
            Kind.BAGIT_TXT_INVALID, "bagit.txt must not begin with a byte order mark", "bagit.txt"
        )
    elif bom:
        findings.warning(
            Kind.BYTE_ORDER_MARK,
            "bagit.txt begins with a byte order mark, which BagIt 0.97 and 1.0 forbid and "
            "this bag's version does not; stripped",
            "bagit.txt",
        )
    findings.extend(problems)
    if declaration is None:
        return RFC_8493, "utf-8"
    if declaration.version not in KNOWN_VERSIONS:
        major, minor = declaration.version
        findings.problem(
            Kind.BAGIT_TXT_INVALID,
            f"BagIt-Version {major}.{minor} is not one bagverify knows (0.93-0.97, 1.0)",
            "bagit.txt",
        )
    return declaration.version, declaration.encoding


# -- names: exact, or equal after Unicode normalization (§6.1.1) ----------------------


class _PresentFiles:
    """The files in the archive, found by exact name or, failing that, by NFC-normalized name.

    Zippers on macOS store names in NFD while manifests written elsewhere are NFC (or the
    reverse): the same file, so it is matched, with a warning naming both forms.
    """

    def __init__(self, sizes: dict[str, int]) -> None:
        # Sorted from the dict, not the set: in archive order, often sorted already, timsort is ~20x faster.
        self.sorted_paths = sorted(sizes)
        self.paths = set(self.sorted_paths)
        # Sorted, the payload paths are one run, [PAYLOAD_DIR, PAST_PAYLOAD_DIR): found by two
        # bisections, not by testing each path.
        start = bisect.bisect_left(self.sorted_paths, PAYLOAD_DIR)
        end = bisect.bisect_left(self.sorted_paths, PAST_PAYLOAD_DIR, lo=start)
        self.payload_paths = self.sorted_paths[start:end]
        self.tag_paths = self.sorted_paths[:start] + self.sorted_paths[end:]

    @functools.cached_property
    def _by_nfc(self) -> dict[str, list[str]]:
        """Paths by NFC form; built when first needed, by a listed name not present exactly (most bags
        list none such: they then never normalize every path)."""
        by_nfc: dict[str, list[str]] = defaultdict(list)
        for path in self.sorted_paths:
            by_nfc[unicodedata.normalize("NFC", path)].append(path)
        return by_nfc

    def find(self, listed: str) -> str | None:
        if listed in self.paths:
            return listed
        candidates = self._by_nfc.get(unicodedata.normalize("NFC", listed), [])
        return candidates[0] if len(candidates) == 1 else None

    def warn_about_collisions(self, findings: Findings) -> None:
        folded = [unicodedata.normalize("NFC", path).casefold() for path in self.sorted_paths]
        if len(set(folded)) == len(folded):
            return  # no two paths alike, as in most bags: nothing to group
        by_folded: dict[str, list[str]] = defaultdict(list)
        for key, path in zip(folded, self.sorted_paths, strict=True):
            by_folded[key].append(path)
        for paths in by_folded.values():
            if len(paths) > 1:
                findings.warning(
                    Kind.NAME_COLLISION,
                    f"names differ only by case or Unicode normalization: {', '.join(paths)}; "
                    "they collide on case-insensitive or normalizing file systems",
                    paths[0],
                    paths=paths,
                )


# -- manifests (§2.1.3, §2.2.1, §3) ------------------------------------------------


def _read_manifests(
    contents: BagContents,
    names: list[ManifestName],
    encoding: str,
    rules: VersionRules,
    present: _PresentFiles,
    findings: Findings,
) -> list[Manifest]:
    manifests = []
    for name in names:
        # Taken out: once parsed, nothing reads a manifest's bytes again (~90 MB per million lines).
        data = contents.tag_contents.pop(name.path, None)
        if data is None:  # unreadable member, already reported
            continue
        text = _decode(data, encoding, name.path, rules, findings)
        del data
        if text is None:
            continue
        manifest, problems, warnings = parse_manifest(
            text,
            name.path,
            name.algorithm,
            strict=rules.identical_duplicate_is_a_problem,
            percent_decoded=rules.is_rfc_8493,
        )
        findings.extend(problems, warnings)
        if not rules.is_rfc_8493:
            _apply_legacy_paths(manifest, rules, present, findings)
        _check_entries(manifest, findings)
        manifests.append(manifest)
    return manifests


def _decode(data: bytes, encoding: str, path: str, rules: VersionRules, findings: Findings) -> str | None:
    text, problems, warnings = decode_tag_file(
        data, encoding, path, stray_bom_is_a_problem=rules.stray_bom_is_a_problem(encoding)
    )
    findings.extend(problems, warnings)
    return text


def _legacy_path(path: str, rules: VersionRules, known: Container[str]) -> tuple[str, str | None]:
    """A pre-1.0 manifest or fetch.txt path as that version reads it, and what was done to it, if anything.

    V13: backslashes are separators in 0.93-0.95. V12: no draft before 1.0 percent-encodes paths, so
    the path is taken as written; only when no such file is there and decoding %0D and %0A (which
    bagit-python and Bagger wrote into 0.97 manifests; never %25) names one, is that the file meant.
    """
    done = None
    if "\\" in path and rules.backslash_is_a_separator:
        path, done = path.replace("\\", "/"), "'\\' read as '/'"
    if "%" in path and path not in known:
        decoded = decode_manifest_path(path, rules.percent_decodes)
        if decoded != path and decoded in known:
            path, done = decoded, "%0D/%0A decoded"
    return path, done


def _apply_legacy_paths(
    manifest: Manifest, rules: VersionRules, present: _PresentFiles, findings: Findings
) -> None:
    if not any("%" in path or "\\" in path for path in manifest.entries):
        return  # most manifests: nothing to read otherwise
    entries: dict[str, str] = {}
    for path, checksum in manifest.entries.items():
        read, done = _legacy_path(path, rules, present.paths)
        if done is not None:
            findings.warning(
                Kind.LEGACY_RULE,
                f"{manifest.path} lists {quoted(path)}: {done}, as BagIt {_shown(rules)} reads it",
                read,
                manifest=manifest.path,
            )
        entries[read] = checksum
    manifest.entries = entries


def _shown(rules: VersionRules) -> str:
    return "{}.{}".format(*rules.version)


def _check_entries(manifest: Manifest, findings: Findings) -> None:
    """Paths safe (§5.1) and, for payload manifests, under data/; checksums of the algorithm's length."""
    # hashlib_name accepts only algorithms of a fixed digest size (not shake_*), else None.
    constructor = hashlib_name(manifest.algorithm)
    digest_hex_length = hashlib.new(constructor).digest_size * 2 if constructor else None
    if _all_entries_sound(manifest, digest_hex_length):
        return
    problems = LineProblems(manifest.path)  # the first MAX_LINE_PROBLEMS named, the rest counted
    for path, checksum in list(manifest.entries.items()):
        if is_unsafe_path(path):
            problems.add(
                Kind.UNSAFE_PATH,
                f"{manifest.path} lists {quoted(path)}: absolute, '..', '~', drive-letter, backslash or NUL "
                "paths are not allowed",
                path,
                manifest=manifest.path,
            )
            del manifest.entries[path]
        elif not manifest.is_tag and not is_payload(path):
            problems.add(
                Kind.MANIFEST_LINE_INVALID,
                f"{manifest.path} lists {path}, which is outside data/",
                path,
                manifest=manifest.path,
            )
            del manifest.entries[path]
        elif digest_hex_length and len(checksum) != digest_hex_length:
            problems.add(
                Kind.MANIFEST_LINE_INVALID,
                f"{manifest.path}: the {manifest.algorithm} checksum of {path} has "
                f"{len(checksum)} hex digits, not {digest_hex_length}",
                path,
                manifest=manifest.path,
            )
    findings.extend(problems.done())


def _all_entries_sound(manifest: Manifest, digest_hex_length: int | None) -> bool:
    """Whether _check_entries' tests pass for every entry, as they do in most manifests: each test
    answered for all entries at once, several times faster than entry by entry. When any may fail,
    _check_entries runs them entry by entry, naming each fault in order."""
    entries = manifest.entries
    return (
        not any_unsafe_path(entries)
        and (manifest.is_tag or all_payload(entries))
        and (not digest_hex_length or set(map(len, entries.values())) <= {digest_hex_length})
    )


def _check_listed_files(
    contents: BagContents,
    present: _PresentFiles,
    manifests: list[Manifest],
    fetched_later: dict[str, FetchEntry],
    findings: Findings,
    *,
    payload: bool,
) -> None:
    """Every listed file is in the archive and has the listed checksum."""
    missing_reported: set[str] = set()
    paths, digests = present.paths, contents.digests
    for manifest in manifests:
        algorithm = manifest.algorithm
        # Where this algorithm's digest lies in a payload file's digests, and in a tag file's.
        payload_span = contents.payload_layout.spans.get(algorithm)
        tag_span = contents.tag_layout.spans.get(algorithm)
        for listed, expected in manifest.entries.items():
            if listed in paths:  # find()'s first test, inline: most files are found so
                actual_path = listed
            else:
                found = present.find(listed)
                if found is None:
                    if listed not in missing_reported:
                        missing_reported.add(listed)
                        _report_missing(listed, manifest, fetched_later.get(listed), findings)
                    continue
                actual_path = found  # not `listed`, which is not present
                if payload:
                    findings.warning(
                        Kind.NORMALIZATION_MISMATCH,
                        f"{manifest.path} lists {listed!r}, the archive holds {actual_path!r} "
                        "(same name, different Unicode normalization)",
                        actual_path,
                    )
            found_digests = digests.get(actual_path)
            # is_payload(), inline (once per manifest line): the rule Plan.algorithms_for chose by.
            span = payload_span if actual_path.startswith(PAYLOAD_DIR) else tag_span
            if found_digests is None or span is None:  # unreadable member or unsupported algorithm,
                continue  # already reported
            actual = found_digests[span[0] : span[1]].hex()
            if actual != expected:
                findings.problem(
                    Kind.CHECKSUM_MISMATCH,
                    f"{actual_path}: {algorithm} is {actual}, {manifest.path} says {expected}",
                    actual_path,
                    algorithm=algorithm,
                    expected=expected,
                    actual=actual,
                    manifest=manifest.path,
                )


def _report_missing(path: str, manifest: Manifest, fetch: FetchEntry | None, findings: Findings) -> None:
    if fetch is not None:
        findings.problem(
            Kind.MISSING_FILE,
            f"{path} is to be fetched from {fetch.url} (fetch.txt) and is not in the archive: "
            "the bag is incomplete (bagverify never follows fetch URLs)",
            path,
            manifest=manifest.path,
            fetch_url=fetch.url,
        )
    else:
        findings.problem(
            Kind.MISSING_FILE,
            f"{path} is listed in {manifest.path} but not in the bag",
            path,
            manifest=manifest.path,
        )


def _check_every_payload_file_listed(
    present: _PresentFiles, manifests: list[Manifest], rules: VersionRules, findings: Findings
) -> None:
    """Every payload file is listed: in every payload manifest from 1.0 on, in at least one before."""
    if not manifests:
        return
    # Each manifest's paths in NFC. ASCII is its own NFC, so a manifest of ASCII paths (most) is
    # looked up as it is: no set of its million normalized paths is built beside it.
    listed_nfc: list[Container[str]] = [
        m.entries
        if all(map(str.isascii, m.entries))
        else {unicodedata.normalize("NFC", path) for path in m.entries}
        for m in manifests
    ]
    for path in present.payload_paths:
        key = path if path.isascii() else unicodedata.normalize("NFC", path)
        # A file every manifest lists is absent from none, and nothing is said of it: most files.
        if all(key in listed for listed in listed_nfc):
            continue
        absent = [m.path for m, listed in zip(manifests, listed_nfc, strict=True) if key not in listed]
        if len(absent) == len(manifests):
            findings.problem(Kind.UNLISTED_FILE, f"{path} is in the bag but in no payload manifest", path)
        elif absent and rules.every_manifest_lists_every_file:  # V16
            findings.problem(
                Kind.NOT_IN_EVERY_MANIFEST,
                f"{path} is missing from {', '.join(absent)} "
                "(BagIt 1.0: every payload manifest lists every file)",
                path,
                manifests=absent,
            )


def _check_tag_manifest_rules(
    tag_manifests: list[Manifest],
    payload_names: list[ManifestName],
    present: _PresentFiles,
    rules: VersionRules,
    findings: Findings,
) -> None:
    """§2.2.1: a tag manifest lists every payload manifest, no tag manifest and nothing under data/.

    V17: before 1.0 only 'no payload files' binds; a listed tag manifest is a warning (and its checksum
    is still verified, unless it is the listing manifest itself, which no checksum can include).
    """
    tag_files = [p for p in present.tag_paths if not p.startswith("tagmanifest-")]
    for manifest in tag_manifests:
        for path in sorted(manifest.entries):
            if is_payload(path):
                findings.problem(
                    Kind.TAG_MANIFEST_INVALID,
                    f"{manifest.path} lists payload file {path}",
                    path,
                    manifest=manifest.path,
                )
            elif (name := ManifestName.parse(path)) is not None and name.is_tag:
                if rules.tag_manifest_listing_a_tag_manifest_is_a_problem:
                    findings.problem(
                        Kind.TAG_MANIFEST_INVALID,
                        f"{manifest.path} lists tag manifest {path}",
                        path,
                        manifest=manifest.path,
                    )
                    continue
                findings.warning(
                    Kind.LEGACY_RULE,
                    f"{manifest.path} lists tag manifest {path}, which BagIt 1.0 forbids and "
                    f"BagIt {_shown(rules)} allows"
                    + ("; not checked (no checksum can include itself)" if path == manifest.path else ""),
                    path,
                    manifest=manifest.path,
                )
                if path == manifest.path:
                    del manifest.entries[path]
        if rules.tag_manifest_lists_payload_manifests:
            for payload_manifest in payload_names:
                if payload_manifest.path not in manifest.entries:
                    findings.problem(
                        Kind.TAG_MANIFEST_INVALID,
                        f"{manifest.path} does not list payload manifest {payload_manifest.path}",
                        payload_manifest.path,
                        manifest=manifest.path,
                    )
        for path in tag_files:
            if path not in manifest.entries and ManifestName.parse(path) is None:
                findings.warning(
                    Kind.UNLISTED_TAG_FILE,
                    f"tag file {path} is not in {manifest.path}",
                    path,
                    manifest=manifest.path,
                )


# -- fetch.txt (§2.2.3) ------------------------------------------------------------


def _read_fetch(
    contents: BagContents, encoding: str, rules: VersionRules, present: _PresentFiles, findings: Findings
) -> list[FetchEntry]:
    data = contents.tag_contents.get("fetch.txt")
    if data is None:
        return []
    text = _decode(data, encoding, "fetch.txt", rules, findings)
    if text is None:
        return []
    entries, problems = parse_fetch(text, percent_decoded=rules.is_rfc_8493)
    findings.extend(problems)
    if rules.is_rfc_8493:
        return entries
    legacy = []
    for entry in entries:
        read, _ = _legacy_path(entry.path, rules, present.paths)
        legacy.append(FetchEntry(entry.url, entry.length, read))
    return legacy


def _check_fetch(
    entries: list[FetchEntry],
    payload_manifests: list[Manifest],
    present: _PresentFiles,
    rules: VersionRules,
    findings: Findings,
) -> None:
    for entry in entries:
        if not is_payload(entry.path):
            findings.problem(
                Kind.FETCH_INVALID, f"fetch.txt lists {entry.path}, which is not a payload file", entry.path
            )
            continue
        absent = [m.path for m in payload_manifests if entry.path not in m.entries]
        # V19: in every payload manifest from 1.0 on, in at least one before.
        if absent and (rules.fetched_file_in_every_manifest or len(absent) == len(payload_manifests)):
            findings.problem(
                Kind.FETCH_INVALID,
                f"fetch.txt lists {entry.path}, which is not in {', '.join(absent)}",
                entry.path,
                manifests=absent,
            )
            if present.find(entry.path) is None and len(absent) == len(payload_manifests):
                # Not in any manifest, so the manifest check will not name it as missing.
                findings.problem(
                    Kind.MISSING_FILE,
                    f"{entry.path} is to be fetched from {entry.url} (fetch.txt) and is not in the archive",
                    entry.path,
                    fetch_url=entry.url,
                )


# -- bag-info.txt (§2.2.2) ---------------------------------------------------------


def _check_bag_info(
    contents: BagContents, present: _PresentFiles, encoding: str, rules: VersionRules, findings: Findings
) -> list[tuple[str, str]]:
    """The bag-info.txt checks; its (label, value) tags, for a profile to judge."""
    name = rules.bag_info_name  # V8: package-info.txt up to 0.95
    if name not in contents.tag_contents:
        name = "bag-info.txt"  # an old bag written with the later name is read all the same
    data = contents.tag_contents.get(name)
    if data is None:
        return []
    text = _decode(data, encoding, name, rules, findings)
    if text is None:
        return []
    tags, problems, warnings = parse_bag_info(text, name, colon_spacing=rules.bag_info_colon_spacing)
    findings.extend(problems, warnings)
    # Reserved labels are case-insensitive (§2.2.2).
    oxums = [value for label, value in tags if label.lower() == "payload-oxum"]
    if len(oxums) > 1:
        message = f"{name} repeats Payload-Oxum ({len(oxums)} times)"
        if rules.repeated_payload_oxum_is_a_problem:  # V7
            findings.problem(Kind.BAG_INFO_INVALID, message, name)
        else:
            findings.warning(Kind.LEGACY_RULE, f"{message}: BagIt 1.0 forbids it; each is checked", name)
    payload_files = present.payload_paths  # those of contents.sizes (sorted, which changes no sum)
    actual = (sum(map(contents.sizes.__getitem__, payload_files)), len(payload_files))
    for value in oxums:
        oxum = parse_payload_oxum(value)
        if oxum is None:
            findings.problem(Kind.BAG_INFO_INVALID, f"Payload-Oxum {value!r} is not 'octets.streams'", name)
        elif oxum != actual:
            # Reported beside, never instead of, the per-file checks.
            findings.problem(
                Kind.PAYLOAD_OXUM_MISMATCH,
                f"Payload-Oxum says {oxum[0]}.{oxum[1]}, the payload is {actual[0]}.{actual[1]}",
                name,
                expected=f"{oxum[0]}.{oxum[1]}",
                actual=f"{actual[0]}.{actual[1]}",
            )
    return tags
