"""BagIt Profiles Specification 1.4.0: a profile read and judged (`load_profile`), then a bag checked
against it (`check_profile`). Pure: no I/O, no network; what the bag is comes in as `BagFacts`.

Readings of the specification where it is silent or loose (each pinned by tests/unit/test_profile.py):

* Labels. `Bag-Info` labels, and `BagIt-Profile-Identifier` in the bag's bag-info.txt, are compared
  case-insensitively (ASCII case): RFC 8493 §2.2.2 makes the reserved labels case-insensitive, the
  profile specification says nothing of case, and one rule for every label is what a depositor can
  follow. Two profile labels differing only in case are a malformed profile. Values are compared exactly,
  less the whitespace around them (a bag-info line's trailing blanks are not part of its value).
* Fields are honoured whatever `BagIt-Profile-Version` the profile declares (none means 1.1.0): a profile
  that writes `Manifests-Allowed` means it. Unknown top-level fields, and unknown properties of a
  `Bag-Info` tag (`recommended`, ...), are ignored: profiles carry extensions (APTrust's `Other-Info`).
* `Accept-BagIt-Version` is required and not empty ("at least one version is required"); each entry is
  `M.N` and is compared as numbers ("1.00" is 1.0).
* `Serialization`: `forbidden` makes every bag here a violation, since bagverify reads bags only as
  archives (ZIP or tar in S3). `required` needs at least one `Accept-Serialization` entry; `optional`
  with no `Accept-Serialization` accepts any archive format, with an empty one is malformed. The format
  is the archive's actual one, decided from its bytes by the caller, never from a file name.
* Manifest algorithm names are compared in lower case. `Manifests-Allowed: []` is malformed: every bag
  has a payload manifest (RFC 8493 §2.1.3).
* Path patterns (`Tag-Files-Allowed`, `Payload-Files-Allowed`). The specification says "asterisks can
  represent zero or more characters (c.f. glob(7))", and that the default `['*']` allows *all* tag
  files, those in tag directories too. So here:
    - `*` matches zero or more characters, `/` included (as bagit-profile's fnmatch does): `data/img/*`
      allows everything under data/img/, at any depth, which is what "permitted directories MUST end
      with /*" asks of a pattern;
    - a `**/` segment (at the start or after a `/`) may also match no directory at all, so
      `data/**/README` allows data/README as well as data/a/b/README; elsewhere `**` is `*`;
    - every other character is itself: `?` and `[` are not wildcards, so that a full path name (which
      the specification says an entry may be) always matches itself;
    - matching is on the whole path, case-sensitive.
  An `...-Allowed` entry ending in `/` matches no file and is malformed (write `dir/*`); an empty entry
  too. A `Payload-Files-Allowed` entry that can match nothing under data/ is malformed.
* `...-Files-Required` entries are full path names, never patterns. One ending in `/` is a directory:
  the bag must hold at least one file under it (RFC 8493 §2.1.3: a manifest lists no directories, an
  empty one is kept by a placeholder file). Payload entries begin with `data/`, tag entries must not.
  An entry that no `...-Allowed` entry covers (for a directory: that could match no file under it) is
  malformed.
* `Tag-Files-Allowed` judges every tag file but those BagIt itself names at the bag's root (bagit.txt,
  bag-info.txt, or package-info.txt before 0.96, fetch.txt, manifest-*.txt, tagmanifest-*.txt): the
  specification keeps those to Manifests-*, Tag-Manifests-* and Allow-Fetch.txt.
* `Data-Empty: true`: data/ holds no file, or exactly one file of zero octets (the least a serialized
  bag can keep a payload directory with). With `Payload-Files-Required` that no such payload meets, the
  profile is malformed.
* The specification wants serialization and BagIt version checked first, and lets processing go on after
  other faults: check_profile reports every violation it finds, those two first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bagverify.bag.versions import VersionRules
from bagverify.verdict import Kind, Problem

SPEC_VERSION = "1.4.0"
# A profile without BagIt-Profile-Version conforms to 1.1.0 (the specification, BagIt-Profile-Info).
DEFAULT_PROFILE_VERSION = "1.1.0"
IDENTIFIER_TAG = "BagIt-Profile-Identifier"
# BagIt-Profile-Info tags the specification requires. BagIt-Profile-Version is required "starting with
# v1.2.0", and its absence is how a profile says it is 1.1.0, so it cannot be required here.
REQUIRED_INFO_TAGS = ("Source-Organization", "External-Description", "Version", IDENTIFIER_TAG)
OPTIONAL_INFO_TAGS = ("BagIt-Profile-Version", "Contact-Name", "Contact-Phone", "Contact-Email")
SERIALIZATION_VALUES = ("forbidden", "required", "optional")
PAYLOAD_DIR = "data/"

# MIME types written for one archive format. Accept-Serialization is written with both the registered
# and the older x- names (the specification's own examples use "application/tar", IANA has none; the
# mimetypes module says "application/x-tar"; gzip was "application/x-gzip" before RFC 6713), so each
# name is read as its format. "application/tar+gzip" is what some profiles write for a .tar.gz, which
# is the only gzip bagverify reads.
_MIME_ALIASES = {
    "application/x-zip": "application/zip",
    "application/x-zip-compressed": "application/zip",
    "application/tar": "application/x-tar",
    "application/x-gzip": "application/gzip",
    "application/tar+gzip": "application/gzip",
    "application/x-bzip": "application/x-bzip2",
    "application/bzip2": "application/x-bzip2",
    "application/x-zstd": "application/zstd",
}
_VERSION = re.compile(r"([0-9]{1,9})\.([0-9]{1,9})")
_ROOT_MANIFEST = re.compile(r"(tag)?manifest-[^/]+\.txt")


class ProfileInvalid(Exception):
    """The profile itself is malformed: nothing can be checked against it (an *error* verdict, kind
    profile_invalid). `faults` names each fault; the message names them all."""

    kind = Kind.PROFILE_INVALID

    def __init__(self, source: str, faults: list[str]) -> None:
        self.source = source
        self.faults = list(faults)
        super().__init__(f"{source}: not a valid BagIt profile: " + "; ".join(self.faults))

    def __reduce__(self) -> tuple[type[ProfileInvalid], tuple[str, list[str]]]:
        return type(self), (self.source, self.faults)  # pickles (its arguments are not its message)


@dataclass(frozen=True)
class BagInfoRule:
    """One tag of the profile's Bag-Info."""

    label: str
    required: bool = False
    values: tuple[str, ...] = ()  # empty: any value
    repeatable: bool = True
    description: str | None = None


