"""Walk a shared tree through directory file descriptors, never following a symlink, never leaving the filesystem.

`doctor` uses it to count what is not shared right, `repair` to fix it; both see the same entries and judge them by
the same rules (`judge`). Memory stays flat: one sorted list of names per level of the walk, and a record only of
the hard-linked files that would need a change.
"""

from __future__ import annotations

import os
import stat
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from uvshare import acl, prepare
from uvshare.safefs import O_NODE, Guard, owner_name

MAX_DEPTH = 256  # deeper than anything uv makes; a deeper subtree is reported and left alone (fds stay bounded)
# A hard-linked file counts as inside the tree only if nothing changed its links (ctime) since before the walk
# began: then every link was seen where it stays, none twice (a rename during the walk would show). The kernel
# stamps ctime from a clock that may lag by one tick (4 ms at HZ=250): the margin covers that.
SETTLED_NS = 50_000_000
# Where uv keeps its own lock files (read from uv's source, seen with uv 0.6.14 and 0.13.9): the `.lock` of the Python,
# tool and cache dirs; a venv's `.lock` in its root (a tool env's, a cached environment's in `archive-vN/ID/`, taken
# by `uv pip install` into it); and the cache's per-entry locks in its buckets (`wheels-v8/index/HASH/PKG/VER.lock`,
# `environments-v2/HASH/HASH.lock`, a shard's `.lock` in `sdists-v11/…`). A file so named anywhere else is a file like
# any other: a wheel's own (setuptools ships `setuptools/_vendor/.lock`), unpacked into `archive-vN/` and installed
# into a tool env — closing it to others would only break the tool for them.
LOCK_BUCKETS = (
    "binaries-v",
    "environments-v",
    "flat-index-v",
    "git-v",
    "interpreter-v",
    "python-v",
    "sdists-v",
    "simple-v",
    "wheels-v",
)
ROOT_LOCKS = frozenset({"python-install-dir", "tool-dir", "cache-dir"})  # dirs whose own `.lock` uv takes
# The team project dir: what uv installs into a venv there it copies or hard-links from the cache of whoever ran it,
# with that cache's modes (plain uv under umask 022: 0644 from a member's own cache), and never writes in place: it
# removes the files (reading RECORD) and puts new ones. So a venv's file members can read, in a dir they can write, is
# the team's (measured with uv 0.6.14 and 0.13.9: bob imports, upgrades and uninstalls what alice's plain uv put
# there); one they cannot read (umask 077) breaks their uv and their imports.
REPLACED_KEY = "project-dir"
VENV_MARK = "pyvenv.cfg"


class Entry(NamedTuple):
    """One entry below a shared dir: its parent's fd, name, path, lstat, whether others can reach it, and (for a
    directory) an fd of its own, valid while the walk is inside it."""

    parent_fd: int
    name: str
    path: str
    st: os.stat_result
    reachable: bool
    fd: int | None = None
    mount: bool = False  # a mount point: never entered, never changed
    temporary: bool = False  # one of uv's temporary entries, or inside one (see is_temporary)
    uv_lock: bool = False  # one of uv's own lock files, by where it lies (see LOCK_BUCKETS)
    in_venv: bool = False  # below a venv (a dir holding `pyvenv.cfg`) in the team project dir (see REPLACED_KEY)


@dataclass(frozen=True)
class Verdict:
    """What is wrong with an entry (empty: nothing), the mode it should get, whether its default ACL needs giving
    (dirs) or its access ACL widening, and why it must be left alone."""

    problems: tuple[str, ...]
    mode: int = 0
    refuse: str = ""
    default_acl: bool = False
    hard_link: bool = False
    take_owner: bool = False  # an outsider owns it: root takes it (they could always chmod or write it)
    in_flight: bool = False  # one of uv's temporary entries (or inside one): neither a finding nor repair's to change
    unreadable: bool = False  # a venv's file in the project dir members cannot read: a finding repair cannot fix


@dataclass
class Policy:
    """What the judge needs: the group, whether ACLs are in use here, what a new default ACL gives others, and who
    counts as an outsider (GUARD: root, the caller and members may own entries; lookups cached per uid)."""

    gid: int
    acls: bool
    acl_other: int
    guard: Guard


RIGHT = Verdict(())
# What doctor and repair both say of uv's temporary entries (see is_temporary), and how to remove a stopped uv's.
TEMPORARY_WORDS = "in use by a running uv (a `uv run --with …`, a build, a download), or left by one that was stopped"
LEFTOVERS_FIX = "repair --leftovers"  # removes those no running uv holds (see uvshare.admin.leftovers)
UNREADABLE = "not readable by the group"
UNREADABLE_HARM = "other members' uv and imports fail on it; uvshare never widens who may read a file"
UNREADABLE_FIX = "whoever made it runs 'chmod -R g+rX' on the venv, or removes the venv and syncs again through uvshare"
UNREADABLE_WHY = f"{UNREADABLE_HARM}: {UNREADABLE_FIX}"


