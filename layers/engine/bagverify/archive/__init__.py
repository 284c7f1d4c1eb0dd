"""Reading a bag's ZIP: the central directory as a compact index, and each member's bytes."""

from bagverify.archive.errors import ArchiveFault
from bagverify.archive.member_index import ArchiveNotice, MemberIndex, read_member_index
from bagverify.archive.member_reader import Member, MemberReader

__all__ = ["ArchiveFault", "ArchiveNotice", "Member", "MemberIndex", "MemberReader", "read_member_index"]
