"""Make the configured shared dirs, and uv's fixed-name state in them, right for the whole group.

Runs on every call for root and group members. When everything is already right it only opens and stats (so it
works on a read-only mount); it creates what is missing and fixes what the caller may fix, and warns, naming the
path, owner, mode and the fix, about what it may not. Every change goes through `safefs`.
"""

from __future__ import annotations

import os
import stat

from uvshare import safefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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

    def __init__(self, gid: int, umask: int, group_name: str, warn: Callable[[str], None]) -> None:
        self.gid = gid
        self.umask = umask
        self.group_name = group_name
        self.warn = warn
        self.euid = os.geteuid()
        self.changes: list[str] = []

    def prepare(self, dirs: Mapping[str, str]) -> list[str]:
        """Prepare each dir (config key -> path); return what was changed, one line each."""
        for key, path in dirs.items():
            self.prepare_dir(key, path)
        return self.changes

    def prepare_dir(self, key: str, path: str) -> None:
        """Create PATH if missing, fix its group and mode, and make or check its fixed-name entries."""
        created: list[str] = []
        try:
            dfd = safefs.open_dir(path, safefs.new_dir_mode(self.umask), self.gid, created)
        except safefs.CannotCreate as e:
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
                sub = os.open(name, safefs.O_DIR, dir_fd=dfd)
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
                if not safefs.make_dir(dfd, name, safefs.new_dir_mode(self.umask), self.gid, path):
                    return
            else:
                safefs.make_file(dfd, name, safefs.new_file_mode(self.umask), self.gid)
        except FileExistsError:
            return  # made by another process meanwhile; the next call checks it
        except (safefs.CannotCreate, OSError) as e:
            self.warn(f"cannot create {path}: {e.strerror}; {REPAIR_HINT}")
            return
        self.changes.append(f"created {path}")

    def fix(self, dfd: int, name: str, path: str, st: os.stat_result, *, want_dir: bool) -> None:
        """Give an existing entry the group and mode it needs, if the caller may; otherwise warn."""
        problems = safefs.dir_problems(st, self.gid) if want_dir else safefs.file_problems(st, self.gid)
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
        mode = safefs.fixed_dir_mode(st.st_mode) if want_dir else safefs.fixed_file_mode(st.st_mode)
        fd = dfd if name == "." else safefs.open_node(dfd, name, st)
        if fd is None:
            return  # replaced meanwhile: leave it to the next call
        try:
            safefs.set_group_mode(fd, st, self.gid, mode)
        except OSError as e:
            self.warn(f"cannot fix {path} ({describe(st)}): {e.strerror}; {REPAIR_HINT}")
            return
        finally:
            if fd != dfd:
                os.close(fd)
        self.changes.append(f"fixed {path}: was {', '.join(problems)}; now group {self.group_name}, mode {mode:04o}")