def group_may_read(st: os.stat_result, gid: int) -> bool:
    """Whether every member may read the regular file ST: by its group bits (the group's) or its others' bits."""
    return bool(st.st_mode & 0o004) or (st.st_gid == gid and bool(st.st_mode & 0o040))


IN_FLIGHT = Verdict((), in_flight=True)


def is_temporary(name: str) -> bool:
    """Whether NAME is one of uv's temporary entries: `.tmp` and six letters or digits, the tempfile crate's names.

    uv makes every temporary entry so (uv 0.4 to 0.13), and removes it itself: ephemeral environments and build
    environments in the cache's `builds-v0/` (a `uv run --with …` keeps one for as long as it runs: days, for a
    `uv run --with jupyter jupyter lab`), downloads and unpacked wheels at the cache's top, files written atomically
    (interpreter info, links replaced in bin dirs), Python downloads unpacked in the install dir's `.temp/`. What is
    inside follows the maker's umask or explicit modes (uv copies a venv's scripts at their own mode, 0755), and is
    in use: it is nothing members need from the shared tree, and changing it under a running uv would help nobody.
    """
    return len(name) == 10 and name.startswith(".tmp") and name[4:].isascii() and name[4:].isalnum()


def uv_lock(key: str, parts: list[str]) -> bool:
    """Whether the file at PARTS (its path below the shared dir KEY, split) is one of uv's own locks (LOCK_BUCKETS)."""
    name = parts[-1]
    if len(parts) == 1:
        return name == ".lock" and key in ROOT_LOCKS
    if key == "tool-dir":
        return name == ".lock" and len(parts) == 2  # a tool env's own
    if key != "cache-dir":
        return False
    if parts[0].startswith("archive-v"):
        return name == ".lock" and len(parts) == 3  # a cached environment's own; the rest is wheels' content
    return name.endswith(".lock") and parts[0].startswith(LOCK_BUCKETS)


def judge(entry: Entry, policy: Policy) -> Verdict:  # noqa: PLR0911, PLR0912  # one rule per return reads best
    """Judge an entry by what sharing needs; every uvshare command uses these rules."""
    st = entry.st
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return RIGHT  # a link's own owner and mode mean nothing; it is never followed
    owned = policy.guard.owner_ok(st)  # no outsider may own anything shared: they could always chmod or write it
    if entry.temporary and owned:
        return IN_FLIGHT  # an outsider's, though, is judged: no uv of theirs works in the shared tree
    if (
        owned
        and stat.S_ISREG(mode)
        and st.st_gid == policy.gid
        and mode & 0o062 == 0o060
        and not (mode & 0o004 and entry.reachable and entry.uv_lock)
    ):
        return RIGHT  # the common case, first: a group-owned, group-writable file others cannot write (or hold)
    if entry.mount:
        return Verdict(("a mount point",), 0, "a mount point: what is mounted there is not the shared tree's")
    if entry.in_venv and owned and stat.S_ISREG(mode) and not mode & (0o002 | prepare.SETID):
        if group_may_read(st, policy.gid):
            return RIGHT  # uv replaces it, never writes it in place (see REPLACED_KEY); the dir is judged on its own
        return Verdict((UNREADABLE,), 0, UNREADABLE_WHY, unreadable=True)
    outsider = [] if owned else [f"owned by {owner_name(st.st_uid)}, who is not a member"]
    if stat.S_ISDIR(mode):
        problems = outsider + prepare.dir_problems(st, policy.gid, reachable=entry.reachable)
        needs_acl = False
        if entry.fd is not None:
            try:
                problems += acl.access_state(entry.fd, policy.gid, 0o7)[1]
                if policy.acls:
                    needs_acl = bool(acl.default_problems(acl.read(entry.fd, acl.DEFAULT), policy.gid))
            except OSError:
                needs_acl = False  # unsupported: the dir's own check says so once
            if needs_acl:
                problems.append("no default ACL that shares what is made inside (made without uvshare)")
        fixed = prepare.fixed_dir_mode(mode) if entry.reachable else stat.S_IMODE(mode) | prepare.GROUP_DIR_BITS
        return Verdict(tuple(problems), fixed & ~stat.S_ISVTX, default_acl=needs_acl, take_owner=not owned)
    if not stat.S_ISREG(mode):
        return Verdict(("a special file",), 0, "a special file (device, FIFO or socket)")
    lock = entry.uv_lock
    problems = outsider + prepare.file_problems(st, policy.gid, lock=lock, reachable=entry.reachable)
    if not problems:
        return RIGHT
    if mode & prepare.SETID:
        return Verdict(tuple(problems), 0, "setuid/setgid: never made group-writable")
    if not prepare.keeps_readers(st, policy.gid):
        only = "its owner (or its own group) alone may read it: uvshare never widens who may read a file"
        return Verdict(tuple(problems), 0, only)
    fixed = prepare.fixed_file_mode(mode, lock=lock and entry.reachable)
    if not entry.reachable:
        fixed |= stat.S_IMODE(mode) & 0o002  # others cannot reach it: nothing to take from them
    return Verdict(tuple(problems), fixed, hard_link=st.st_nlink > 1, take_owner=not owned)


