"""Bags of very many tiny files, written straight as ZIP records: a million entries in seconds.

zipfile spends ~15 µs per entry writing and bagit.make_bag far more; this writes each local
header, member and central directory record with struct, the manifests as the members go, and
ZIP64 end records (more than 65,535 entries). With `zip64_extras` every directory entry also
carries a ZIP64 extra field holding its local header offset (the offset field saturated to
0xFFFFFFFF), as zippers write entries past 4 GiB.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import BinaryIO

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_END = struct.Struct("<4s4H2LH")
_UNIX = 3
_VERSION = 45  # 4.5: ZIP64


def write_many_file_bag(
    target: BinaryIO,
    count: int,
    *,
    top_folder: str = "big-bag",
    algorithm: str = "sha256",
    algorithms: tuple[str, ...] | None = None,
    zip64_extras: bool = False,
    payload: bool = True,
) -> tuple[int, int]:
    """A valid BagIt 1.0 bag of `count` tiny stored files under data/; returns its Payload-Oxum.

    One payload manifest and one tag manifest per algorithm (`algorithms`, else `algorithm`).
    `payload=False`: the manifests list every file, the archive holds none (zipped without data/).

    File i is `data/<i // 1000>/f<i>.txt` holding `i` and a newline. Tag files come last, as
    zippers usually place them: bagit.txt, bag-info.txt, manifest, tag manifest.
    """
    prefix = f"{top_folder}/" if top_folder else ""
    directory: list[bytes] = []
    algorithms = algorithms or (algorithm,)
    manifests: dict[str, list[bytes]] = {name: [] for name in algorithms}
    position = 0
    octets = 0

    def add(name: bytes, data: bytes) -> None:
        nonlocal position
        crc = zlib.crc32(data)
        target.write(_LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0))
        target.write(name)
        target.write(data)
        extra = b""
        offset = position
        if zip64_extras:
            extra = struct.pack("<HHQ", 0x0001, 8, position)
            offset = 0xFFFF_FFFF
        directory.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                _VERSION,
                _UNIX,
                _VERSION if zip64_extras else 20,
                0,
                0,
                0,
                0,
                0x21,
                crc,
                len(data),
                len(data),
                len(name),
                len(extra),
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            + name
            + extra
        )
        position += _LOCAL.size + len(name) + len(data)

    for number in range(count):
        relative = b"data/%04d/f%07d.txt" % (number // 1000, number)
        data = b"%d\n" % number
        if payload:
            add(prefix.encode() + relative, data)
        for name, lines in manifests.items():
            lines.append(hashlib.new(name, data).hexdigest().encode() + b"  " + relative + b"\n")
        octets += len(data)
    tag_files = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": b"Source-Organization: bagverify\nPayload-Oxum: %d.%d\n" % (octets, count),
    }
    for name in algorithms:
        tag_files[f"manifest-{name}.txt"] = b"".join(manifests.pop(name))
    for name, data in tag_files.items():
        add((prefix + name).encode(), data)
    for name in algorithms:
        tag_manifest = b"".join(
            hashlib.new(name, data).hexdigest().encode() + b"  " + tag.encode() + b"\n"
            for tag, data in tag_files.items()
        )
        add(f"{prefix}tagmanifest-{name}.txt".encode(), tag_manifest)

    start = position
    for record in directory:
        target.write(record)
    size = sum(len(record) for record in directory)
    entries = len(directory)
    end64 = start + size
    target.write(_ZIP64_END.pack(b"PK\x06\x06", 44, _VERSION, _VERSION, 0, 0, entries, entries, size, start))
    target.write(_ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, end64, 1))
    target.write(
        _END.pack(
            b"PK\x05\x06",
            0,
            0,
            min(entries, 0xFFFF),
            min(entries, 0xFFFF),
            min(size, 0xFFFF_FFFF),
            min(start, 0xFFFF_FFFF),
            0,
        )
    )
    return octets, count
