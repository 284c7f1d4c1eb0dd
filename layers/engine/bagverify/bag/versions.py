"""Where BagIt 0.93-0.97 differ from RFC 8493 (1.0), as rules: one property per row of
docs/bagit-versions.md (V1, V4, ...), each read by the check it changes.

A bag is judged by the version its bagit.txt declares. Most bags in long-term storage predate RFC 8493
(bagit-python wrote 0.97 for years), and a bag its own specification calls valid must come out valid.
Where a draft is silent or unclear, the reading that does not reject bags their makers produced is
taken; the table says which rows those are and why.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

RFC_8493 = (1, 0)
KNOWN_VERSIONS = frozenset({(0, 93), (0, 94), (0, 95), (0, 96), (0, 97), RFC_8493})
# Encodings whose name gives no byte order: their byte order mark is how the file says which it is.
_BOM_BEARING = frozenset(codecs.lookup(name).name for name in ("utf-16", "utf-32"))


@dataclass(frozen=True)
class VersionRules:
    """The rules of one declared BagIt version."""

    version: tuple[int, int]

    @property
    def is_rfc_8493(self) -> bool:
        return self.version >= RFC_8493

    @property
    def bagit_txt_bom_is_a_problem(self) -> bool:
        """V1: 0.97 (draft-13 §2.1.1) and 1.0 forbid a BOM in bagit.txt; before 0.97 no draft says so."""
        return self.version >= (0, 97)

    @property
    def bag_info_colon_spacing(self) -> str:
        """V4, V5: 1.0 wants 'Label: value' (one space or tab after the colon); before it, 'a label, a
        colon, and a value, each separated by optional whitespace' (0.97 §2.2.2), which RFC 8493 §2.2.2
        tells readers to accept for those versions. Returns 'strict' or 'optional'."""
        return "strict" if self.is_rfc_8493 else "optional"

    @property
    def repeated_payload_oxum_is_a_problem(self) -> bool:
        """V7: 1.0 says Payload-Oxum MUST NOT repeat; before it every label may."""
        return self.is_rfc_8493

    @property
    def bag_info_name(self) -> str:
        """V8: package-info.txt up to 0.95 (bagit-python, bagit-java and the LoC suite agree), bag-info.txt
        from 0.96 on."""
        return "package-info.txt" if self.version <= (0, 95) else "bag-info.txt"

    def stray_bom_is_a_problem(self, encoding: str) -> bool:
        """V10: a tag file (not bagit.txt) beginning with a BOM. Never a fault where the encoding needs one
        to give its byte order (UTF-16, UTF-32); in 1.0 a problem otherwise (§2.3); before 1.0 a warning
        (0.97 draft-13 §2.3 allows one; earlier drafts are silent)."""
        if requires_bom(encoding):
            return False
        return self.is_rfc_8493

    @property
    def percent_decodes(self) -> frozenset[str]:
        """V12: the percent-encodings a manifest or fetch.txt path may hold. 1.0: %0D, %0A and %25
        (§2.1.3). Before it no draft encodes paths, yet bagit-python and Bagger wrote %0D and %0A into
        0.97 manifests: such a path is taken literally first, then with only those two decoded."""
        return frozenset({"0d", "0a", "25"}) if self.is_rfc_8493 else frozenset({"0d", "0a"})

    @property
    def backslash_is_a_separator(self) -> bool:
        """V13: bagit-java reads '\\' as '/' in 0.93-0.95 manifests; the drafts are unclear. Read so, with a
        warning, and only then tested for unsafe paths."""
        return self.version <= (0, 95)

    @property
    def identical_duplicate_is_a_problem(self) -> bool:
        """V15: 1.0 lists every payload file 'exactly once' (§2.1.3); before, an identical repeat was
        harmless (bagit-python warns)."""
        return self.is_rfc_8493

    @property
    def every_manifest_lists_every_file(self) -> bool:
        """V16: 1.0 §3; before 1.0 a payload file had to be in at least one payload manifest."""
        return self.is_rfc_8493

    @property
    def tag_manifest_lists_payload_manifests(self) -> bool:
        """V17: 1.0 §2.2.1 'Each tag manifest MUST list every payload manifest'; new in 1.0."""
        return self.is_rfc_8493

    @property
    def tag_manifest_listing_a_tag_manifest_is_a_problem(self) -> bool:
        """V17: 1.0 §2.2.1 'MUST NOT list any tag manifests'; new in 1.0 (a warning before)."""
        return self.is_rfc_8493

    @property
    def fetched_file_in_every_manifest(self) -> bool:
        """V19: 1.0 §2.2.3 'in every payload manifest'; before 1.0, in at least one (V16)."""
        return self.is_rfc_8493


def requires_bom(encoding: str) -> bool:
    """Whether `encoding` gives no byte order of its own, so that its text begins with a BOM."""
    try:
        return codecs.lookup(encoding).name in _BOM_BEARING
    except (LookupError, ValueError):
        return False