@dataclass
class Sighting:
    """A hard-linked file: where it was seen needing a change, what it needs (None: seen only in uv's temporary
    entries, where nothing is judged), every place it was seen, in which shared dirs (config key -> links), whether a
    place others can reach holds it, and its ctime and link count when first seen."""

    path: str
    name: str
    key: str  # the shared dir PATH lies in
    verdict: Verdict | None
    ctime_ns: int
    nlink: int
    reachable: bool
    places: set[tuple[int, int, str]] = field(default_factory=set)
    where: Counter[str] = field(default_factory=Counter)
    steady: bool = True


class LinkBook:
    """Hard-linked files needing a change, and whether all their links were seen inside the shared dirs.

    A member can hard-link a file that is not theirs into the tree (where fs.protected_hardlinks is off): changing
    it in place would hand it to the group. So a hard-linked file is changed only when every one of its links was
    seen in the tree, each at a place of its own, and nothing moved or made a link since just before the walk. One
    book serves the walk of every shared dir (uv hard-links the cache's files into tool envs: a file's links are
    often in two dirs), so that doctor and repair reach the same verdict, once all dirs were walked.
    """

    def __init__(self) -> None:
        self.started_ns = time.time_ns()
        self.files: dict[tuple[int, int], Sighting] = {}

    def note(self, entry: Entry, verdict: Verdict | None, key: str) -> None:
        """Record a sighting of the hard-linked file ENTRY in the shared dir KEY, and what it needs (VERDICT; None for
        a link in uv's temporary entries, which counts as a place seen and is never judged)."""
        st = entry.st
        parent = os.fstat(entry.parent_fd)
        seen = self.files.get((st.st_dev, st.st_ino))
        if seen is None:
            seen = Sighting(entry.path, entry.name, key, verdict, st.st_ctime_ns, st.st_nlink, entry.reachable)
            self.files[st.st_dev, st.st_ino] = seen
        elif verdict is not None and (seen.verdict is None or (entry.reachable and not seen.reachable)):
            # judged where others can reach it, if anywhere: a fix made for a closed place would leave them what the
            # reachable link needs taken (world-write, a lock's access); and acted on through a place of its own
            seen.path, seen.name, seen.key = entry.path, entry.name, key
            seen.verdict, seen.reachable = verdict, entry.reachable
        place = (parent.st_dev, parent.st_ino, entry.name)
        if place not in seen.places:
            seen.places.add(place)
            seen.where[key] += 1
        if (st.st_ctime_ns, st.st_nlink) != (seen.ctime_ns, seen.nlink):
            seen.steady = False

    def contained(self, seen: Sighting) -> bool:
        """Whether every link of SEEN lies inside the walked dirs (see the class doc)."""
        return seen.steady and len(seen.places) == seen.nlink and seen.ctime_ns < self.started_ns - SETTLED_NS

    def judged(self) -> Iterator[tuple[tuple[int, int], Sighting, Verdict]]:
        """The files that need a change (seen at least once outside uv's temporary entries): (dev, ino), sighting and
        what it needs."""
        for file, seen in self.files.items():
            if seen.verdict is not None:
                yield file, seen, seen.verdict

    def still(self, seen: Sighting, st: os.stat_result) -> bool:
        """Whether the file just opened (ST) is unchanged since it was seen."""
        return (st.st_ctime_ns, st.st_nlink) == (seen.ctime_ns, seen.nlink)


def sort_entry(entry: Entry, verdict: Verdict, book: LinkBook, key: str) -> bool:
    """Hand a hard-linked file to BOOK (which decides it once every dir was walked); True when it was taken: one that
    needs a change, or one of uv's temporary entries whose other links may lie where a change is needed."""
    if verdict.hard_link:
        book.note(entry, verdict, key)
        return True
    if verdict.in_flight and entry.st.st_nlink > 1 and stat.S_ISREG(entry.st.st_mode):
        book.note(entry, None, key)
    return False


