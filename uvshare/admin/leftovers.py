"""`share repair --leftovers`: remove uv's temporary entries that no running uv holds — what a stopped uv left.

uv makes its temporary entries (`tree.is_temporary`) while it holds its lock on the dir they lie in (the Python dir's
for installs and their bin and download dirs, the tool dir's for tool installs and the tool bin dir, the cache's
for everything in the cache), and removes them before it lets go. So with that lock held exclusively — no uv then
holds it, and none can start there until it is released — every temporary entry left is a stopped uv's. The lock
is taken without waiting past --timeout (a `uv run jupyter lab` holds the cache's for days): a dir whose lock is
held keeps its entries. uv takes the cache's lock for every command only since 0.8.19: with an older uv the cache's
entries cannot be told from a running uv's and are left.

They are looked for first without the lock (a walk of a big cache takes a second or two, which members' uv should
not wait for); the lock is taken only where some were found, and only those still there are removed.
Removal goes through directory fds opened without following a link and checked to be the entry just seen, never
leaves the filesystem, and unlinks names in their dir (a link is removed, never followed). For root it runs as the
tree's install-user, as root's uv commands on the tree do (`uvshare.runas`): a child that becomes that account — in a
session of its own, holding no fd of root's but the pipe its report lines go through — and can remove what any
member could (uv makes its temporary dirs inside the tree's default ACL: group-writable); what it cannot is named.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import subprocess
from typing import Protocol

from uvshare.admin import tree
from uvshare.admin.common import GUARDED_BY, Command, ask_uv_version
from uvshare.admin.locks import LockBusy, take_lock
from uvshare.config import Config
from uvshare.errors import UvshareError
from uvshare.safefs import O_DIR, open_dir

FAILED = 70  # the child's exit status when it could not do its work at all
CACHE_LOCKED_SINCE = (0, 8, 19)  # every uv command holds the cache's lock (shared) from this release on
VERSION = re.compile(r"uv (\d+)\.(\d+)\.(\d+)")


class Sayer(Protocol):
    """Where report lines go: a `share` command, or the pipe to it (Lines)."""

    def say(self, status: str, text: str) -> None: ...


class Lines:
    """say() in the install-user's child: each line through the pipe FD, for root's command to show."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def say(self, status: str, text: str) -> None:
        os.write(self.fd, f"{status}\t{text}".replace("\n", " ").encode(errors="surrogateescape") + b"\n")


def uv_version(config: Config) -> tuple[int, ...] | None:
    """The tree's uv's version (None when it cannot be found or does not say)."""
    from uvshare.finduv import find_uv

    try:
        uv = find_uv(os.environ, config.uv, config.files[0] if config.files else None)
        done = ask_uv_version(uv)
    except (OSError, UvshareError, subprocess.TimeoutExpired):
        return None
    found = VERSION.match(done.stdout)
    return tuple(int(part) for part in found.groups()) if found else None


def remove_entry(parent_fd: int, name: str, st: os.stat_result, depth: int = 0) -> int:
    """Remove NAME (last seen as ST) from the open dir PARENT_FD, and everything below it on its filesystem; the
    number of entries removed. A dir swapped meanwhile, or one holding a mount, is left."""
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return 1
    if depth > tree.MAX_DEPTH:
        return 0
    fd = os.open(name, O_DIR, dir_fd=parent_fd)
    removed = 0
    try:
        if not tree.same_file(fd, st):
            return 0
        for child in sorted(os.listdir(fd)):
            try:
                child_st = os.stat(child, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if child_st.st_dev != st.st_dev:
                continue  # a mount point: not the tree's
            removed += remove_entry(fd, child, child_st, depth + 1)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)  # fails (and says so) if anything was left inside
    return removed + 1


def temporaries(path: str, fd: int, key: str) -> list[tuple[str, os.stat_result]]:
    """uv's outermost temporary entries below the open shared dir FD (at PATH): their paths and lstat."""
    found: list[tuple[str, os.stat_result]] = []
    walker = tree.Walker()
    for entry in walker.walk(fd, path, reachable=False, key=key):
        if tree.is_temporary(entry.name) and not (found and entry.path.startswith(found[-1][0] + "/")):
            found.append((entry.path, entry.st))
    return found


def candidates(key: str, path: str) -> list[tuple[str, os.stat_result]]:
    """uv's outermost temporary entries below the shared dir KEY (at PATH), looked for without uv's lock (a walk of a
    big cache takes a second or two, which no member's uv should wait for): a running uv's among them."""
    try:
        fd = open_dir(path)
    except (OSError, UvshareError):
        return []
    try:
        return temporaries(path, fd, key)
    finally:
        os.close(fd)