@dataclass(frozen=True)
class Profile:
    """A BagIt profile, judged well formed (made by load_profile), its fields read into types with the
    specification's defaults where absent."""

    identifier: str  # BagIt-Profile-Info's BagIt-Profile-Identifier
    document: dict[str, Any]  # the parsed JSON
    source: str = ""
    profile_version: str = DEFAULT_PROFILE_VERSION
    bag_info: tuple[BagInfoRule, ...] = ()
    manifests_required: tuple[str, ...] = ()
    manifests_allowed: tuple[str, ...] | None = None  # None: any
    tag_manifests_required: tuple[str, ...] = ()
    tag_manifests_allowed: tuple[str, ...] | None = None
    allow_fetch: bool = True
    fetch_required: bool = False
    data_empty: bool = False
    serialization: str = "optional"
    accept_serialization: tuple[str, ...] | None = None  # None: any format
    accept_bagit_versions: tuple[tuple[int, int], ...] = ()
    tag_files_required: tuple[str, ...] = ()
    tag_files_allowed: tuple[str, ...] = ("*",)
    payload_files_required: tuple[str, ...] = ()
    payload_files_allowed: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class BagFacts:
    """What bagverify knows of a bag after one pass, all paths relative to the bag root."""

    bagit_version: tuple[int, int]
    bag_info: list[tuple[str, str]]  # (label, value) in order, repeats kept
    payload_manifest_algorithms: list[str]  # from manifest-<alg>.txt names
    tag_manifest_algorithms: list[str]
    tag_files: list[str]  # every file outside data/ (bagit.txt, manifests, bag-info.txt, tag dirs' files...)
    payload_files: dict[str, int]  # path under data/ (with the "data/" prefix) -> size
    has_fetch: bool
    # MIME type of the archive's actual format ("application/zip", "application/x-tar", "application/gzip",
    # "application/x-bzip2", "application/x-xz", "application/zstd"); None = not serialized
    serialization: str | None


