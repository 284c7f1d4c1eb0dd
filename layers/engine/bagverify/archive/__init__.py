"""Reading a bag's ZIP: its member index, and each member's bytes as a stream of chunks."""

from bagverify.archive.errors import ArchiveFault
from bagverify.archive.zip_reader import ArchiveNotice, Member, ZipReader

__all__ = ["ArchiveFault", "ArchiveNotice", "Member", "ZipReader"]
