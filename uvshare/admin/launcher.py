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

from uvshare.admin.common import Command
from uvshare.admin.files import open_target_dir, read_head, write_atomically
from uvshare.admin.reach import install_dirs, refuse_unrunnable
from uvshare.config import Config
from uvshare.errors import UvshareError
from uvshare.finduv import ENTRY_MODULE

TEMPLATE = """#!{python} -IS
# uvshare's fast launcher, written by `uvshare share launcher`: -I -S skip Python's site initialisation (about 4 ms on
# every call) and ignore PYTHON* variables, so it puts the dirs uvshare is installed in on sys.path itself.
import sys
sys.path[:0] = {paths!r}
from uvshare.shim import main
sys.exit(main())
"""
SHEBANG_MAX = 255  # what Linux reads of a #! line


def launcher_text(python: str) -> str:
    """The launcher for the interpreter PYTHON."""
    if not os.path.isabs(python) or any(c.isspace() for c in python) or len(python) + 6 > SHEBANG_MAX:
        raise UvshareError(
            f"cannot write a #! line for {python!r} (it must be an absolute path without spaces, under "
            f"{SHEBANG_MAX} bytes); install uvshare on an interpreter with a shorter path"
        )
    return TEMPLATE.format(python=python, paths=install_dirs())


def write_launcher(path: str, text: str, *, force: bool) -> bool:
    """Write TEXT to PATH as an executable (0755), never half-written; False when it is already exactly that.

    Only a uvshare launcher is replaced without FORCE. What is at PATH is looked at without following a link there
    and without waiting on a FIFO; and it is replaced by a rename, never written through.
    """
    dir_fd, name = open_target_dir(path)
    try:
        exists = True
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            exists = False
        head = read_head(dir_fd, name, 1024) if exists else None
    finally:
        os.close(dir_fd)
    if exists and not force and not (head and head.startswith(b"#!") and ENTRY_MODULE in head):
        raise UvshareError(
            f"{path} exists and is not a uvshare launcher (it may be the real uv); choose another path, or "
            "replace it with --force"
        )
    return write_atomically(path, text, 0o755)


class Launcher(Command):
    """Write a fast launcher for uvshare at PATH; name it uv, ahead of the real uv on PATH, to put uvshare in front"""

    force = cli.Flag("--force", help="replace PATH even when it is not a uvshare launcher")

    def main(self, path: str) -> int:
        target = path if path.startswith("/") else os.path.join(os.getcwd(), path)
        config = members_config()
        if config is not None:  # its interpreter and uvshare's code first: nothing written for members who cannot
            refuse_unrunnable(config, None)
        if write_launcher(target, launcher_text(sys.executable), force=self.force):
            self.say("ok", f"wrote {target}: runs uvshare with {sys.executable} -I -S")
        else:
            self.say("ok", f"{target} is already this launcher: unchanged")
        if config is not None:  # then the launcher itself, where it lies
            refuse_unrunnable(config, target)
        return 0


def members_config() -> Config | None:
    """The config whose group's members are to run the launcher; None when there is none (nothing to check for)."""
    from uvshare.admin.common import load_config

    try:
        config = load_config()
    except UvshareError:
        return None
    return config if config.gid is not None else None