# -- path patterns ----------------------------------------------------------------------------------
#
# A pattern is read into tokens: one character (itself), STAR (`*`: any run of characters, `/` too) or
# DIRS (a `**/` segment: nothing, or any run that ends in `/`). Whole paths are matched by a regular
# expression made of the tokens. Whether a pattern can match some path *below* a directory, which no
# regular expression answers, is found by running the tokens as a small automaton over the directory.

_STAR = "<star>"  # markers are longer than one character; a literal token is exactly one
_DIRS = "<dirs>"
_SKIP = "<skip>"  # the automaton's DIRS: either skip the next two tokens or read them (STAR, then '/')


def _glob_tokens(pattern: str) -> tuple[str, ...]:
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            tokens.append(_DIRS)
            i += 3
        elif pattern[i] == "*":
            if tokens[-1:] != [_STAR]:  # a run of stars is one star
                tokens.append(_STAR)
            i += 1
        else:
            tokens.append(pattern[i])
            i += 1
    return tuple(tokens)


@lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled whole-path expression for one pattern (see the module's docstring)."""
    parts = []
    for token in _glob_tokens(pattern):
        if token == _STAR:
            parts.append(".*")
        elif token == _DIRS:
            parts.append("(?:.*/)?")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    """Whether `path` (relative to the bag root) matches `pattern`, as the profile's `...-Allowed` reads."""
    return glob_regex(pattern).fullmatch(path) is not None


def _automaton(pattern: str) -> tuple[str, ...]:
    tokens: list[str] = []
    for token in _glob_tokens(pattern):
        tokens.extend((_SKIP, _STAR, "/") if token == _DIRS else (token,))
    return tuple(tokens)


def _states_after(tokens: tuple[str, ...], text: str) -> set[int]:
    """The automaton's states (token indexes; len(tokens) is the end) after reading `text`."""

    def closure(states: Iterable[int]) -> set[int]:
        seen: set[int] = set()
        todo = list(states)
        while todo:
            state = todo.pop()
            if state in seen:
                continue
            seen.add(state)
            if state < len(tokens) and tokens[state] == _STAR:
                todo.append(state + 1)  # a star may match nothing
            elif state < len(tokens) and tokens[state] == _SKIP:
                todo.extend((state + 1, state + 3))
        return seen

    states = closure({0})
    for char in text:
        following = {
            state + (tokens[state] != _STAR)  # a star reads the character and stays
            for state in states
            if state < len(tokens) and (tokens[state] == _STAR or tokens[state] == char)
        }
        states = closure(following)
        if not states:
            break
    return states


def glob_match_automaton(pattern: str, path: str) -> bool:
    """glob_match by the automaton (the tests hold the two to one answer)."""
    tokens = _automaton(pattern)
    return len(tokens) in _states_after(tokens, path)


def glob_matches_under(pattern: str, directory: str) -> bool:
    """Whether `pattern` can match some file below `directory` (which ends in '/')."""
    tokens = _automaton(pattern)
    # A state that reads a character: some file name can follow (every state can reach the end).
    return any(state < len(tokens) and tokens[state] != _SKIP for state in _states_after(tokens, directory))


def _any_match(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{glob_regex(p).pattern})" for p in patterns) or "(?!)", re.DOTALL)


def _covered(required: str, allowed: Iterable[str]) -> bool:
    if required.endswith("/"):
        return any(glob_matches_under(pattern, required) for pattern in allowed)
    return any(glob_match(pattern, required) for pattern in allowed)


# -- loading ----------------------------------------------------------------------------------------


def load_profile(data: bytes, source: str) -> Profile:
    """Parse a BagIt profile (JSON) and judge it; raises ProfileInvalid naming every fault at once."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        document = json.loads(data, object_pairs_hook=pairs, parse_constant=no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ProfileInvalid(source, [f"not JSON: {exc}"]) from None
    if not isinstance(document, dict):
        raise ProfileInvalid(source, [f"not a JSON object but {_json_type(document)}"])
    faults = [f"the key '{key}' appears twice in one object" for key in dict.fromkeys(duplicates)]
    reader = _Reader(document, faults)
    profile = reader.profile(source)
    if faults:
        raise ProfileInvalid(source, faults)
    return profile


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


class _Reader:
    """Reads each field into its type, adding a fault for each one wrong; the default where absent."""

    def __init__(self, document: dict[str, Any], faults: list[str]) -> None:
        self.doc = document
        self.faults = faults

    def fault(self, message: str) -> None:
        self.faults.append(message)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.doc.get(key, default)
        if not isinstance(value, bool):
            self.fault(f"{key} must be true or false, not {_json_type(value)}")
            return default
        return value

    def strings(
        self, key: str, where: Mapping[str, Any] | None = None, name: str | None = None
    ) -> tuple[str, ...] | None:
        where = self.doc if where is None else where
        name = name or key
        if key not in where:
            return None
        value = where[key]
        if not isinstance(value, list):
            self.fault(f"{name} must be a list of strings, not {_json_type(value)}")
            return None
        bad = [item for item in value if not isinstance(item, str)]
        if bad:
            self.fault(f"{name} must be a list of strings; it holds {_json_type(bad[0])}")
            return None
        return tuple(value)

    def algorithms(self, key: str) -> tuple[str, ...] | None:
        names = self.strings(key)
        if names is None:
            return None
        if any(not name.strip() for name in names):
            self.fault(f"{key} holds an empty algorithm name")
        return tuple(dict.fromkeys(name.strip().lower() for name in names if name.strip()))

    def profile(self, source: str) -> Profile:
        identifier, profile_version = self.profile_info()
        bag_info = self.bag_info()
        manifests_required = self.algorithms("Manifests-Required") or ()
        manifests_allowed = self.algorithms("Manifests-Allowed")
        tag_manifests_required = self.algorithms("Tag-Manifests-Required") or ()
        tag_manifests_allowed = self.algorithms("Tag-Manifests-Allowed")
        self.required_within("Manifests", manifests_required, manifests_allowed)
        self.required_within("Tag-Manifests", tag_manifests_required, tag_manifests_allowed)
        if manifests_allowed == ():
            self.fault("Manifests-Allowed is empty, and every bag has a payload manifest (RFC 8493 §2.1.3)")
        allow_fetch = self.boolean("Allow-Fetch.txt", True)
        fetch_required = self.boolean("Fetch.txt-Required", False)
        if fetch_required and not allow_fetch:
            self.fault("Fetch.txt-Required is true but Allow-Fetch.txt is false")
        data_empty = self.boolean("Data-Empty", False)
        serialization, accept_serialization = self.serialization()
        accept_bagit_versions = self.bagit_versions()
        tag_required, tag_allowed = self.files("Tag-Files", payload=False)
        payload_required, payload_allowed = self.files("Payload-Files", payload=True)
        if data_empty:
            self.data_empty_can_hold(payload_required)
        return Profile(
            identifier=identifier,
            document=self.doc,
            source=source,
            profile_version=profile_version,
            bag_info=bag_info,
            manifests_required=manifests_required,
            manifests_allowed=manifests_allowed,
            tag_manifests_required=tag_manifests_required,
            tag_manifests_allowed=tag_manifests_allowed,
            allow_fetch=allow_fetch,
            fetch_required=fetch_required,
            data_empty=data_empty,
            serialization=serialization,
            accept_serialization=accept_serialization,
            accept_bagit_versions=accept_bagit_versions,
            tag_files_required=tag_required,
            tag_files_allowed=tag_allowed,
            payload_files_required=payload_required,
            payload_files_allowed=payload_allowed,
        )

    def profile_info(self) -> tuple[str, str]:
        info = self.doc.get("BagIt-Profile-Info")
        if info is None:
            self.fault("no BagIt-Profile-Info")
            return "", DEFAULT_PROFILE_VERSION
        if not isinstance(info, dict):
            self.fault(f"BagIt-Profile-Info must be an object, not {_json_type(info)}")
            return "", DEFAULT_PROFILE_VERSION
        for tag in (*REQUIRED_INFO_TAGS, *OPTIONAL_INFO_TAGS):
            if tag not in info:
                if tag in REQUIRED_INFO_TAGS:
                    self.fault(f"BagIt-Profile-Info lacks {tag}, which the specification requires there")
            elif not isinstance(info[tag], str):
                self.fault(f"BagIt-Profile-Info's {tag} must be a string, not {_json_type(info[tag])}")
            elif tag in REQUIRED_INFO_TAGS and not info[tag].strip():
                self.fault(f"BagIt-Profile-Info's {tag} is empty")
        identifier = info.get(IDENTIFIER_TAG)
        version = info.get("BagIt-Profile-Version", DEFAULT_PROFILE_VERSION)
        return (
            identifier.strip() if isinstance(identifier, str) else "",
            version.strip() if isinstance(version, str) else DEFAULT_PROFILE_VERSION,
        )

    def bag_info(self) -> tuple[BagInfoRule, ...]:
        section = self.doc.get("Bag-Info", {})
        if not isinstance(section, dict):
            self.fault(f"Bag-Info must be an object, not {_json_type(section)}")
            return ()
        rules: list[BagInfoRule] = []
        seen: dict[str, str] = {}
        for label, definition in section.items():
            where = f"Bag-Info's {label!r}"
            if not label.strip() or ":" in label or label != label.strip():
                self.fault(f"{where} is not a bag-info.txt label (empty, a colon, or blanks around it)")
                continue
            folded = label.lower()
            if folded in seen:
                self.fault(f"Bag-Info names {seen[folded]} and {label}: labels are compared without case")
                continue
            seen[folded] = label
            if not isinstance(definition, dict):
                self.fault(f"{where} must be an object, not {_json_type(definition)}")
                continue
            flags = {}
            for flag, default in (("required", False), ("repeatable", True)):
                value = definition.get(flag, default)
                if not isinstance(value, bool):
                    self.fault(f"{where}: '{flag}' must be true or false, not {_json_type(value)}")
                    value = default
                flags[flag] = value
            values = self.strings("values", definition, f"{where}: 'values'") or ()
            description = definition.get("description")
            if description is not None and not isinstance(description, str):
                self.fault(f"{where}: 'description' must be a string, not {_json_type(description)}")
                description = None
            rules.append(
                BagInfoRule(
                    label,
                    flags["required"],
                    tuple(value.strip() for value in values),
                    flags["repeatable"],
                    description,
                )
            )
        return tuple(rules)

    def required_within(self, name: str, required: tuple[str, ...], allowed: tuple[str, ...] | None) -> None:
        if allowed is None:
            return
        outside = [alg for alg in required if alg not in allowed]
        if outside:
            self.fault(f"{name}-Required lists {', '.join(outside)}, which {name}-Allowed does not allow")

    def serialization(self) -> tuple[str, tuple[str, ...] | None]:
        value = self.doc.get("Serialization", "optional")
        if value not in SERIALIZATION_VALUES:
            shown = repr(value) if isinstance(value, str) else _json_type(value)
            self.fault(f"Serialization must be one of {', '.join(SERIALIZATION_VALUES)}, not {shown}")
            value = "optional"
        accept = self.strings("Accept-Serialization")
        if accept is not None and any(not mime_type(item) for item in accept):
            self.fault("Accept-Serialization holds an empty MIME type")
        if value == "required" and not accept:
            self.fault("Serialization is required but Accept-Serialization names no MIME type")
        elif value == "optional" and accept == ():
            self.fault("Accept-Serialization is empty: with Serialization optional it needs one MIME type")
        return value, None if accept is None else tuple(item.strip() for item in accept)

    def bagit_versions(self) -> tuple[tuple[int, int], ...]:
        versions = self.strings("Accept-BagIt-Version")
        if versions is None:
            if "Accept-BagIt-Version" not in self.doc:
                self.fault("no Accept-BagIt-Version: the specification requires at least one version")
            return ()
        if not versions:
            self.fault("Accept-BagIt-Version is empty: the specification requires at least one version")
        out = []
        for version in versions:
            match = _VERSION.fullmatch(version.strip())
            if match is None:
                self.fault(f"Accept-BagIt-Version holds {version!r}, not a BagIt version (M.N)")
                continue
            out.append((int(match.group(1)), int(match.group(2))))
        return tuple(out)

    def files(self, name: str, *, payload: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        required_key, allowed_key = f"{name}-Required", f"{name}-Allowed"
        required = self.strings(required_key) or ()
        allowed = self.strings(allowed_key)
        good_required = []
        for path in required:
            fault = _path_fault(path, payload=payload)
            if fault:
                self.fault(f"{required_key} holds {path!r}: {fault}")
            else:
                good_required.append(path)
        good_allowed = []
        for pattern in allowed or ():
            if not pattern:
                self.fault(f"{allowed_key} holds an empty pattern")
            elif pattern.endswith("/"):
                self.fault(
                    f"{allowed_key} holds {pattern!r}, which matches no file: a directory is '{pattern}*'"
                )
            elif payload and not glob_matches_under(pattern, PAYLOAD_DIR):
                self.fault(f"{allowed_key} holds {pattern!r}, which matches no path under {PAYLOAD_DIR}")
            else:
                good_allowed.append(pattern)
        if allowed is None:
            return tuple(good_required), ("*",)
        # BagIt's own files are not judged by Tag-Files-Allowed (the module's docstring), so need no cover.
        uncovered = [
            path for path in good_required if not _covered(path, good_allowed) and not _bagit_own(path)
        ]
        if uncovered:
            self.fault(f"{required_key} lists {', '.join(uncovered)}, which {allowed_key} does not allow")
        return tuple(good_required), tuple(good_allowed)

    def data_empty_can_hold(self, required: tuple[str, ...]) -> None:
        """Data-Empty leaves room for one empty file: can one path meet every required entry?"""
        files = {path for path in required if not path.endswith("/")}
        directories = [path for path in required if path.endswith("/")]
        deepest = max(files or directories, key=len, default=None)
        if deepest is None:
            return
        if len(files) > 1 or any(not deepest.startswith(directory) for directory in directories):
            self.fault(
                "Data-Empty is true (no payload but one empty file) and Payload-Files-Required lists "
                + ", ".join(required)
                + ", which no such payload holds"
            )


def _bagit_own(path: str, bag_info_names: Iterable[str] = ("bag-info.txt", "package-info.txt")) -> bool:
    """A file at the bag root that BagIt itself names, which Tag-Files-Allowed does not judge."""
    return path in ("bagit.txt", "fetch.txt", *bag_info_names) or _ROOT_MANIFEST.fullmatch(path) is not None


def _path_fault(path: str, *, payload: bool) -> str | None:
    """What is wrong with a `...-Files-Required` entry, or None."""
    if not path:
        return "empty"
    parts = path.rstrip("/").split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in parts)
    ):
        return "not a path relative to the bag root (no '/' first, no '.', '..', '//', '\\')"
    if payload and (not path.startswith(PAYLOAD_DIR) or path == PAYLOAD_DIR):
        return f"a payload path begins with {PAYLOAD_DIR} and names something in it"
    if not payload and (path + "/").startswith(PAYLOAD_DIR):
        return f"under {PAYLOAD_DIR}, a payload path: Payload-Files-Required is for those"
    return None


def mime_type(name: str) -> str:
    """The format a MIME type names, for comparing: lower case, no parameters, one name per format."""
    base = name.split(";", 1)[0].strip().lower()
    return _MIME_ALIASES.get(base, base)


# -- checking ---------------------------------------------------------------------------------------


def check_profile(profile: Profile, bag: BagFacts) -> list[Problem]:
    """Every way the bag departs from the profile, serialization and BagIt version first."""
    rules = VersionRules(bag.bagit_version)
    bag_info_name = rules.bag_info_name
    return [
        *_serialization(profile, bag),
        *_bagit_version(profile, bag),
        *_identifier(profile, bag, bag_info_name),
        *_bag_info(profile, bag, bag_info_name),
        *_manifests(profile, bag),
        *_fetch(profile, bag),
        *_data_empty(profile, bag),
        *_tag_files(profile, bag, bag_info_name),
        *_payload_files(profile, bag),
    ]


def _problem(kind: Kind, field_name: str, message: str, path: str | None = None, **details: Any) -> Problem:
    return Problem(kind, f"{field_name}: {message}", path, {"profile_field": field_name, **details})


def _serialization(profile: Profile, bag: BagFacts) -> Iterator[Problem]:
    kind = Kind.PROFILE_SERIALIZATION
    if bag.serialization is None:
        if profile.serialization == "required":
            yield _problem(kind, "Serialization", "the profile requires a serialized bag; this one is not")
        return
    if profile.serialization == "forbidden":
        yield _problem(
            kind,
            "Serialization",
            f"the profile forbids serialized bags, and this one is an archive ({bag.serialization}): "
            "bagverify reads bags only as archives, so no bag it verifies meets this profile",
            actual=bag.serialization,
        )
        return
    accepted = profile.accept_serialization
    if accepted is not None and mime_type(bag.serialization) not in {mime_type(m) for m in accepted}:
        yield _problem(
            kind,
            "Accept-Serialization",
            f"the archive is {bag.serialization}, which the profile does not accept "
            f"(it accepts {', '.join(accepted)})",
            actual=bag.serialization,
            expected=list(accepted),
        )


def _shown_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _bagit_version(profile: Profile, bag: BagFacts) -> Iterator[Problem]:
    if bag.bagit_version not in profile.accept_bagit_versions:
        accepted = ", ".join(_shown_version(v) for v in profile.accept_bagit_versions)
        yield _problem(
            Kind.PROFILE_BAGIT_VERSION,
            "Accept-BagIt-Version",
            f"the bag is BagIt {_shown_version(bag.bagit_version)}, which the profile does not accept "
            f"(it accepts {accepted})",
            "bagit.txt",
            actual=_shown_version(bag.bagit_version),
            expected=[_shown_version(v) for v in profile.accept_bagit_versions],
        )


def _values_of(bag: BagFacts, label: str) -> list[str]:
    folded = label.lower()
    return [value.strip() for tag, value in bag.bag_info if tag.strip().lower() == folded]


def _identifier(profile: Profile, bag: BagFacts, bag_info_name: str) -> Iterator[Problem]:
    found = _values_of(bag, IDENTIFIER_TAG)
    if profile.identifier in found:
        return
    if found:
        message = f"{bag_info_name} names {', '.join(found)}, not this profile's {profile.identifier}"
    else:
        message = f"{bag_info_name} has no {IDENTIFIER_TAG}; this profile's is {profile.identifier}"
    yield _problem(
        Kind.PROFILE_IDENTIFIER, IDENTIFIER_TAG, message, bag_info_name, expected=profile.identifier
    )


def _bag_info(profile: Profile, bag: BagFacts, bag_info_name: str) -> Iterator[Problem]:
    kind = Kind.PROFILE_BAG_INFO
    for rule in profile.bag_info:
        values = _values_of(bag, rule.label)
        field_name = f"Bag-Info {rule.label}"
        if rule.required and not values:
            yield _problem(
                kind, field_name, f"required, and not in {bag_info_name}", bag_info_name, tag=rule.label
            )
        if not rule.repeatable and len(values) > 1:
            yield _problem(
                kind,
                field_name,
                f"not repeatable, and {bag_info_name} has it {len(values)} times",
                bag_info_name,
                tag=rule.label,
            )
        if rule.values:
            for value in values:
                if value not in rule.values:
                    yield _problem(
                        kind,
                        field_name,
                        f"{value!r} is not one of the values allowed ({', '.join(rule.values)})",
                        bag_info_name,
                        tag=rule.label,
                        actual=value,
                    )


def _manifests(profile: Profile, bag: BagFacts) -> Iterator[Problem]:
    for kind, prefix, name, present_raw, required, allowed in (
        (
            Kind.PROFILE_MANIFESTS,
            "manifest",
            "Manifests",
            bag.payload_manifest_algorithms,
            profile.manifests_required,
            profile.manifests_allowed,
        ),
        (
            Kind.PROFILE_TAG_MANIFESTS,
            "tagmanifest",
            "Tag-Manifests",
            bag.tag_manifest_algorithms,
            profile.tag_manifests_required,
            profile.tag_manifests_allowed,
        ),
    ):
        present = {alg.lower(): alg for alg in present_raw}
        for alg in required:
            if alg not in present:
                has = ", ".join(sorted(present)) or "none"
                yield _problem(
                    kind,
                    f"{name}-Required",
                    f"the profile requires {prefix}-{alg}.txt; the bag has none (it has {has})",
                    f"{prefix}-{alg}.txt",
                    algorithm=alg,
                )
        if allowed is None:
            continue
        for alg, written in present.items():
            if alg not in allowed:
                yield _problem(
                    kind,
                    f"{name}-Allowed",
                    f"{prefix}-{written}.txt: the profile allows only {', '.join(allowed) or 'none'}",
                    f"{prefix}-{written}.txt",
                    algorithm=alg,
                )


def _fetch(profile: Profile, bag: BagFacts) -> Iterator[Problem]:
    if bag.has_fetch and not profile.allow_fetch:
        yield _problem(Kind.PROFILE_FETCH, "Allow-Fetch.txt", "the profile allows no fetch.txt", "fetch.txt")
    if profile.fetch_required and not bag.has_fetch:
        yield _problem(
            Kind.PROFILE_FETCH, "Fetch.txt-Required", "the profile requires a fetch.txt", "fetch.txt"
        )


def _data_empty(profile: Profile, bag: BagFacts) -> Iterator[Problem]:
    if not profile.data_empty:
        return
    files = bag.payload_files
    if len(files) > 1:
        yield _problem(
            Kind.PROFILE_DATA_EMPTY,
            "Data-Empty",
            f"the payload must be empty (at most one zero-length file); data/ holds {len(files):,} files",
            PAYLOAD_DIR,
            files=len(files),
        )
    elif files:
        ((path, size),) = files.items()
        if size:
            yield _problem(
                Kind.PROFILE_DATA_EMPTY,
                "Data-Empty",
                f"the payload must be empty (at most one zero-length file); {path} holds {size:,} octets",
                path,
                size=size,
            )


def _required_files(
    kind: Kind, field_name: str, required: tuple[str, ...], present: Iterable[str]
) -> Iterator[Problem]:
    paths = set(present)
    directories = [path for path in required if path.endswith("/")]
    filled: set[str] = set()
    if directories:
        for path in paths:
            filled.update(d for d in directories if path.startswith(d))
    for entry in required:
        if entry.endswith("/"):
            if entry not in filled:
                yield _problem(kind, field_name, f"the profile requires {entry}, and no file is in it", entry)
        elif entry not in paths:
            below = entry + "/"
            hint = " (a directory of that name is there: a required directory is written with a '/' last)"
            is_dir = any(path.startswith(below) for path in paths)
            yield _problem(
                kind,
                field_name,
                f"the profile requires {entry}, which is not there{hint if is_dir else ''}",
                entry,
            )


def _not_allowed(
    kind: Kind, field_name: str, allowed: tuple[str, ...], paths: Iterable[str]
) -> Iterator[Problem]:
    if "*" in allowed:  # '*' matches every path
        return
    pattern = _any_match(allowed)
    for path in paths:
        if pattern.fullmatch(path) is None:
            yield _problem(kind, field_name, f"{path} matches none of the profile's patterns", path)


def _tag_files(profile: Profile, bag: BagFacts, bag_info_name: str) -> Iterator[Problem]:
    kind = Kind.PROFILE_TAG_FILES
    yield from _required_files(kind, "Tag-Files-Required", profile.tag_files_required, bag.tag_files)
    judged = (path for path in bag.tag_files if not _bagit_own(path, (bag_info_name,)))
    yield from _not_allowed(kind, "Tag-Files-Allowed", profile.tag_files_allowed, judged)


def _payload_files(profile: Profile, bag: BagFacts) -> Iterator[Problem]:
    kind = Kind.PROFILE_PAYLOAD_FILES
    yield from _required_files(
        kind, "Payload-Files-Required", profile.payload_files_required, bag.payload_files
    )
    yield from _not_allowed(kind, "Payload-Files-Allowed", profile.payload_files_allowed, bag.payload_files)
