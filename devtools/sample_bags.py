"""Real bags, made by bagit-python and zipped by a real zipper (Python's zipfile or Info-ZIP)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import bagit

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
        return zip_folder(bag_dir, include_folder=top_folder is not None, zipper=zipper)


def zip_folder(folder: Path, *, include_folder: bool, zipper: str = "python") -> bytes:
    base = folder.parent if include_folder else folder
    names = sorted(str(path.relative_to(base)) for path in folder.rglob("*") if path.is_file())
    if zipper == "python":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in names:
                archive.write(base / name, name)
        return buffer.getvalue()
    if zipper == "infozip":
        if not shutil.which("zip"):
            raise RuntimeError("Info-ZIP 'zip' is not installed (apt-get install zip)")
        with tempfile.TemporaryDirectory() as out:
            target = os.path.join(out, "bag.zip")
            subprocess.run(["zip", "-q", "-X", "-r", target, *names], cwd=base, check=True)
            return Path(target).read_bytes()
    raise ValueError(f"unknown zipper {zipper!r}")


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
