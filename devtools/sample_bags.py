"""Real bags, made by bagit-python and zipped by a real zipper.

Zippers (`zipper=`), each as its users run it:

- "python": zipfile into a seekable buffer. "python-stream": zipfile into an unseekable
  stream, which writes data descriptors (flag bit 3) after each member.
- "infozip": Info-ZIP `zip -r`. "infozip-stream": the same piped to stdout (data descriptors).
  "infozip-zip64": `zip -fz`, ZIP64 extra fields on every entry.
- "7z": 7-Zip's `7zz a -tzip` (or `7z`), the only one here that writes Deflate64.
- "windows": as Windows Explorer's "Send to > Compressed (zipped) folder" writes: made by
  MS-DOS (create_system 0), DOS attributes, a directory entry per folder, names in code page
  437 (UTF-8 with the flag when they don't fit), Deflate64 for large files (here from 64 KiB,
  so small test bags get both methods). "powershell5": PowerShell 5.1's Compress-Archive
  (.NET Framework), whose names separate folders with backslashes.

`compression=` picks the method where the zipper offers a choice: "stored", "deflate",
"bzip2", "lzma", "deflate64", or (7-Zip) "ppmd".
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import bagit
import inflate64

SAMPLE_FILES: dict[str, bytes] = {
    "README.txt": b"A sample bag for bagverify.\n",
    "images/scan-0001.tif": bytes(range(256)) * 512,
    "images/scan-0002.tif": b"\x00\x01\x02" * 40_000,
    "text/transcript.txt": "Ünïcödé transcript - line one\nline two\n".encode() * 200,
}

Tamper = Callable[[Path], None]
"""Changes a bag folder after bagging and before zipping (flip a byte, delete or add a file)."""


def make_bag_zip(
    files: dict[str, bytes] | None = None,
    *,
    algorithms: Iterable[str] = ("sha256", "sha512"),
    top_folder: str | None = "sample-bag",
    zipper: str = "python",
    tamper: Tamper | None = None,
    bag_info: dict[str, str] | None = None,
    bagit_version: str = "1.0",
    compression: str | None = None,
    directory_entries: bool = False,
) -> bytes:
    """A bag made with bagit.make_bag from `files` (paths under data/), returned as ZIP bytes."""
    with tempfile.TemporaryDirectory(prefix="bagverify-sample-") as workdir:
        bag_dir = Path(workdir) / (top_folder or "bag")
        for relative, content in (SAMPLE_FILES if files is None else files).items():
            target = bag_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        bag_dir.mkdir(exist_ok=True)
        bagit.make_bag(
            str(bag_dir),
            bag_info=bag_info or {"Source-Organization": "bagverify"},
            checksums=list(algorithms),
        )
        if bagit_version != "0.97":  # bagit-python writes 0.97; RFC 8493 is 1.0
            (bag_dir / "bagit.txt").write_text(
                f"BagIt-Version: {bagit_version}\nTag-File-Character-Encoding: UTF-8\n"
            )
            refresh_tag_manifests(bag_dir)
        if tamper:
            tamper(bag_dir)
        return zip_folder(
            bag_dir,
            include_folder=top_folder is not None,
            zipper=zipper,
            compression=compression,
            directory_entries=directory_entries,
        )


def zip_folder(
    folder: Path,
    *,
    include_folder: bool,
    zipper: str = "python",
    compression: str | None = None,
    directory_entries: bool = False,
) -> bytes:
    """`folder` zipped by `zipper`, its files under `folder.name/` or at the root.

    `directory_entries` adds an entry per folder ("7z" and "windows" always add them, as those
    zippers do for their users).
    """
    base = folder.parent if include_folder else folder
    paths = sorted(path for path in folder.rglob("*") if path.is_file() or directory_entries)
    if include_folder and directory_entries:
        paths.insert(0, folder)
    names = [path.relative_to(base).as_posix() + ("/" if path.is_dir() else "") for path in paths]
    if zipper in ("python", "python-stream"):
        return _zip_python(base, names, compression, stream=zipper == "python-stream")
    if zipper in ("infozip", "infozip-stream", "infozip-zip64"):
        return _zip_infozip(base, folder, include_folder, names, zipper, compression, directory_entries)
    if zipper == "7z":
        return _zip_7z(base, folder, include_folder, compression)
    if zipper in ("windows", "powershell5"):
        return _zip_windows(base, folder, include_folder, compression, backslashes=zipper == "powershell5")
    raise ValueError(f"unknown zipper {zipper!r}")


def make_bag_tar(
    files: dict[str, bytes] | None = None,
    *,
    compression: str = "gz",
    algorithms: Iterable[str] = ("sha256", "sha512"),
    tamper: Tamper | None = None,
) -> bytes:
    """A bag made with bagit.make_bag from `files`, packed by GNU tar in name order (`data/` before
    the manifests, as most tar bags are) under one top folder; `compression`: "", "gz", "bz2", "xz",
    "zst"."""
    flags = {"": [], "gz": ["-z"], "bz2": ["-j"], "xz": ["-J"], "zst": ["--zstd"]}[compression]
    with tempfile.TemporaryDirectory(prefix="bagverify-sample-") as workdir:
        bag_dir = Path(workdir) / "sample-bag"
        for relative, content in (SAMPLE_FILES if files is None else files).items():
            target = bag_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        bag_dir.mkdir(exist_ok=True)
        bagit.make_bag(str(bag_dir), {"Source-Organization": "bagverify"}, checksums=list(algorithms))
        if tamper:
            tamper(bag_dir)
        out = Path(workdir) / "bag.tar"
        subprocess.run(["tar", "--sort=name", *flags, "-cf", str(out), bag_dir.name], cwd=workdir, check=True)
        return out.read_bytes()


# -- the zippers -----------------------------------------------------------------------------

_PYTHON_METHODS = {
    "stored": zipfile.ZIP_STORED,
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}
_INFOZIP_OPTIONS = {"stored": ["-0"], "deflate": [], "bzip2": ["-Z", "bzip2"]}
_7Z_METHODS = {
    "stored": "Copy",
    "deflate": "Deflate",
    "deflate64": "Deflate64",
    "bzip2": "BZip2",
    "lzma": "LZMA",
    "ppmd": "PPMd",
}


class _Unseekable:
    """A write-only stream without tell() or seek(), like a pipe or a socket."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)

    def flush(self) -> None:
        pass


