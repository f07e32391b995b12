"""Walk a shared tree through directory file descriptors, never following a symlink, never leaving the filesystem.

`doctor` uses it to count what is not shared right, `repair` to fix it; both see the same entries and judge them by
the same rules (`judge`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from uvshare import prepare
from uvshare.errors import UvshareError

SETID = stat.S_ISUID | stat.S_ISGID


@dataclass(frozen=True)
class Entry:
    """One entry below a shared dir: the open fd of its parent, its name, its path and its lstat."""

    parent_fd: int
    name: str
    path: str
    st: os.stat_result


@dataclass(frozen=True)
class Verdict:
    """What is wrong with an entry (empty: nothing), the mode it should get, and why it must be left alone."""

    problems: tuple[str, ...]
    mode: int
    refuse: str = ""


def judge(  # noqa: PLR0911  # one rule per return reads best
    st: os.stat_result, gid: int, contained: frozenset[tuple[int, int]] = frozenset()
) -> Verdict:
    """Judge an entry by the rules every uvshare command shares.

    CONTAINED holds the (dev, inode) of hard-linked files all of whose links lie inside the shared dirs (uv links
    files from its cache into venvs); any other hard-linked file that is not group-owned is left alone.
    """
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return Verdict((), 0)  # a link's own owner and mode mean nothing; it is never followed
    if stat.S_ISDIR(mode):
        return Verdict(tuple(prepare.dir_problems(st, gid)), prepare.fixed_dir_mode(mode))
    if not stat.S_ISREG(mode):
        return Verdict(("a special file",), 0, "a special file (device, FIFO or socket)")
    problems = tuple(prepare.file_problems(st, gid))
    if not problems:
        return Verdict((), 0)
    if mode & SETID:
        return Verdict(problems, 0, "setuid/setgid: never made group-writable")
    if st.st_nlink > 1 and st.st_gid != gid and (st.st_dev, st.st_ino) not in contained:
        # a member could have hard-linked a file that is not theirs into the tree
        return Verdict(problems, 0, f"{st.st_nlink} hard links and not group-owned")
    return Verdict(problems, prepare.fixed_file_mode(mode))


MAX_DEPTH = 256  # deeper than anything uv makes; a deeper tree is reported, not walked (and cannot exhaust fds)


class TooDeep(Exception):
    """A tree nested deeper than MAX_DEPTH."""


def contained_links(paths: Iterable[str], gid: int) -> frozenset[tuple[int, int]]:
    """The hard-linked, not group-owned files below the dirs PATHS all of whose links are below them too."""
    seen: dict[tuple[int, int], int] = {}
    nlinks: dict[tuple[int, int], int] = {}
    for path in dict.fromkeys(paths):
        try:
            fd = prepare.open_dir(path)
        except (OSError, UvshareError):
            continue  # doctor and repair report a dir they cannot open
        try:
            for entry in walk(fd, path):
                st = entry.st
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and st.st_gid != gid:
                    key = (st.st_dev, st.st_ino)
                    seen[key] = seen.get(key, 0) + 1
                    nlinks[key] = st.st_nlink
        finally:
            os.close(fd)
    return frozenset(key for key, count in seen.items() if count == nlinks[key])


def walk(top_fd: int, top: str) -> Iterator[Entry]:
    """Every entry below the open dir TOP_FD, depth first; a dir is yielded before its contents.

    Directories are entered through O_NOFOLLOW fds checked to be the entry just listed, one fd per level; mount
    points are not entered.
    """
    yield from _walk(top_fd, top, os.fstat(top_fd).st_dev, 0)


def _walk(fd: int, path: str, dev: int, depth: int) -> Iterator[Entry]:
    if depth > MAX_DEPTH:
        raise TooDeep(path)
    try:
        with os.scandir(fd) as it:
            names = sorted(e.name for e in it)
    except OSError:
        return
    for name in names:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        entry = Entry(fd, name, f"{path}/{name}", st)
        yield entry
        if not stat.S_ISDIR(st.st_mode) or st.st_dev != dev:
            continue
        sub = open_same(fd, name, st)
        if sub is None:
            continue
        try:
            yield from _walk(sub, entry.path, dev, depth + 1)
        finally:
            os.close(sub)


def open_same(parent_fd: int, name: str, st: os.stat_result) -> int | None:
    """Open NAME (no symlink followed) only if it is still the entry ST describes."""
    return prepare.open_node(parent_fd, name, st)