class Walker:
    """Walks shared dirs; remembers the subtrees too deep to walk and the dirs already walked (nested config dirs)."""

    def __init__(self) -> None:
        self.too_deep: list[str] = []
        self.unreadable: list[str] = []  # dirs the caller may not list: what is inside was not seen
        self.walked: set[tuple[int, int]] = set()
        self.count = 0  # entries seen, for progress

    def walk(  # noqa: PLR0912, PLR0915  # one loop, one frame: the safety checks stay side by side
        self, top_fd: int, top: str, reachable: bool, key: str = ""
    ) -> Iterator[Entry]:
        """Every entry below the open dir TOP_FD (the shared dir KEY), depth first; a dir is yielded (with an fd)
        before its contents.

        Directories are entered through O_NOFOLLOW fds checked to be the entry just listed, one fd per level; mount
        points are not entered, nor a configured dir already walked on its own.
        """
        st = os.fstat(top_fd)
        if (st.st_dev, st.st_ino) in self.walked:
            return
        self.walked.add((st.st_dev, st.st_ino))
        dev = st.st_dev
        top_mount = mount_id(top_fd)
        # One frame for the whole walk (a generator per level would hand each entry up through every level): a stack
        # of (dir fd — ours to close, except the top's —, its path, its names still to look at, reachable, inside one
        # of uv's temporary entries, inside a venv of the project dir).
        venvs = key == REPLACED_KEY  # (only there is a venv's content judged by what members can do with it)
        stack = [(top_fd, top, iter(self.names(top_fd, top)), reachable and bool(st.st_mode & 0o001), False, False)]
        try:
            while stack:
                fd, path, names, reach, temporary, venv = stack[-1]
                name = next(names, None)
                if name is None:
                    stack.pop()
                    if fd != top_fd:
                        os.close(fd)
                    continue
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                self.count += 1
                child = f"{path}/{name}"
                temp = temporary or (name[:4] == ".tmp" and is_temporary(name))  # (the call only where it may be)
                if not stat.S_ISDIR(st.st_mode):
                    lock = name[-5:] == ".lock" and uv_lock(key, child[len(top) + 1 :].split("/"))
                    yield Entry(fd, name, child, st, reach, None, False, temp, lock, venv)
                    continue
                if st.st_dev != dev:  # another filesystem is mounted here
                    yield Entry(fd, name, child, st, reach, mount=True, temporary=temp)
                    continue
                try:
                    sub = os.open(name, O_NODE, dir_fd=fd)
                except PermissionError:  # the caller may not read it: judged by its mode, what is inside unseen
                    self.unreadable.append(child)
                    yield Entry(fd, name, child, st, reach, temporary=temp)
                    continue
                except OSError:
                    continue  # gone meanwhile
                if not same_file(sub, st):
                    os.close(sub)
                    continue  # swapped meanwhile
                if mount_id(sub) != top_mount:  # a bind mount of this same filesystem: not the shared tree either
                    os.close(sub)
                    yield Entry(fd, name, child, st, reach, mount=True, temporary=temp)
                    continue
                try:
                    yield Entry(fd, name, child, st, reach, sub, temporary=temp)
                except BaseException:
                    os.close(sub)
                    raise
                if (st.st_dev, st.st_ino) in self.walked:
                    os.close(sub)
                elif len(stack) > MAX_DEPTH:
                    self.too_deep.append(child)
                    os.close(sub)
                else:
                    below = venv or (venvs and holds_file(sub, VENV_MARK))
                    reach_below = reach and bool(st.st_mode & 0o001)
                    stack.append((sub, child, iter(self.names(sub, child)), reach_below, temp, below))
        finally:
            for fd, *_ in stack:
                if fd != top_fd:
                    os.close(fd)

    def names(self, fd: int, path: str) -> list[str]:
        """The entries of the open dir FD (at PATH), sorted (the walk's order, and its memory: one list per level);
        none when the caller may not list it (noted in `unreadable`)."""
        try:
            with os.scandir(fd) as it:
                return sorted(e.name for e in it)
        except PermissionError:
            self.unreadable.append(path)
        except OSError:
            pass
        return []


def holds_file(dir_fd: int, name: str) -> bool:
    """Whether the open dir DIR_FD holds a regular file NAME (not through a link)."""
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def same_file(fd: int, st: os.stat_result) -> bool:
    """Whether the open FD is the file ST describes."""
    now = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def mount_id(fd: int) -> int:
    """The id of the mount the open FD lies on (/proc/self/fdinfo): unlike st_dev, it tells a bind mount of the same
    filesystem apart. -1 when it cannot be read."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def reachable_by_others(path: str) -> bool:
    """Whether someone outside the owner and group can search every directory from / down to PATH."""
    current = "/"
    for part in [p for p in os.path.realpath(path).split("/") if p]:
        current = os.path.join(current, part)
        try:
            if not os.stat(current).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True
