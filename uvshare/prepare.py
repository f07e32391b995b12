"""Make the configured shared dirs, and uv's fixed-name state in them, right for the whole group — safely as root.

Runs on every call for root and group members. When everything is already right it only opens and stats (so it
works on a read-only mount); it creates what is missing and fixes what the caller may fix, and warns, naming the
path, owner, mode and the fix, about what it may not.

Every change is safe for root inside directories that group members can write: every create uses O_EXCL and
O_NOFOLLOW, every chown/chmod acts on a file descriptor, and a path is walked one component at a time with
O_NOFOLLOW: a symlink is followed only where nobody but root or the caller could have planted it. The admin
commands use the same primitives. (One module rather than two: each module costs the every-call path ~0.3 ms.)
"""

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in place of a file must not hang.
O_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_HOPS = 256  # path components walked in one lookup, symlink targets included

GROUP_DIR_BITS = stat.S_ISGID | 0o070
GROUP_FILE_BITS = 0o060


class CannotCreate(OSError):
    """A missing directory or file that the caller may not create (no write access, read-only mount)."""


def new_dir_mode(umask: int) -> int:
    """Mode of a directory uvshare creates: setgid, group rwx, the rest from the umask (2775 under 0002)."""
    return GROUP_DIR_BITS | (0o777 & ~umask)


def new_file_mode(umask: int) -> int:
    """Mode of a lock file uvshare creates: group rw, the rest from the umask (0664 under 0002)."""
    return GROUP_FILE_BITS | (0o666 & ~umask)


def dir_problems(st: os.stat_result, gid: int) -> list[str]:
    """What keeps a directory from being shared by group GID: empty when it is right."""
    mode = st.st_mode
    problems = []
    if st.st_gid != gid:
        problems.append("not group-owned")
    if mode & 0o070 != 0o070:
        problems.append("not group-writable")
    if not mode & stat.S_ISGID:
        problems.append("no setgid bit")
    if mode & stat.S_ISVTX:
        problems.append("sticky (uv cannot replace other users' entries)")
    if mode & 0o002:
        problems.append("world-writable")
    return problems


def file_problems(st: os.stat_result, gid: int) -> list[str]:
    """What keeps a regular file from being shared by group GID: empty when it is right."""
    problems = []
    if st.st_gid != gid:
        problems.append("not group-owned")
    if st.st_mode & GROUP_FILE_BITS != GROUP_FILE_BITS:
        problems.append("not group-writable")
    if st.st_mode & 0o002:
        problems.append("world-writable")
    return problems


def fixed_dir_mode(mode: int) -> int:
    """MODE with setgid and group rwx added and sticky and world-write taken off."""
    return (stat.S_IMODE(mode) | GROUP_DIR_BITS) & ~(stat.S_ISVTX | 0o002)


def fixed_file_mode(mode: int) -> int:
    """MODE with group rw added (group x where the owner has x) and world-write taken off."""
    mode = stat.S_IMODE(mode) | GROUP_FILE_BITS
    if mode & 0o100:
        mode |= 0o010
    return mode & ~0o002


def set_group_mode(fd: int, st: os.stat_result, gid: int, mode: int) -> bool:
    """Give the open file FD the group GID and MODE; True when anything changed."""
    changed = st.st_gid != gid or stat.S_IMODE(st.st_mode) != mode
    if st.st_gid != gid:
        os.fchown(fd, -1, gid)  # before fchmod: chown clears the setgid bit
    if changed:
        os.fchmod(fd, mode)
    return changed


def _trusted_link(parent_fd: int, link: os.stat_result) -> bool:
    """Whether a symlink can only have been made by root or the caller, so that following it is safe."""
    owners = (0, os.geteuid())
    if link.st_uid not in owners:
        return False
    parent = os.fstat(parent_fd)
    if parent.st_uid in owners and not parent.st_mode & 0o022:
        return True
    # In a sticky dir nobody but its owner can rename or remove an entry (the way /tmp works).
    return bool(parent.st_mode & stat.S_ISVTX)


