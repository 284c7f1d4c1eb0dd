"""Bags made by the BagIt makers on PyPI, each called as its users call it, and zipped by the usual zippers.

Makers:

- bagit-python (`bagit`, 1.9): `bagit.make_bag` bags a folder in place. It writes BagIt 0.97;
  `version="1.0"` then rewrites bagit.txt and the tag manifests, as tests/unit do.
- bagit-utils (1.2.5): `Bag.build_from(src, dst, ...)` copies (or links) a folder holding data/
  into a new bag. It writes BagIt 1.0.
- pybagit (1.5.2, 2015): `BagIt(path)` makes an empty bag (BagIt 0.96), the payload is copied into
  data/ and `update()` writes the manifests. pybagit is Python 2 only (its pybagit/bagit.py has
  `except Exception, e:`, a SyntaxError on Python 3), so it runs in a Python 2.7 interpreter,
  when one is here (`python2()`), from the copy pip installed.

Zippers (`zip_bag`), each as its users run it, with the bag's files at the archive root
(`top_folder=False`) or under one folder named like the bag:

- "infozip": `zip -r`; "infozip-X": `zip -r -X` (no extra attributes); "infozip-D": `zip -r -D`
  (no directory entries).
- "7z": `7zz a -tzip` (or `7z`).
- "python-deflated", "python-stored": zipfile over every file; "python-shutil":
  `shutil.make_archive(..., "zip")` (zipfile too, with a directory entry per folder).
- "pybagit": pybagit's own `BagIt.package(destination, method="zip")` (root only; pybagit bags).
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import bagit

from devtools.sample_bags import seven_zip

# Names that need more than ASCII (all in Latin-1, so that encoding="latin-1" can write them), a
# space, a folder, and an empty file.
PAYLOAD: dict[str, bytes] = {
    "README.txt": b"A bag made by one of the BagIt makers on PyPI.\n",
    "images/scan 0001.tif": bytes(range(256)) * 64,
    "Ünïcödé/résumé.txt": "Grüße, naïve café\n".encode() * 50,
    "empty.txt": b"",
}

ZIPPERS = ("infozip", "infozip-X", "infozip-D", "7z", "python-deflated", "python-stored", "python-shutil")


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)


def refresh_tag_manifests(bag_dir: Path, encoding: str = "utf-8") -> None:
    """Rewrite every tagmanifest-<alg>.txt, in `encoding`, to match the top-level tag files as they
    now are (devtools.sample_bags.refresh_tag_manifests, in any encoding)."""
    for tag_manifest in bag_dir.glob("tagmanifest-*.txt"):
        algorithm = tag_manifest.name[len("tagmanifest-") : -len(".txt")]
        lines = [
            f"{hashlib.new(algorithm, path.read_bytes()).hexdigest()}  {path.name}\n"
            for path in sorted(bag_dir.iterdir())
            if path.is_file() and not path.name.startswith("tagmanifest-")
        ]
        tag_manifest.write_bytes("".join(lines).encode(encoding))


# -- bagit-python ------------------------------------------------------------------------------


def make_bagit_python(
    bag_dir: Path,
    files: Mapping[str, bytes] = PAYLOAD,
    *,
    checksums: Sequence[str] | None = None,
    encoding: str | None = None,
    bag_info: Mapping[str, str | list[str]] | None = None,
    processes: int = 1,
    version: str = "0.97",
    declare: str | None = None,
) -> Path:
    """`files` bagged in place by bagit.make_bag with these arguments (None: its default).

    `version="1.0"`: bagit.txt then declares 1.0 (and the tag manifests are refreshed).
    `declare`: bagit.txt then declares this Tag-File-Character-Encoding, and bag-info.txt and the
    tag manifests, which make_bag writes in UTF-8 whatever `encoding` says, are rewritten in it:
    the bag make_bag(encoding=...) would have to be for its payload manifests to be readable.
    """
    write_files(bag_dir, files)
    kwargs: dict[str, object] = {"processes": processes}
    if checksums is not None:
        kwargs["checksums"] = list(checksums)
    if encoding is not None:
        kwargs["encoding"] = encoding
    try:
        bagit.make_bag(str(bag_dir), dict(bag_info) if bag_info is not None else None, **kwargs)  # type: ignore[arg-type]
    except ValueError:  # UnicodeDecodeError, or a NUL in a path as UTF-16LE read as UTF-8 has
        # make_bag writes its payload manifests in `encoding` but declares UTF-8, then reads the bag
        # back: that fails, after the bag is written (tests/unit/test_bag_makers.py says more).
        if encoding is None or codecs.lookup(encoding).name == "utf-8":
            raise
    if version != "0.97" or declare is not None:
        (bag_dir / "bagit.txt").write_bytes(
            f"BagIt-Version: {version}\nTag-File-Character-Encoding: {declare or 'UTF-8'}\n".encode()
        )
        if declare is not None:
            info = bag_dir / "bag-info.txt"
            info.write_bytes(info.read_bytes().decode("utf-8").encode(declare))
        refresh_tag_manifests(bag_dir, declare or "utf-8")
    return bag_dir


# -- bagit-utils -------------------------------------------------------------------------------


def make_bagit_utils(
    bag_dir: Path,
    files: Mapping[str, bytes] = PAYLOAD,
    *,
    algorithms: Sequence[str] | None = None,
    baginfo: Mapping[str, list[str]] | None = None,
    create_symlinks: bool = False,
    tag_files: Mapping[str, bytes] | None = None,
    validate: bool = True,
) -> Path:
    """`files` (under data/) and `tag_files` (beside data/) in a source folder next to `bag_dir`,
    built into `bag_dir` by bagit_utils.Bag.build_from. `baginfo` None: what its README shows
    (Source-Organization, Payload-Oxum, Bagging-Date)."""
    from bagit_utils import Bag

    source = bag_dir.with_name(bag_dir.name + "-source")
    write_files(source / "data", files)
    write_files(source, tag_files or {})
    if baginfo is None:
        baginfo = {
            "Source-Organization": ["bagverify"],
            "Payload-Oxum": [Bag.get_payload_oxum(source / "data")],
            "Bagging-Date": [Bag.get_bagging_date()],
        }
    Bag.build_from(
        source,
        bag_dir,
        baginfo,
        algorithms=list(algorithms) if algorithms is not None else None,
        create_symlinks=create_symlinks,
        validate=validate,
    )
    return bag_dir


# -- pybagit -----------------------------------------------------------------------------------

# Run by Python 2.7: argv is the bag folder, the payload folder and the algorithm ("sha1", pybagit's
# default, or "md5").
_PYBAGIT_MAKE = r"""
import os, shutil, sys
from pybagit.bagit import BagIt
bag_dir, payload, algorithm = sys.argv[1:4]
bag = BagIt(bag_dir)
if algorithm != bag.get_hash_encoding():
    bag.set_hash_encoding(algorithm)
