"""`share launcher PATH`: write a launcher for uvshare that starts it about 4 ms faster than a console script.

A generated console script runs Python's whole site initialisation (site-packages scan, .pth files, the
distribution's sitecustomize) before uvshare's first line, on every uv call. This launcher runs Python with `-I -S`
— no site, no PYTHON* variables, no user site-packages — and puts the dirs uvshare is installed in on sys.path
itself. It contains `uvshare.shim`, so uvshare never mistakes it for the real uv.
"""

from __future__ import annotations

import os
import sys

from plumbum import cli

import uvshare
from uvshare.admin.common import Command
from uvshare.errors import UvshareError
from uvshare.finduv import is_uvshare

TEMPLATE = """#!{python} -IS
# uvshare's fast launcher, written by `uvshare share launcher`: -I -S skip Python's site initialisation (about 4 ms on
# every call) and ignore PYTHON* variables, so it puts the dirs uvshare is installed in on sys.path itself.
import sys
sys.path[:0] = {paths!r}
from uvshare.shim import main
sys.exit(main())
"""
SHEBANG_MAX = 255  # what Linux reads of a #! line


def install_dirs() -> list[str]:
    """The sys.path entries uvshare and its dependencies come from: its own first, then other site dirs."""
    own = os.path.dirname(os.path.dirname(os.path.abspath(uvshare.__file__)))
    sites = [p for p in sys.path if p and os.path.basename(p) in ("site-packages", "dist-packages")]
    return list(dict.fromkeys([own, *sites]))


def launcher_text(python: str) -> str:
    """The launcher for the interpreter PYTHON."""
    if not os.path.isabs(python) or any(c.isspace() for c in python) or len(python) + 6 > SHEBANG_MAX:
        raise UvshareError(
            f"cannot write a #! line for {python!r} (it must be an absolute path without spaces, under "
            f"{SHEBANG_MAX} bytes); install uvshare on an interpreter with a shorter path"
        )
    return TEMPLATE.format(python=python, paths=install_dirs())


def write_launcher(path: str, text: str, *, force: bool) -> None:
    """Write TEXT to PATH as an executable (0755) through a new temporary file and a rename: never half-written."""
    if os.path.lexists(path) and not force and not is_uvshare(path, ""):
        raise UvshareError(
            f"{path} exists and is not a uvshare launcher (it may be the real uv); choose another path, or "
            "replace it with --force"
        )
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.uvshare-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
    except OSError as e:
        raise UvshareError(f"cannot write in {directory or '.'}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o755)  # whatever the umask
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise UvshareError(f"cannot write {path}: {e.strerror}") from None


class Launcher(Command):
    """Write a fast launcher for uvshare at PATH; name it uv, ahead of the real uv on PATH, to put uvshare in front"""

    force = cli.Flag("--force", help="replace PATH even when it is not a uvshare launcher")

    def main(self, path: str) -> int:
        target = os.path.abspath(path)
        write_launcher(target, launcher_text(sys.executable), force=self.force)
        print(f"wrote {target}: runs uvshare with {sys.executable} -I -S")
        return 0