def _trusted_link_target(parent_fd: int, name: str, path: str) -> str:
    """The target of the symlink NAME met on the way to PATH; UnsafePath unless only root or we could make it."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, f"{name} in the way of {path} is not a directory")
    if not _trusted_link(parent_fd, st):
        from uvshare.errors import UnsafePath  # imported only when there is an error (see config.config_error)

        raise UnsafePath(
            f"{path}: '{name}' on the way is a symlink in a directory others can write, so uvshare will not "
            "follow it; replace it with a real directory or configure the real path"
        )
    return os.readlink(name, dir_fd=parent_fd)


def open_dir(  # noqa: PLR0912  # one walk, component by component: split up, the safety logic would scatter
    path: str, create_mode: "int | None" = None, gid: "int | None" = None, created: "list[str] | None" = None
) -> int:
    """Open the directory PATH without following any symlink others could have planted; return its fd.

    With CREATE_MODE, missing directories (the last and its parents) are made with that mode and group GID, and
    PATH is appended to CREATED when any was. Raises UnsafePath for an untrusted symlink, CannotCreate when a missing
    directory cannot be made.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.open("/", O_DIR)]
    hops = 0  # symlinks followed and directories made: bounded, so that a racing attacker cannot loop us forever
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            hops += 1
            if hops > MAX_HOPS:
                raise OSError(errno.ELOOP, f"too many symlinks or vanishing directories on the way to {path}")
            try:
                stack.append(os.open(name, O_DIR, dir_fd=stack[-1]))
                continue
            except FileNotFoundError:
                if create_mode is None:
                    raise
                if make_dir(stack[-1], name, create_mode, gid, path) and created is not None and path not in created:
                    created.append(path)
                parts.insert(0, name)
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
            target = _trusted_link_target(stack[-1], name, path)
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop())
            parts[0:0] = [p for p in target.split("/") if p not in ("", ".")]
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def open_child(
    parent_fd: int, path: str, create_mode: "int | None", gid: "int | None", created: "list[str] | None"
) -> int:
    """Open (or make) the directory PATH, the last component of which lies in the open dir PARENT_FD.

    The cheap way to the last component when the parent is already open; anything but a plain directory there (a
    symlink, say) takes the whole careful walk of open_dir.
    """
    name = os.path.basename(path)
    for _ in range(2):
        try:
            return os.open(name, O_DIR, dir_fd=parent_fd)
        except FileNotFoundError:
            if create_mode is None:
                raise
            if make_dir(parent_fd, name, create_mode, gid, path) and created is not None:
                created.append(path)
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            break
    return open_dir(path, create_mode, gid, created)


def make_dir(parent_fd: int, name: str, mode: int, gid: "int | None", shown: str) -> bool:
    """Make directory NAME in PARENT_FD with MODE and group GID; False when one appeared meanwhile (left alone)."""
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)  # 0700 until it has its group and mode
    except FileExistsError:
        return False
    except OSError as e:
        raise CannotCreate(e.errno, f"cannot create {shown}: {e.strerror}") from None
    fd = os.open(name, O_DIR, dir_fd=parent_fd)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid():  # still the one just made, not a swapped-in directory
            set_group_mode(fd, st, st.st_gid if gid is None else gid, mode)
    finally:
        os.close(fd)
    return True


def make_file(parent_fd: int, name: str, mode: int, gid: int) -> None:
    """Create the empty file NAME in PARENT_FD with MODE and group GID; fails if anything is already there."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent_fd)
    try:
        set_group_mode(fd, os.fstat(fd), gid, mode)
    finally:
        os.close(fd)


def open_node(parent_fd: int, name: str, expected: os.stat_result) -> "int | None":
    """Open NAME without following a symlink; None when it is no longer the file EXPECTED (swapped meanwhile)."""
    try:
        fd = os.open(name, O_NODE, dir_fd=parent_fd)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        return None
    return fd


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

REPAIR_HINT = "run 'uvshare share repair' as root"


def describe(st: os.stat_result) -> str:
    """`owner alice, group staff, mode 0755`, for messages."""
    import grp
    import pwd

    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"owner {owner}, group {group}, mode {stat.S_IMODE(st.st_mode):04o}"


def kind_of(st: os.stat_result) -> str:
    """`a symlink`, `a directory`, … for messages."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return f"a file with {st.st_nlink} hard links" if st.st_nlink > 1 else "a file"
    return "a special file"