def remove_found(command: Sayer, key: str, found: list[tuple[str, os.stat_result]]) -> tuple[int, int]:
    """Remove the entries FOUND below the shared dir KEY that are still the ones seen, now that the caller holds
    the guarding lock exclusively (every temporary entry left is then a stopped uv's); (entries removed, outermost
    entries that could not be)."""
    removed = failed = 0
    for entry_path, st in found:
        parent, name = os.path.split(entry_path)
        try:
            parent_fd = open_dir(parent)
        except (OSError, UvshareError):
            continue  # gone with its parent
        try:
            now = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                removed += remove_entry(parent_fd, name, now)
        except FileNotFoundError:
            pass  # gone meanwhile
        except OSError as e:
            failed += 1
            command.say("problem", f"{key}: cannot remove {entry_path}: {e.strerror}")
        finally:
            os.close(parent_fd)
    return removed, failed


def remove_as_install_user(command: Command, config: Config, dirs: dict[str, str], timeout: float) -> int:
    """(Root) `remove`, in a child that is the tree's install-user; its lines shown by COMMAND. The number of dirs
    whose leftovers could not all be removed."""
    from uvshare.runas import become, install_account

    account = install_account(config)
    version = uv_version(config) if "cache-dir" in dirs else None  # root's uv, found by root's rules
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  # (the child: measured by what it removes)
        status = FAILED
        try:
            os.close(read_fd)
            pipe = fcntl.fcntl(write_fd, fcntl.F_DUPFD, 3)  # above 0-2, which become /dev/null
            os.setsid()  # no controlling terminal of root's
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, pipe)
            os.closerange(pipe + 1, os.sysconf("SC_OPEN_MAX"))
            become(account, config.gid if config.gid is not None else -1, config.umask, dict(os.environ))
            status = min(remove(Lines(pipe), dirs, timeout, version), FAILED - 1)
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe_file:
        for raw in pipe_file:
            mark, _, text = raw.decode(errors="replace").rstrip("\n").partition("\t")
            command.say(mark if mark in ("ok", "problem", "warning", "info") else "info", text)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code == FAILED or code < 0:
        command.say("problem", f"removing a stopped uv's entries as the install-user {account[0]} failed")
        return 1
    return code


def remove(command: Sayer, dirs: dict[str, str], timeout: float, version: tuple[int, ...] | None) -> int:
    """Remove what stopped uvs left in DIRS, under each guarding lock held exclusively (VERSION: the tree's uv's);
    the number of dirs whose leftovers could not all be removed (for the exit status)."""
    trouble = 0
    for guard_key in dict.fromkeys(GUARDED_BY[k] for k in dirs if k in GUARDED_BY):
        guard = dirs.get(guard_key)
        if guard is None:
            continue
        found = {k: candidates(k, dirs[k]) for k in dirs if GUARDED_BY.get(k) == guard_key}
        if not any(found.values()):
            continue  # nothing to remove: the lock is not even taken
        if guard_key == "cache-dir" and (version is None or version < CACHE_LOCKED_SINCE):
            said = ".".join(map(str, version)) if version else "the tree's uv (its version unknown)"
            command.say(
                "warning",
                f"{guard}: uv's temporary entries left as they are: {said} does not hold the cache's lock during "
                "every command (0.8.19 and later do), so a running uv's cannot be told from a stopped one's; "
                "'uv cache clean' removes them when no uv runs",
            )
            trouble += 1
            continue
        trouble += remove_under_lock(command, guard, found, dirs, timeout)
    return trouble


def remove_under_lock(
    command: Sayer,
    guard: str,
    found: dict[str, list[tuple[str, os.stat_result]]],
    dirs: dict[str, str],
    timeout: float,
) -> int:
    """Take uv's lock on GUARD exclusively and remove what was FOUND in the dirs it guards; 1 if some could not be
    removed (a held lock is no trouble: the entries are a running uv's)."""
    try:
        guard_fd = open_dir(guard)
    except (OSError, UvshareError) as e:
        command.say("problem", f"{guard}: cannot open it to take uv's lock: {getattr(e, 'strerror', None) or e}")
        return 1
    try:
        lock_fd = take_lock(guard_fd, guard, timeout, waiting=lambda line: command.say("info", line))
    except LockBusy as e:
        command.say(
            "info",
            f"uv's temporary entries below {', '.join(dirs[k] for k in found)} left as they are: "
            f"{e.reason()} (a running uv)",
        )
        return 0
    except UvshareError as e:
        command.say("problem", str(e))
        return 1
    finally:
        os.close(guard_fd)
    trouble = 0
    try:
        for key, entries in found.items():
            removed, failed = remove_found(command, key, entries)
            trouble |= bool(failed)
            if removed:
                command.say(
                    "ok",
                    f"{key} {dirs[key]}: removed {removed} entries a stopped uv left (uv's lock held: no uv was "
                    "running there)",
                )
    finally:
        os.close(lock_fd)
    return trouble