def _zip_python(base: Path, names: list[str], compression: str | None, *, stream: bool) -> bytes:
    method = _method(_PYTHON_METHODS, compression, "deflate", "python")
    unseekable = _Unseekable()
    with zipfile.ZipFile(unseekable if stream else unseekable.buffer, "w", method) as archive:  # type: ignore[arg-type]
        for name in names:
            archive.write(base / name, name)
    return unseekable.buffer.getvalue()


def _zip_infozip(
    base: Path,
    folder: Path,
    include_folder: bool,
    names: list[str],
    zipper: str,
    compression: str | None,
    directory_entries: bool,
) -> bytes:
    if not shutil.which("zip"):
        raise RuntimeError("Info-ZIP 'zip' is not installed (apt-get install zip)")
    options = ["-q", "-X", "-r", *_method(_INFOZIP_OPTIONS, compression, "deflate", "infozip")]
    if zipper == "infozip-zip64":
        options.append("-fz")
    # zip -r on the folder itself adds the directory entries; on file names, none.
    inputs = ([folder.name] if include_folder else ["."]) if directory_entries else names
    if zipper == "infozip-stream":
        piped = subprocess.run(["zip", *options, "-", *inputs], cwd=base, check=True, stdout=subprocess.PIPE)
        return piped.stdout
    with tempfile.TemporaryDirectory() as out:
        target = os.path.join(out, "bag.zip")
        subprocess.run(["zip", *options, target, *inputs], cwd=base, check=True)
        return Path(target).read_bytes()


def seven_zip() -> str | None:
    """The 7-Zip command here: `7zz` (Debian's 7zip) or `7z` (p7zip-full), or None."""
    return shutil.which("7zz") or shutil.which("7z")


