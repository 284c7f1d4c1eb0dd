"""Reading a bag's ZIP: the central directory as a compact index, and each member's bytes."""

from bagverify.archive.errors import ArchiveFault
from bagverify.archive.member_index import ArchiveNotice, MemberIndex, read_member_index
from bagverify.archive.member_reader import Member, MemberReader

# The names of bag archives: what triggers on upload (template.yaml's notification rules) and what a
# prefix audit verifies. Only such choices look at a name; the format is always read from the content.
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")
BAG_SUFFIXES = (".zip", *TAR_SUFFIXES)

__all__ = [
    "BAG_SUFFIXES",
    "TAR_SUFFIXES",
    "ArchiveFault",
    "ArchiveNotice",
    "Member",
    "MemberIndex",
    "MemberReader",
    "read_member_index",
]