class Preparer:
    """Prepares shared dirs for group GID under UMASK, reporting through WARN and recording changes."""

    def __init__(self, gid: int, umask: int, group_name: str, warn: "Callable[[str], None]") -> None:
        self.gid = gid
        self.umask = umask
        self.group_name = group_name
        self.warn = warn
        self.euid = os.geteuid()
        self.changes: list[str] = []

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
        try:
            fd = open_dir(parent, new_dir_mode(self.umask), self.gid, created)
        except OSError:
            return None
        self.changes.extend(f"created {p}" for p in created)
        return fd

    def prepare_dir(self, key: str, path: str, parent_fd: "int | None" = None) -> None:
        """Create PATH if missing, fix its group and mode, and make or check its fixed-name entries."""
        created: list[str] = []
        mode = new_dir_mode(self.umask)
        try:
            if parent_fd is None or path == "/":
                dfd = open_dir(path, mode, self.gid, created)
            else:
                dfd = open_child(parent_fd, path, mode, self.gid, created)
        except CannotCreate as e:
            self.warn(f"{e.strerror}; create it as root with 'uvshare share setup'")
            return
        except FileNotFoundError:
            return  # a parent vanished meanwhile: nothing to prepare
        except NotADirectoryError:
            self.warn(f"{path} is not a directory; remove what is there or configure another path")
            return
        except PermissionError:
            self.warn(
                f"cannot open {path}: permission denied; members of group '{self.group_name}' need x on every "
                "directory above it"
            )
            return
        self.changes.extend(f"created {p}" for p in created)
        try:
            self.fix(dfd, ".", path, os.fstat(dfd), want_dir=True)
            for name, is_dir in MADE.get(key, ()):
                self.entry(dfd, path, name, is_dir, create=True)
            for name in KEPT.get(key, ()):
                self.entry(dfd, path, name, False, create=False)
            if key == "cache-dir":
                self.sdists(dfd, path)
        finally:
            os.close(dfd)

    def sdists(self, dfd: int, path: str) -> None:
        """Check the files every uv command writes in the cache's `sdists-vN/` dirs."""
        with os.scandir(dfd) as entries:
            names = [e.name for e in entries if e.name.startswith("sdists-v") and e.is_dir(follow_symlinks=False)]
        for name in names:
            try:
                sub = os.open(name, O_DIR, dir_fd=dfd)
            except OSError:
                continue
            try:
                for kept in KEPT_IN_SDISTS:
                    self.entry(sub, f"{path}/{name}", kept, False, create=False)
            finally:
                os.close(sub)

    def entry(self, dfd: int, parent: str, name: str, want_dir: bool, *, create: bool) -> None:
        """Make sure the entry NAME of the open dir DFD is shared right: create it, fix it, or warn."""
        path = f"{parent}/{name}"
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            if create:
                self.create(dfd, path, name, want_dir)
            return
        right_kind = stat.S_ISDIR(st.st_mode) if want_dir else stat.S_ISREG(st.st_mode)
        # A hard link to a file outside the group (a member may link a root-only file here) is never changed.
        foreign_link = not want_dir and st.st_nlink > 1 and st.st_gid != self.gid
        if right_kind and not foreign_link:
            self.fix(dfd, name, path, st, want_dir=want_dir)
            return
        what = kind_of(st)
        if stat.S_ISLNK(st.st_mode):
            try:  # noqa: SIM105  # contextlib would be one more import on the every-call path
                what += f" to {os.readlink(name, dir_fd=dfd)}"
            except OSError:
                pass
        if create and self.euid == 0 and not stat.S_ISDIR(st.st_mode):
            # uv never makes this; a group member may have planted it for root to follow. Replace the name only.
            os.unlink(name, dir_fd=dfd)
            self.warn(f"removed {path}: it was {what}, which uv never makes there")
            self.changes.append(f"removed {path} ({what})")
            self.create(dfd, path, name, want_dir)
            return
        self.warn(
            f"{path} is {what} ({describe(st)}), which uvshare will not touch; remove it (rm {path}) and {REPAIR_HINT}"
        )

    def create(self, dfd: int, path: str, name: str, want_dir: bool) -> None:
        """Create the missing entry NAME (a dir, or an empty lock file) group-owned and group-writable."""
        try:
            if want_dir:
                if not make_dir(dfd, name, new_dir_mode(self.umask), self.gid, path):
                    return
            else:
                make_file(dfd, name, new_file_mode(self.umask), self.gid)
        except FileExistsError:
            return  # made by another process meanwhile; the next call checks it
        except (CannotCreate, OSError) as e:
            self.warn(f"cannot create {path}: {e.strerror}; {REPAIR_HINT}")
            return
        self.changes.append(f"created {path}")

    def fix(self, dfd: int, name: str, path: str, st: os.stat_result, *, want_dir: bool) -> None:
        """Give an existing entry the group and mode it needs, if the caller may; otherwise warn."""
        problems = dir_problems(st, self.gid) if want_dir else file_problems(st, self.gid)
        if not problems:
            return
        if not want_dir and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            self.warn(f"{path} ({describe(st)}) is setuid/setgid; uvshare never makes such a file group-writable")
            return
        if self.euid not in (0, st.st_uid):
            self.warn(
                f"{path} ({describe(st)}) is {', '.join(problems)}, so members of group '{self.group_name}' "
                f"cannot use it; {REPAIR_HINT}"
            )
            return
        mode = fixed_dir_mode(st.st_mode) if want_dir else fixed_file_mode(st.st_mode)
        fd = dfd if name == "." else open_node(dfd, name, st)
        if fd is None:
            return  # replaced meanwhile: leave it to the next call
        try:
            set_group_mode(fd, st, self.gid, mode)
        except OSError as e:
            self.warn(f"cannot fix {path} ({describe(st)}): {e.strerror}; {REPAIR_HINT}")
            return
        finally:
            if fd != dfd:
                os.close(fd)
        self.changes.append(f"fixed {path}: was {', '.join(problems)}; now group {self.group_name}, mode {mode:04o}")