def _zip_7z(base: Path, folder: Path, include_folder: bool, compression: str | None) -> bytes:
    command = seven_zip()
    if not command:
        raise RuntimeError("7-Zip is not installed (apt-get install 7zip)")
    method = _method(_7Z_METHODS, compression, "deflate", "7z")
    # Given folders, 7-Zip adds a directory entry for each, as it does for its users.
    inputs = [folder.name] if include_folder else [path.name for path in sorted(folder.iterdir())]
    with tempfile.TemporaryDirectory() as out:
        target = os.path.join(out, "bag.zip")
        subprocess.run(
            [command, "a", "-tzip", f"-mm={method}", "-bd", "-bso0", "-bsp0", target, *inputs],
            cwd=base,
            check=True,
        )
        return Path(target).read_bytes()


def _method(methods: dict[str, Any], compression: str | None, default: str, zipper: str) -> Any:
    if (compression or default) not in methods:
        raise ValueError(f"zipper {zipper!r} can't write {compression!r} (it can: {', '.join(methods)})")
    return methods[compression or default]


# The "windows" zipper: no Windows here, so the archive is written field by field as Explorer
# writes it (its Deflate64 from inflate64's encoder; tests check 7-Zip and unzip accept it).
_DEFLATE64_FROM = 64 * 1024
_DOS_DATE, _DOS_TIME = ((2024 - 1980) << 9) | (1 << 5) | 1, 12 << 11
_MADE_BY_MSDOS = (0 << 8) | 20
_ATTRIBUTE_ARCHIVE, _ATTRIBUTE_DIRECTORY = 0x20, 0x10


@dataclass
class RawEntry:
    """One entry as it goes into the archive, its data already compressed."""

    name: bytes
    method: int
    data: bytes
    size: int
    crc: int
    flags: int = 0
    external_attr: int = _ATTRIBUTE_ARCHIVE
    made_by: int = _MADE_BY_MSDOS
    extract_version: int = 20


def write_raw_zip(entries: Iterable[RawEntry]) -> bytes:
    """A ZIP of exactly these entries: local headers and data, central directory, end record."""
    out = io.BytesIO()
    directory = []
    for entry in entries:
        offset = out.tell()
        out.write(
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                entry.extract_version,
                entry.flags,
                entry.method,
                _DOS_TIME,
                _DOS_DATE,
                entry.crc,
                len(entry.data),
                entry.size,
                len(entry.name),
                0,
            )
        )
        out.write(entry.name + entry.data)
        directory.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                entry.made_by,
                entry.extract_version,
                entry.flags,
                entry.method,
                _DOS_TIME,
                _DOS_DATE,
                entry.crc,
                len(entry.data),
                entry.size,
                len(entry.name),
                0,
                0,
                0,
                0,
                entry.external_attr,
                offset,
            )
            + entry.name
        )
    start = out.tell()
    out.write(b"".join(directory))
    size = out.tell() - start
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(directory), len(directory), size, start, 0))
    return out.getvalue()


def _zip_windows(
    base: Path, folder: Path, include_folder: bool, compression: str | None, *, backslashes: bool
) -> bytes:
    entries = []
    for path in [folder, *sorted(folder.rglob("*"))] if include_folder else sorted(folder.rglob("*")):
        name = path.relative_to(base).as_posix()
        if backslashes:
            name = name.replace("/", "\\")
        try:  # Explorer writes the OEM code page, and UTF-8 (flagged) only for names that don't fit it
            encoded, flags = name.encode("cp437"), 0
        except UnicodeEncodeError:
            encoded, flags = name.encode(), 0x800
        if path.is_dir():
            if not backslashes:  # the backslash variant is of file names only
                entries.append(RawEntry(encoded + b"/", 0, b"", 0, 0, flags, _ATTRIBUTE_DIRECTORY))
            continue
        content = path.read_bytes()
        method = compression or (
            "deflate64" if len(content) >= _DEFLATE64_FROM and not backslashes else "deflate"
        )
        data, method_id, version = _compress_raw(content, method)
        entries.append(
            RawEntry(
                encoded, method_id, data, len(content), zlib.crc32(content), flags, extract_version=version
            )
        )
    return write_raw_zip(entries)