for name in os.listdir(payload):
    source, target = os.path.join(payload, name), os.path.join(bag.data_directory, name)
    if os.path.isdir(source):
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
bag.update()
"""
# argv: the bag folder, the folder to package it into; prints the archive's path.
_PYBAGIT_PACKAGE = r"""
import sys
from pybagit.bagit import BagIt
print(BagIt(sys.argv[1]).package(sys.argv[2], method="zip"))
"""


@cache
def python2() -> str | None:
    """A Python 2.7 interpreter, for pybagit: on PATH, or one pyenv installed; None if there is none."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        shutil.which("python2.7"),
        shutil.which("python2"),
        *sorted(glob.glob(os.path.join(pyenv_root, "versions", "2.7*", "bin", "python2.7"))),
    ]
    for candidate in candidates:
        if not candidate or "/shims/" in candidate:  # pyenv's shims run whichever Python is selected
            continue
        try:
            ran = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] == (2, 7)"],
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ran.returncode == 0:
            return candidate
    return None


def pybagit_source() -> Path | None:
    """The pybagit package folder pip installed (found, not imported: it does not compile on 3)."""
    spec = importlib.util.find_spec("pybagit")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def run_pybagit(script: str, *args: str) -> str:
    """Python 2.7 source `script` run with `args` and pybagit importable; its standard output."""
    interpreter, source = python2(), pybagit_source()
    if interpreter is None or source is None:
        raise RuntimeError("pybagit needs a Python 2.7 interpreter and `pip install pybagit`")
    with tempfile.TemporaryDirectory(prefix="bagverify-pybagit-") as lib:
        # Only pybagit on its path, not the Python 3 site-packages pip installed it into.
        shutil.copytree(source, Path(lib) / "pybagit", ignore=shutil.ignore_patterns("__pycache__"))
        ran = subprocess.run(
            [interpreter, "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=120,
            # Python 2 decodes file names by the locale: UTF-8 ones need a UTF-8 locale.
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": lib, "LC_ALL": "C.UTF-8"},
        )
    if ran.returncode != 0:
        raise RuntimeError(f"pybagit failed ({ran.returncode}):\n{ran.stdout}\n{ran.stderr}")
    return ran.stdout


def make_pybagit(bag_dir: Path, files: Mapping[str, bytes] = PAYLOAD, *, algorithm: str = "sha1") -> Path:
    """`files` bagged by pybagit, run by Python 2.7 (`python2`): BagIt(bag_dir) makes the empty bag,
    the files are copied into its data/, and update() writes the manifests."""
    bag_dir.parent.mkdir(parents=True, exist_ok=True)  # pybagit makes the bag's folder, not its parents
    with tempfile.TemporaryDirectory(prefix="bagverify-payload-") as payload:
        write_files(Path(payload), files)
        run_pybagit(_PYBAGIT_MAKE, str(bag_dir), payload, algorithm)
    return bag_dir


def package_pybagit(bag_dir: Path) -> bytes:
    """The ZIP pybagit's own BagIt.package(destination, method="zip") makes of `bag_dir`."""
    with tempfile.TemporaryDirectory(prefix="bagverify-package-") as destination:
        archive = run_pybagit(_PYBAGIT_PACKAGE, str(bag_dir), destination).strip().splitlines()[-1]
        return Path(archive).read_bytes()


# -- zippers -----------------------------------------------------------------------------------


def zip_bag(bag_dir: Path, zipper: str, *, top_folder: bool) -> bytes:
    """`bag_dir` zipped by `zipper` (see the module's docstring), under `bag_dir.name/` or at the root."""
    base = bag_dir.parent if top_folder else bag_dir
    with tempfile.TemporaryDirectory(prefix="bagverify-zip-") as out:
        target = Path(out) / "bag.zip"
        if zipper.startswith("infozip"):
            if not shutil.which("zip"):
                raise RuntimeError("Info-ZIP 'zip' is not installed (apt-get install zip)")
            options = {"infozip": [], "infozip-X": ["-X"], "infozip-D": ["-D"]}[zipper]
            inputs = [bag_dir.name] if top_folder else ["."]
            subprocess.run(["zip", "-q", "-r", *options, str(target), *inputs], cwd=base, check=True)
        elif zipper == "7z":
            command = seven_zip()
            if not command:
                raise RuntimeError("7-Zip is not installed (apt-get install 7zip)")
            inputs = [bag_dir.name] if top_folder else sorted(path.name for path in bag_dir.iterdir())
            subprocess.run(
                [command, "a", "-tzip", "-bd", "-bso0", "-bsp0", str(target), *inputs], cwd=base, check=True
            )
        elif zipper in ("python-deflated", "python-stored"):
            method = zipfile.ZIP_DEFLATED if zipper == "python-deflated" else zipfile.ZIP_STORED
            with zipfile.ZipFile(target, "w", method) as archive:
                for path in sorted(bag_dir.rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(base).as_posix())
        elif zipper == "python-shutil":
            shutil.make_archive(
                str(target.with_suffix("")),
                "zip",
                root_dir=base,
                base_dir=bag_dir.name if top_folder else ".",
            )
        else:
            raise ValueError(f"unknown zipper {zipper!r}")
        return target.read_bytes()
