"""Make the configured shared dirs, and uv's fixed-name state in them, right for the whole group — safely as root.

Runs on every call for root and group members. When everything is already right it only opens and stats (so it
works on a read-only mount); it creates what is missing and fixes what the caller may fix, and warns, naming the
path, owner, mode and the fix, about what it may not. All of it goes through `safefs`: no link others could have
planted is ever followed, and every change acts on a checked file descriptor.

Default ACLs: a directory uvshare creates gets one that gives the group rwx, so that whatever is made inside later
(by uv through uvshare, plain uv, a tool run directly) is group-writable whatever the umask. An existing shared dir
gets one only when it holds nothing but uv's fixed-name entries: its default ACL is the sign, read on every call,
that everything below it is covered, so that the caller's umask can be left alone. Older trees get theirs from
`share repair`, which walks them first.
"""

import os
import stat

from uvshare.safefs import (
    O_DIR,
    CannotCreate,
    DirSpec,
    Guard,
    describe,
    kind_of,
    make_dir,
    make_file,
    open_child,
    open_dir,
    open_node,
    share_default_acl,
    share_entry,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

GROUP_DIR_BITS = stat.S_ISGID | 0o070
GROUP_FILE_BITS = 0o060
SETID = stat.S_ISUID | stat.S_ISGID
PARENT_MODE = 0o755  # a missing dir above the shared dirs, as root makes it (root's; see Preparer.spec)
LOCK_MODE = 0o660  # group rw, nothing for others: whoever can open a lock file can hold it and block everybody
# Dirs others must not enter: uv (0.13) makes its per-entry lock files in the cache 0666, and anyone who can reach
# one can hold it. Outsiders never use the shared cache (uv keeps one of their own), so nothing is lost.
# A team's project dir is closed too: a venv's `.lock` there is as open to holding, and its code is the team's.
CLOSED = frozenset({"cache-dir", "project-dir"})

# Entries uvshare makes where missing (name, is a dir): uv takes `.lock` before anything else (uv < 0.5.30 made it
# 0644, owned by whoever came first), and unpacks into `.temp/` (`.cache/` before uv 0.5.8).
MADE = {
    "python-install-dir": ((".lock", False), (".temp", True)),
    "tool-dir": ((".lock", False),),
    "cache-dir": ((".lock", False),),
}
# Files uv makes itself and opens for writing on later runs: when present they must stay group-writable.
KEPT = {
    "python-install-dir": (".gitignore",),
    "tool-dir": (".gitignore",),
    "cache-dir": (".gitignore", "CACHEDIR.TAG"),
}
# Every uv command opens these in each `sdists-vN/` of the cache for writing: one left 0644 breaks the whole cache.
KEPT_IN_SDISTS = (".git", ".gitignore")
# The cache's entries one call reads at most (uv makes about a dozen); in a cache with more, the `sdists-vN/` buckets
# are looked up by name (uv 0.13 uses `sdists-v11`; the margin is for later releases).
LISTED_AT_MOST = 256
SDISTS_VERSIONS = 32


def keeps_readers(st: os.stat_result, gid: int) -> bool:
    """Whether giving the regular file ST the group GID and group read/write lets nobody read it who could not.

    True when everybody may read it already, or it is the group's and the group may read it. Otherwise it is left
    alone: a file may have come from outside the shared dirs (a hard link a member made, whose original was since
    replaced by a rename, as passwd and editors do, leaving this link the only one), and whoever it kept out must
    stay out. Writing to such a file harms nobody (it is no longer anyone's); reading it could.
    """
    return bool(st.st_mode & 0o004) or (st.st_gid == gid and bool(st.st_mode & 0o040))


def is_lock(name: str) -> bool:
    """Whether the fixed-name entry NAME (one of MADE, KEPT or KEPT_IN_SDISTS) is uv's lock file: `.lock`.

    uv's locks are known by where they lie, not by their name alone (a wheel may ship a `.lock` of its own): below
    the shared dirs, `tree.uv_lock` says which files are uv's.
    """
    return name == ".lock"


def new_dir_mode(umask: int, *, closed: bool = False) -> int:
    """Mode of a dir uvshare creates: setgid, group rwx, the rest from the umask (2775 under 0002; closed: 2770)."""
    return GROUP_DIR_BITS | (0o770 if closed else 0o777) & ~umask


def acl_other(umask: int) -> int:
    """What a default ACL gives others: read and search unless the umask says otherwise, never write."""
    return 0o5 & ~umask


_GROUP_NAMES: dict[int, str] = {}


def not_group_owned(st: os.stat_result) -> str:
    """`not group-owned (group root)`: names the group the entry has (looked up once per gid)."""
    name = _GROUP_NAMES.get(st.st_gid)
    if name is None:
        import grp

        try:
            name = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            name = str(st.st_gid)
        _GROUP_NAMES[st.st_gid] = name
    return f"not group-owned (group {name})"


def dir_problems(st: os.stat_result, gid: int, *, closed: bool = False, reachable: bool = True) -> list[str]:
    """What keeps a directory from being shared by group GID: empty when it is right. World-write is a problem only
    where others can REACH it."""
    mode = st.st_mode
    problems = []
    if st.st_gid != gid:
        problems.append(not_group_owned(st))
    if mode & 0o070 != 0o070:
        problems.append("not group-writable")
    if not mode & stat.S_ISGID:
        problems.append("no setgid bit")
    if mode & stat.S_ISVTX:
        problems.append("sticky (uv cannot replace other users' entries)")
    if closed and mode & 0o007:
        problems.append("open to others (an outsider could hold uv's lock files inside and block members)")
    elif mode & 0o002 and reachable:
        problems.append("world-writable")
    return problems


def file_problems(st: os.stat_result, gid: int, *, lock: bool = False, reachable: bool = True) -> list[str]:
    """What keeps a regular file from being shared by group GID: empty when it is right. Access for others is a
    problem only where they can REACH it: world-write, and for a LOCK any access (they could hold it)."""
    problems = []
    if st.st_gid != gid:
        problems.append(not_group_owned(st))
    if st.st_mode & GROUP_FILE_BITS != GROUP_FILE_BITS:
        problems.append("not group-writable")
    if not reachable:
        return problems
    if lock and st.st_mode & 0o006:
        problems.append("open to others (an outsider could hold this lock and block members)")
    elif st.st_mode & 0o002:
        problems.append("world-writable")
    return problems


def fixed_dir_mode(mode: int, *, closed: bool = False) -> int:
    """MODE with setgid and group rwx added, sticky and world-write (closed: all access for others) taken off."""
    return (stat.S_IMODE(mode) | GROUP_DIR_BITS) & ~(stat.S_ISVTX | (0o007 if closed else 0o002))


def fixed_file_mode(mode: int, *, lock: bool = False) -> int:
    """MODE with group rw added (group x where the owner has x), world-write (lock: all of others) taken off."""
    mode = stat.S_IMODE(mode) | GROUP_FILE_BITS
    if mode & 0o100:
        mode |= 0o010
    return mode & ~(0o006 if lock else 0o002)


def is_empty_dir(dfd: int, name: str) -> bool:
    """Whether NAME in the open dir DFD is a directory (not followed if a link) with nothing in it."""
    try:
        fd = os.open(name, O_DIR, dir_fd=dfd)
    except OSError:
        return False
    try:
        with os.scandir(fd) as entries:
            return not any(True for _ in entries)
    finally:
        os.close(fd)


def covered(dfd: int, key: str, gid: int) -> "bool | None":
    """Whether the open shared dir DFD (config KEY) is covered by default ACLs that share what is made inside: its
    own, and those of `.temp` and the cache's `sdists-vN` buckets; None where the filesystem keeps no ACLs.

    Read only. uv makes its subdirs inside a covered dir, so they inherit its ACL; a subdir that lacks it predates
    the ACL and may hold anything, so the dir counts as covered only once `share repair` has walked it. (Every call
    reaches the same answer from the checks `Preparer` has just made, without reading them again.)
    """
    from uvshare import acl

    try:
        if acl.default_problems(acl.read(dfd, acl.DEFAULT), gid):
            return False
    except OSError as e:
        return None if e.errno in acl.UNSUPPORTED else False
    inner = [name for name, is_dir in MADE.get(key, ()) if is_dir]
    if key == "cache-dir":
        inner += sdists_buckets(dfd)
    for name in inner:
        try:
            sub = os.open(name, O_DIR, dir_fd=dfd)
        except OSError:
            continue  # missing: made with the ACL when it is made
        try:
            if acl.default_problems(acl.read(sub, acl.DEFAULT), gid):
                return False
        except OSError:
            return False
        finally:
            os.close(sub)
    return True


def sdists_buckets(dfd: int) -> list[str]:
    """The cache's `sdists-vN/` dirs (not links) in the open cache dir DFD.

    What every call reads of the cache must not grow with what members put there (20,000 dirs of theirs made every
    uv call list them all: 0.9 s). A cache of at most LISTED_AT_MOST entries (any cache uv alone made) is listed, as
    cheap as it gets; past that the listing stops, and the buckets are looked up by name, `sdists-v0` to
    `sdists-v{SDISTS_VERSIONS - 1}`. A name that cannot be looked at (a member's FUSE mount answers EACCES, even to
    root) counts: `entry` says why.
    """
    found = []
    with os.scandir(dfd) as entries:
        for seen, entry in enumerate(entries):
            if seen == LISTED_AT_MOST:
                break
            if entry.name.startswith("sdists-v") and entry.is_dir(follow_symlinks=False):
                found.append(entry.name)
        else:
            return found
    found = []
    for version in range(SDISTS_VERSIONS):
        name = f"sdists-v{version}"
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError:
            found.append(name)
            continue
        if stat.S_ISDIR(st.st_mode):
            found.append(name)
    return found


def not_a_dir_on_the_way(path: str) -> str:
    """The message for a shared dir PATH that cannot be a dir: names the entry in the way (which may be anything, a
    system file say: never to be removed on uvshare's word) and the fix, another path."""
    culprit = path
    parts = path.split("/")
    for end in range(2, len(parts) + 1):
        here = "/".join(parts[:end])
        if os.path.lexists(here) and not os.path.isdir(here):
            culprit = here
            break
    what = "is not a directory" if culprit == path else f"is in the way: {culprit} is not a directory"
    return f"{path} {what}; configure the shared dirs somewhere else"


def unreachable(path: str, e: OSError) -> str:
    """The warning for an entry PATH that cannot even be looked at (E): what members made there is left alone."""
    return (
        f"cannot look at {path}: {e.strerror}; uvshare leaves it alone (if it is a mount, 'findmnt {path}' names it, "
        "and whoever made it must unmount it)"
    )


def repair_hint() -> str:
    """`run 'uv share repair' as root`, under the name uvshare was run as."""
    from uvshare.errors import admin

    return f"run '{admin('repair')}' as root"


class Preparer:
    """Prepares shared dirs for group GID under UMASK, reporting through WARN and recording changes.

    With ACL, dirs get default ACLs where that is provably right (see the module's doc); COVERED then says, per
    dir key, whether the dir's default ACL covers it (True), not (False), or its filesystem keeps none (None).
    With TAKE_BACK (`share setup`), an empty dir an outsider owns on the way is taken back instead of refused.
    With DRY_RUN nothing is changed: CHANGES says what would be, each line starting "would".
    CHANGED holds the paths changed (or that would be), so that a dry run and a real run count alike.
    """

    def __init__(
        self,
        gid: int,
        umask: int,
        group_name: str,
        warn: "Callable[[str], None]",
        *,
        acl: bool = True,
        take_back: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.gid = gid
        self.umask = umask
        self.group_name = group_name
        self._warn = warn
        self._warned: set[str] = set()
        self.acl_other = acl_other(umask) if acl else None
        self.guard = Guard(gid, group_name, take_back=take_back and not dry_run)
        self.dry_run = dry_run
        self.euid = os.geteuid()
        self.changes: list[str] = []
        self.changed: set[str] = set()
        self.covered: dict[str, bool | None] = {}  # only the dirs that could be opened

    def warn(self, text: str) -> None:
        """Pass a warning on, once (shared dirs below one missing parent would each say the same)."""
        if text not in self._warned:
            self._warned.add(text)
            self._warn(text)

    def change(self, path: str, text: str) -> bool:
        """Record TEXT (a change to PATH); False in a dry run, where nothing may be done."""
        self.changed.add(path)
        self.changes.append(f"would {text}" if self.dry_run else text)
        return not self.dry_run

    def spec(self, *, closed: bool = False) -> "DirSpec | None":
        """How a missing dir is made (None in a dry run: nothing is). Missing dirs above the shared dirs are root's
        0755 when root makes them: a member who could write the dir above a shared dir could rename it and put a
        link in its place, between uvshare's checks and uv's use."""
        if self.dry_run:
            return None
        parents = DirSpec(PARENT_MODE, 0, None) if self.euid == 0 else None
        return DirSpec(new_dir_mode(self.umask, closed=closed), self.gid, self.acl_other, parents)

    def prepare(self, dirs: "Mapping[str, str]") -> list[str]:
        """Prepare each dir (config key -> path); return what was changed, one line each."""
        parents: dict[str, int | None] = {}  # shared dirs usually share a parent: walk to it once
        try:
            for key, path in dirs.items():
                parent = os.path.dirname(path)
                if parent not in parents:
                    parents[parent] = self.open_parent(parent)
                self.prepare_dir(key, path, parents[parent])
        finally:
            for fd in parents.values():
                if fd is not None:
                    os.close(fd)
        return self.changes

    def open_parent(self, parent: str) -> "int | None":
        """The open parent of shared dirs (made, like them, if missing); None when that fails (each dir reports)."""
        created: list[str] = []
        spec = self.spec()
        try:
            fd = open_dir(parent, spec.parents or spec if spec else None, created, self.guard)
        except OSError:
            return None
        finally:
            self.record(created)
        return fd

    def record(self, created: list[str]) -> None:
        """Note what was taken back and created."""
        for path, text in self.guard.taken:
            self.change(path, text)
        self.guard.taken.clear()
        for path in created:
            self.change(path, f"created {path}")

    def prepare_dir(self, key: str, path: str, parent_fd: "int | None" = None) -> None:  # noqa: PLR0912  # in order
        """Create PATH if missing, fix its group and mode, give it its default ACL, and see to its fixed entries."""
        created: list[str] = []
        closed = key in CLOSED
        spec = self.spec(closed=closed)
        try:
            if parent_fd is None or path == "/":
                dfd = open_dir(path, spec, created, self.guard)
            else:
                dfd = open_child(parent_fd, path, spec, created, self.guard)
        except CannotCreate as e:
            from uvshare.errors import admin

            self.warn(f"{e.strerror}; create it as root with '{admin('setup')}'")
            return
        except FileNotFoundError:
            if self.dry_run:
                self.change(path, f"create {path}")
            return  # (or a parent vanished meanwhile: nothing to prepare)
        except NotADirectoryError:
            self.warn(not_a_dir_on_the_way(path))
            return
        except PermissionError:
            self.warn(
                f"cannot open {path}: permission denied; members of group '{self.group_name}' need x on every "
                "directory above it (or a member mounted something there: see 'findmnt {path}')"
            )
            return
        except OSError as e:
            self.warn(unreachable(path, e))
            return
        finally:
            self.record(created)
        try:
            st = os.fstat(dfd)
            self.fix(dfd, ".", path, st, want_dir=True, closed=closed)
            fresh = path in created
            top: bool | None = None
            if spec is None or not spec.unsupported:
                top = self.ensure_default_acl(dfd, path, st, lambda: fresh or self.coverable(dfd, key))
            inner = True  # `.temp` and the sdists buckets have theirs too: covered()'s rule, from the checks made here
            for name, is_dir in MADE.get(key, ()):
                self.entry(dfd, path, name, want_dir=is_dir, create=True)
                if is_dir:  # given one only under a covered dir: where layers or a copy dropped the ACLs, not
                    # re-added on every call (each would be a change, and an image layer)
                    inner = (top is True and self.inner_acl(dfd, path, name)) and inner
            for name in KEPT.get(key, ()):
                self.entry(dfd, path, name, want_dir=False, create=False)
            if key == "cache-dir":
                inner = self.sdists(dfd, path) and inner
            self.covered[key] = None if (spec is not None and spec.unsupported) or top is None else top and inner
        finally:
            os.close(dfd)

    def ensure_default_acl(  # each way it can end, said where it ends
        self, fd: int, path: str, st: os.stat_result, may_add: "Callable[[], bool]"
    ) -> "bool | None":
        """Whether the open dir FD has a default ACL that shares what is made inside, adding one when the caller may
        and MAY_ADD says it is provably right; None where the filesystem keeps no ACLs."""
        from uvshare import acl

        try:
            entries = acl.read(fd, acl.DEFAULT)
        except OSError as e:
            return None if e.errno in acl.UNSUPPORTED else False
        if not acl.default_problems(entries, self.gid):
            return True
        if self.acl_other is None or self.euid not in (0, st.st_uid) or not may_add():
            return False
        if not self.change(path, f"give {path} a default ACL: the group gets rwx on everything created inside"):
            return False
        try:
            added = share_default_acl(fd, self.acl_other, self.gid)
        except OSError as e:
            added = False
            self.warn(f"cannot give {path} a default ACL: {e.strerror}")
        if added is not True:  # not made after all: not counted
            self.changed.discard(path)
            self.changes.pop()
        return added

    def coverable(self, dfd: int, key: str) -> bool:
        """Whether the dir DFD holds nothing but uv's fixed-name entries (and `.temp` is empty)."""
        fixed = {name for name, _ in MADE.get(key, ())} | set(KEPT.get(key, ()))
        with os.scandir(dfd) as entries:
            for entry in entries:
                if entry.name not in fixed:
                    return False
                if entry.is_dir(follow_symlinks=False) and not is_empty_dir(dfd, entry.name):
                    return False
        return True

    def inner_acl(self, dfd: int, parent: str, name: str) -> bool:
        """Whether the subdir NAME (`.temp`) has the default ACL too, giving it one when it lacks one and is empty (see
        `covered`)."""
        try:
            sub = os.open(name, O_DIR, dir_fd=dfd)
        except OSError:
            return True  # gone or not a dir: the checks above report it; made with the ACL when it is made
        try:
            state = self.ensure_default_acl(sub, f"{parent}/{name}", os.fstat(sub), lambda: is_empty_dir(dfd, name))
            return state is not False
        finally:
            os.close(sub)

    def sdists(self, dfd: int, path: str) -> bool:
        """Check the cache's `sdists-vN/` buckets themselves and the files every uv command writes in them; whether
        every bucket has the default ACL (see `covered`)."""
        from uvshare import acl

        ok = True
        for name in sdists_buckets(dfd):
            self.entry(dfd, path, name, want_dir=True, create=False)
            try:
                sub = os.open(name, O_DIR, dir_fd=dfd)
            except OSError:
                continue
            try:
                for kept in KEPT_IN_SDISTS:
                    self.entry(sub, f"{path}/{name}", kept, want_dir=False, create=False)
                try:
                    ok = ok and not acl.default_problems(acl.read(sub, acl.DEFAULT), self.gid)
                except OSError:
                    ok = False
            finally:
                os.close(sub)
        return ok

    def entry(self, dfd: int, parent: str, name: str, *, want_dir: bool, create: bool) -> None:
        """Make sure the entry NAME of the open dir DFD is shared right: create it, fix it, or warn."""
        path = f"{parent}/{name}"
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            if create:
                self.create(dfd, path, name, want_dir)
            return
        except OSError as e:  # a member's FUSE mount there answers EACCES to everyone else, root included
            self.warn(unreachable(path, e))
            return
        right_kind = stat.S_ISDIR(st.st_mode) if want_dir else stat.S_ISREG(st.st_mode)
        # A hard link may lead to any file on this filesystem (a member can link one that is not theirs): a file
        # with more than one link is never changed in place, whoever owns it and whatever its group; nor is one
        # whose readers a fix would widen (see keeps_readers: it may be such a link whose original was replaced).
        if right_kind and (want_dir or (st.st_nlink == 1 and keeps_readers(st, self.gid))):
            self.fix(dfd, name, path, st, want_dir=want_dir, lock=not want_dir and is_lock(name))
            return
        what = kind_of(st) if not right_kind or want_dir or st.st_nlink > 1 else "a file others may not read"
        if stat.S_ISLNK(st.st_mode):
            try:  # noqa: SIM105  # contextlib would be one more import on the every-call path
                what += f" to {os.readlink(name, dir_fd=dfd)}"
            except OSError:
                pass
        if self.euid == 0 and not stat.S_ISDIR(st.st_mode):
            # uv never makes this: a group member may have planted it for root (or uv as root) to follow or change.
            # Remove the name only, never the target; uv makes a new one where it needs one.
            if self.change(path, f"removed {path} ({what})"):
                os.unlink(name, dir_fd=dfd)
                self.warn(f"removed {path}: it was {what}, which uv never makes there")
                if create:
                    self.create(dfd, path, name, want_dir)
            return
        self.warn(
            f"{path} is {what} ({describe(st)}), which uvshare will not touch; remove it (rm {path}) and "
            f"{repair_hint()}"
        )

    def create(self, dfd: int, path: str, name: str, want_dir: bool) -> None:
        """Create the missing entry NAME (a dir, or an empty lock file) group-owned and group-writable."""
        spec = self.spec()
        if spec is None:
            self.change(path, f"create {path}")
            return
        try:
            if want_dir:
                if not make_dir(dfd, name, spec, path):
                    return
            else:
                make_file(dfd, name, LOCK_MODE, self.gid)
        except FileExistsError:
            return  # made by another process meanwhile; the next call checks it
        except OSError as e:
            self.warn(f"cannot create {path}: {e.strerror}; {repair_hint()}")
            return
        self.change(path, f"created {path}")

    def fix(
        self,
        dfd: int,
        name: str,
        path: str,
        st: os.stat_result,
        *,
        want_dir: bool,
        closed: bool = False,
        lock: bool = False,
    ) -> None:
        """Give an existing entry the group, mode and access ACL it needs, if the caller may; otherwise warn."""
        problems = dir_problems(st, self.gid, closed=closed) if want_dir else file_problems(st, self.gid, lock=lock)
        if not problems and not want_dir:
            # Files are opened only when their mode needs a fix: uvshare makes its lock files without an access
            # ACL, and uv's own files get none from a shared dir's default ACL; an owner who adds one later is a
            # member breaking sharing, which doctor reports. (Each open here costs every uv call.)
            return
        fd = dfd if name == "." else None
        try:
            if fd is None:
                fd = open_node(dfd, name, st)
                if fd is None:
                    return  # replaced meanwhile: leave it to the next call
            from uvshare import acl

            entries, wrong = acl.access_state(fd, self.gid, 0o7 if want_dir else 0o6)
            problems += wrong
            if problems:
                self.make_right(fd, path, st, problems, entries if wrong else None, want_dir, closed, lock)
        finally:
            if fd is not None and fd != dfd:
                os.close(fd)

    def make_right(  # noqa: PLR0917  # one entry's whole story, from fix
        self,
        fd: int,
        path: str,
        st: os.stat_result,
        problems: list[str],
        access: "list[tuple[int, int, int]] | None",
        want_dir: bool,
        closed: bool,
        lock: bool,
    ) -> None:
        """Change the open entry FD as fix decided, if the caller may; otherwise warn."""
        if not want_dir and st.st_mode & SETID:
            self.warn(f"{path} ({describe(st)}) is setuid/setgid; uvshare never makes such a file group-writable")
            return
        if self.euid not in (0, st.st_uid):
            self.warn(
                f"{path} ({describe(st)}) is {', '.join(problems)}, so members of group '{self.group_name}' "
                f"cannot use it safely; {repair_hint()}"
            )
            return
        mode = fixed_dir_mode(st.st_mode, closed=closed) if want_dir else fixed_file_mode(st.st_mode, lock=lock)
        text = f"fix {path}: was {', '.join(problems)}; now group {self.group_name}, mode {mode:04o}"
        if self.dry_run:
            self.change(path, text)
            return
        try:
            share_entry(fd, st, self.gid, mode, access=access)
        except OSError as e:
            self.warn(f"cannot fix {path} ({describe(st)}): {e.strerror}; {repair_hint()}")
            return
        self.change(path, text.replace("fix ", "fixed ", 1))
