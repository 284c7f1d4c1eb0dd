"""Reading a bag's ZIP: its member index, and each member's bytes as a stream of chunks."""

from bagverify.archive.zip_reader import ArchiveFault, Member, ZipReader

__all__ = ["ArchiveFault", "Member", "ZipReader"]
