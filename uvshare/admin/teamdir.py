"""The team project dir's `uv.toml`: what makes plain uv (run without uvshare) there leave files the team can use.

uv installs into a venv by copying or hard-linking from its cache, and a copy keeps the cache file's mode. Plain uv's
cache is its user's own (`~/.cache/uv`), made with that user's umask: under 022 the venv's files are 0644 (members
read and replace them: `tree.REPLACED_KEY`), under 077 0600 — the other members' imports and uv then fail on them.
A project-level `uv.toml` in the project dir points plain uv at the shared cache, whose default ACL gives the group
rw on everything made there whatever the umask, and at a link mode that gives the venv files of its own (copy, or
reflinks where root's probe found them). uv reads the nearest `uv.toml`, or `pyproject.toml` with a `[tool.uv]`
table, from the project upward (measured with uv 0.6.14 and 0.13.9): a project with a `[tool.uv]` table of its own
hides this file, and needs the same two keys in that table.
"""

from __future__ import annotations

import errno
import os
import stat

from uvshare import prepare
from uvshare.config import PROJECT_KEY, Config, members_link_mode
from uvshare.errors import UvshareError
from uvshare.safefs import O_NODE, open_dir, share_entry

UV_TOML = "uv.toml"
MODE = 0o664  # the team's to read and change
HEADER = (
    "# Written by `uvshare share setup` for the team project dir: plain uv (run without uvshare) in a project here\n"
    "# uses the shared cache, whose files the whole group can read and change whatever the umask, instead of its\n"
    "# user's own (uv copies from there with the modes it finds: under umask 077, files other members cannot read).\n"
    "# A project's own [tool.uv] table hides this file: put these two keys there too.\n"
)


def toml_string(value: str) -> str:
    """VALUE as a TOML basic string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def wanted(config: Config) -> str:
    """The text of the project dir's `uv.toml` for CONFIG."""
    mode = members_link_mode(config)[0]
    link_mode = mode if mode in ("copy", "clone") else "copy"  # never inodes shared with the cache
    return f"{HEADER}cache-dir = {toml_string(config.dirs['cache-dir'])}\nlink-mode = {toml_string(link_mode)}\n"


def cache_shares(config: Config) -> bool:
    """Whether the shared cache has the default ACL that shares what plain uv makes there, whatever its umask."""
    try:
        fd = open_dir(config.dirs["cache-dir"])
    except (OSError, UvshareError):
        return False
    try:
        return bool(prepare.covered(fd, "cache-dir", config.gid if config.gid is not None else -1))
    finally:
        os.close(fd)


def state(config: Config) -> tuple[str, str]:
    """(status, message) about the project dir's `uv.toml`: `ok`, `missing` (setup writes it), `own` (the team's own
    file, left alone), `skip` (why none is written); ("", "") where there is no project dir."""
    project = config.project_dir
    if not project or "cache-dir" not in config.dirs:
        return "", ""
    path = os.path.join(project, UV_TOML)
    if not config.acl or not cache_shares(config):
        return "skip", (
            f"no {path}: the shared cache {config.dirs['cache-dir']} has no default ACL, so plain uv there would "
            "leave its files with its user's umask"
        )
    try:
        fd = open_dir(project)
    except (OSError, UvshareError):
        return "skip", f"cannot open {project}"
    try:
        text = read_text(fd, project, config)
    finally:
        os.close(fd)
    if isinstance(text, tuple):
        return text
    if text == wanted(config):
        return "ok", f"{path}: plain uv in a project here without a [tool.uv] table uses the shared cache"
    return "own", f"{path} is the team's own (not as setup writes it): uvshare leaves it alone"


def read_text(fd: int, project: str, config: Config) -> str | tuple[str, str]:
    """The text of the `uv.toml` in the open project dir FD (at PROJECT), or (status, message) when there is none to
    compare (see `state`)."""
    path = os.path.join(project, UV_TOML)
    try:
        os.stat("pyproject.toml", dir_fd=fd, follow_symlinks=False)
        return "skip", (
            f"{project} is itself a project: a {UV_TOML} beside its pyproject.toml would hide its [tool.uv] table; "
            f"put cache-dir = {toml_string(config.dirs['cache-dir'])} there"
        )
    except FileNotFoundError:
        pass
    try:
        file_fd = os.open(UV_TOML, O_NODE, dir_fd=fd)
    except FileNotFoundError:
        return "missing", f"no {path}: plain uv in a project here uses its user's own cache"
    except OSError as e:
        return "own", f"{path} cannot be read ({e.strerror}): uvshare leaves it alone"
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            return "own", f"{path} is not a regular file: uvshare leaves it alone"
        return os.read(file_fd, 65536).decode(errors="replace")
    finally:
        os.close(file_fd)


def write(config: Config) -> str:
    """Write the project dir's `uv.toml` where `state` says it is missing; what was done ("" for nothing)."""
    status, _ = state(config)
    if status != "missing" or config.project_dir is None or config.gid is None:
        return ""
    fd = open_dir(config.project_dir)
    try:
        try:
            file_fd = os.open(
                UV_TOML, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd
            )
        except OSError as e:
            if e.errno == errno.EEXIST:
                return ""  # a member made one meanwhile: the team's
            raise
        try:
            os.write(file_fd, wanted(config).encode())
            from uvshare import acl

            acl.drop(file_fd, acl.ACCESS)
            share_entry(file_fd, os.fstat(file_fd), config.gid, MODE)
        finally:
            os.close(file_fd)
    finally:
        os.close(fd)
    path = os.path.join(config.project_dir, UV_TOML)
    return f"wrote {path}: plain uv in a project of the {PROJECT_KEY} without a [tool.uv] table uses the shared cache"