def _compress_raw(content: bytes, method: str) -> tuple[bytes, int, int]:
    """(compressed data, method id, version needed to extract) for the "windows" zipper."""
    if method == "stored":
        return content, zipfile.ZIP_STORED, 10
    if method == "deflate":
        deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return deflater.compress(content) + deflater.flush(), zipfile.ZIP_DEFLATED, 20
    if method == "deflate64":
        deflater64 = inflate64.Deflater()
        return deflater64.deflate(content) + deflater64.flush(), 9, 21
    raise ValueError(f"zipper 'windows' can't write {method!r} (it can: stored, deflate, deflate64)")


# -- bags built straight into a ZIP, for sizes bagit.make_bag on disk is too slow for ----------


def write_bag_zip(
    target: BinaryIO,
    payload: Iterable[tuple[str, Iterable[bytes]]],
    *,
    algorithm: str = "sha256",
    top_folder: str | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
    compresslevel: int | None = None,
    force_zip64: bool = False,
) -> tuple[int, int]:
    """A valid BagIt 1.0 bag zipped into `target` by zipfile, payload streamed chunk by chunk.

    `payload` is (path under data/, chunks); each file is hashed as it is written and never
    held whole, so a file may be larger than memory. Returns the Payload-Oxum (octets, streams).
    """
    prefix = f"{top_folder}/" if top_folder else ""
    manifest: list[str] = []
    octets = streams = 0
    with zipfile.ZipFile(target, "w", compression, compresslevel=compresslevel) as archive:
        for relative, chunks in payload:
            hasher = hashlib.new(algorithm)
            with archive.open(f"{prefix}data/{relative}", "w", force_zip64=force_zip64) as member:
                for chunk in chunks:
                    hasher.update(chunk)
                    member.write(chunk)
                    octets += len(chunk)
            streams += 1
            manifest.append(f"{hasher.hexdigest()}  data/{relative}\n")
        tag_files = {
            "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
            f"manifest-{algorithm}.txt": "".join(manifest),
            "bag-info.txt": f"Source-Organization: bagverify\nPayload-Oxum: {octets}.{streams}\n",
        }
        for name, text in tag_files.items():
            archive.writestr(prefix + name, text)
        tag_manifest = "".join(
            f"{hashlib.new(algorithm, text.encode()).hexdigest()}  {name}\n"
            for name, text in tag_files.items()
        )
        archive.writestr(f"{prefix}tagmanifest-{algorithm}.txt", tag_manifest)
    return octets, streams


def repeated(pattern: bytes, size: int, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    """`size` bytes of `pattern` over and over, in chunks: compressible, and never all in memory."""
    chunk = (pattern * (chunk_size // len(pattern) + 1))[:chunk_size]
    full, rest = divmod(size, chunk_size)
    for _ in range(full):
        yield chunk
    if rest:
        yield chunk[:rest]


def refresh_tag_manifests(bag_dir: Path) -> None:
    """Rewrite every tagmanifest-<alg>.txt to match the tag files as they now are."""
    for tag_manifest in bag_dir.glob("tagmanifest-*.txt"):
        algorithm = tag_manifest.name[len("tagmanifest-") : -len(".txt")]
        lines = []
        for path in sorted(bag_dir.iterdir()):
            if path.is_file() and not path.name.startswith("tagmanifest-"):
                digest = hashlib.new(algorithm, path.read_bytes()).hexdigest()
                lines.append(f"{digest}  {path.name}\n")
        tag_manifest.write_text("".join(lines))


# -- tampering, as depositors' mistakes and bit rot really look ----------------


def flip_byte(relative: str, offset: int = 0) -> Tamper:
    def tamper(bag_dir: Path) -> None:
        path = bag_dir / relative
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))

    return tamper


def delete_file(relative: str) -> Tamper:
    return lambda bag_dir: (bag_dir / relative).unlink()


def add_file(relative: str, content: bytes) -> Tamper:
    def tamper(bag_dir: Path) -> None:
        path = bag_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    return tamper
