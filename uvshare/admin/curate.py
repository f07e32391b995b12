"""A curated tree's dirs, walked and made the install-user's alone: `share setup`, `repair` and `doctor` for
`kind = "curated"` (see uvshare.curated), and `share kind`, which turns a tree curated or back.

Safe as root in a tree members could write until now (a shared tree being turned curated): the walk goes through
O_NOFOLLOW directory fds, top down, and makes each dir the install-user's (no group or other write, no setgid, no
ACL) before it reads what is inside, so that from then on nobody else can add, rename or swap an entry there; each
entry is changed through an fd of the inode just looked at. It never follows a symlink (a link's own owner and mode
mean nothing), never leaves the dir's filesystem, and never changes a file that has links elsewhere (its other
names may lie outside the tree): those are reported.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from uvshare import acl
from uvshare.admin.common import Command, as_root, entries
from uvshare.admin.tree import mount_id
from uvshare.config import DIR_KEYS, KINDS, PROJECT_KEY, Config, read_file
from uvshare.curated import CLOSED, install_uid
from uvshare.errors import EXIT_PROBLEMS, UvshareError, escape
from uvshare.safefs import O_DIR, O_NODE, open_dir, owner_name

MAX_DEPTH = 256
EXAMPLES = 3


@dataclass
class Walk:
    """What one walk of a curated dir found (and, fixing, changed)."""

    fixed: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)  # what is (still) wrong, by path
    left: list[str] = field(default_factory=list)  # what a fixing walk may not change, by path and why


def wrong(st: os.stat_result, owners: tuple[int, ...], fd: int | None) -> str:
    """What makes the entry ST (open as FD, when it could be) changeable by others than OWNERS, or ''."""
    why = []
    if st.st_uid not in owners:
        why.append(f"owned by {owner_name(st.st_uid)}")
    if st.st_mode & 0o022:
        why.append(f"mode {stat.S_IMODE(st.st_mode):04o}")
    if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISGID:
        why.append("setgid")
    if fd is not None:
        try:
            if acl.read(fd, acl.DEFAULT, probe=False):
                why.append("a default ACL")
        except OSError as e:
            if e.errno not in acl.UNSUPPORTED:
                raise
    return ", ".join(why)


def fixed_mode(st: os.stat_result, closed: bool) -> int:
    """The mode ST gets: no write for group and others, no setgid on a dir; nothing for them at all where CLOSED."""
    mode = stat.S_IMODE(st.st_mode) & ~0o022
    if stat.S_ISDIR(st.st_mode):
        mode &= ~stat.S_ISGID
    return mode & ~0o077 if closed else mode


def make_right(fd: int, st: os.stat_result, uid: int, gid: int, closed: bool) -> None:
    """Make the open entry FD (lstat ST) the install-user UID's, with no ACLs and the fixed mode (chown first: it
    clears setuid and setgid bits; the mode last: dropping an access ACL leaves the mode's own bits)."""
    if st.st_uid != uid:  # root's too: uv, as the install-user, writes its lock files and removes what it installed
        os.fchown(fd, uid, gid)
    acl.drop(fd, acl.ACCESS)
    if stat.S_ISDIR(st.st_mode):
        acl.drop(fd, acl.DEFAULT)
    os.fchmod(fd, fixed_mode(os.fstat(fd), closed))


def walk(path: str, key: str, uid: int, gid: int, *, fix: bool) -> Walk:
    """Walk the curated dir PATH (config key KEY): judge every entry; with FIX, make it right first."""
    found = Walk()
    owners = (0, uid)
    closed = key in CLOSED
    try:
        top = open_dir(path)
    except FileNotFoundError:
        found.problems.append(f"{path} does not exist")
        return found
    except PermissionError:
        if closed and not fix:  # (a member's doctor: the install-user's cache is closed to them, as it should be)
            st = os.lstat(path)
            if st.st_uid not in owners or st.st_mode & 0o077:
                found.problems.append(f"{path} (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")
            return found
        raise
    except (OSError, UvshareError) as e:
        found.problems.append(f"{path}: {getattr(e, 'strerror', None) or e}")
        return found
    try:
        st = os.fstat(top)
        if fix and (wrong(st, owners, top) or st.st_uid != uid or (closed and st.st_mode & 0o077)):
            make_right(top, st, uid, gid, closed)
            found.fixed += 1
        elif closed and st.st_mode & 0o077:
            found.problems.append(f"{path} (mode {stat.S_IMODE(st.st_mode):04o}: the install-user's cache, 0700)")
        why = wrong(os.fstat(top), owners, top)
        if why:
            found.problems.append(f"{path} ({why})")
        if closed and not fix:
            return found  # nobody else can reach what is inside (uv makes its lock files there 0666)
        inside = Walk()
        _walk_dir(top, path, st.st_dev, inside, owners, (uid, gid), fix=fix, depth=0)
        found.fixed += inside.fixed
        found.entries += inside.entries
        found.left += inside.left
        found.problems += [] if closed else inside.problems
    finally:
        os.close(top)
    return found


def same_mount(dfd: int, name: str) -> bool:
    """Whether the non-directory NAME in the open dir DFD lies on the dir's own mount. Its st_dev alone does not say:
    overlayfs gives a file the device of the layer it lies in, but a directory the overlay's."""
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return False
    try:
        return mount_id(fd) == mount_id(dfd) != -1
    finally:
        os.close(fd)


def _walk_dir(  # noqa: PLR0912, PLR0917  # one level of the walk, one rule per kind of entry
    dfd: int,
    path: str,
    dev: int,
    found: Walk,
    owners: tuple[int, ...],
    ids: tuple[int, int],
    *,
    fix: bool,
    depth: int,
) -> None:
    if depth > MAX_DEPTH:
        found.problems.append(f"{path} (deeper than {MAX_DEPTH} levels: not looked at)")
        return
    for name in sorted(os.listdir(dfd)):
        here = os.path.join(path, name)
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        found.entries += 1
        if stat.S_ISLNK(st.st_mode):
            continue  # never followed; a link's own owner and mode mean nothing
        is_dir = stat.S_ISDIR(st.st_mode)
        if st.st_dev != dev and (is_dir or not same_mount(dfd, name)):
            found.problems.append(f"{here} (a mount point: not the tree's, left alone)")
            continue
        if not (is_dir or stat.S_ISREG(st.st_mode)):
            if st.st_uid not in owners or st.st_mode & 0o022:
                found.problems.append(
                    f"{here} (a {'fifo' if stat.S_ISFIFO(st.st_mode) else 'special file'} others can write: remove it)"
                )
            continue
        try:
            fd = os.open(name, O_DIR if is_dir else O_NODE, dir_fd=dfd)
        except OSError as e:
            found.problems.append(f"{here} (cannot open: {e.strerror})")
            continue
        try:
            st = os.fstat(fd)
            why = wrong(st, owners, fd)
            if fix and (why or st.st_uid != ids[0]):
                if not is_dir and st.st_nlink > 1:
                    if why:
                        found.left.append(f"{here} ({why}; it has {st.st_nlink} links, which may lie outside the tree)")
                else:
                    make_right(fd, st, *ids, closed=False)
                    found.fixed += 1
                    why = wrong(os.fstat(fd), owners, fd)
            if why:
                found.problems.append(f"{here} ({why})")
            if is_dir:
                _walk_dir(fd, here, dev, found, owners, ids, fix=fix, depth=depth + 1)
        finally:
            os.close(fd)


def tree_dirs(config: Config) -> dict[str, str]:
    """A curated tree's own dirs, in config-key order (a team project dir is no part of it: it stays shared)."""
    return {key: config.dirs[key] for key in DIR_KEYS if key in config.dirs}


def install_ids(config: Config) -> tuple[int, int]:
    """The install-user's uid and the group: who owns a curated tree; UvshareError when there is no install-user."""
    uid = install_uid(config)
    if uid is None or config.gid is None:
        raise UvshareError(
            f'{config.files[-1]}: a curated tree is its install-user\'s: name one (install-user = "NAME") and run '
            f"'{as_root('setup')}', which creates it"
        )
    return uid, config.gid


def summarize(what: str, items: list[str]) -> str:
    """`3 entries …: a (why), b (why), c (why) and 4 more`."""
    shown = ", ".join(escape(i) for i in items[:EXAMPLES])
    more = f" and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else ""
    return f"{len(items)} {what}: {shown}{more}"


def shared_with(config: Config) -> list[str]:
    """The other configs on this machine (the system config, the trees dir) of shared trees that name the same
    install-user: what members put into those trees runs as it, and could change this one."""
    from uvshare.config import SYSTEM_CONFIG
    from uvshare.trees import tree_files, trees_dir

    found = []
    for path in [SYSTEM_CONFIG, *tree_files(trees_dir(os.environ))]:
        if path in config.files:
            continue
        try:
            values = read_file(path) or {}
        except (UvshareError, OSError):
            continue
        if values.get("install-user") == config.install_user and values.get("kind", KINDS[0]) != "curated":
            found.append(path)
    return found


def doctor_checks(config: Config) -> list[tuple[str, str, str, str]]:
    """Doctor's verdict on a curated tree: (status, subject, message, fix) per dir."""
    uid = install_uid(config)
    if uid is None:
        return [("problem", "install-user", f"there is no user '{config.install_user}'", as_root("setup"))]
    gid = config.gid if config.gid is not None else 0
    lines = [
        (
            "problem",
            "install-user",
            f"{config.install_user} also runs root's commands on the shared tree of {other}: what members put there "
            "runs as it, and could change this curated tree",
            f"give this tree an install-user of its own (install-user = \"NAME\"), then '{as_root('setup')}'",
        )
        for other in shared_with(config)
    ]
    for key, path in tree_dirs(config).items():
        try:
            found = walk(path, key, uid, gid, fix=False)
        except OSError as e:
            lines.append(("warning", key, f"{path}: cannot look at all of it: {e.strerror}", as_root("doctor")))
            continue
        if found.problems:
            lines.append(
                (
                    "problem",
                    key,
                    summarize("entries others than root and the install-user can change", found.problems),
                    as_root("repair"),
                )
            )
        elif key in CLOSED:
            lines.append(("ok", key, f"{path}: the install-user {config.install_user}'s alone, 0700 (curated)", ""))
        else:
            lines.append(
                (
                    "ok",
                    key,
                    f"{path}: {entries(found.entries)}, none writable but by root and the install-user "
                    f"{config.install_user} (curated)",
                    "",
                )
            )
    return lines


def repair(command: Command, config: Config, *, dry_run: bool = False) -> int:
    """Make every entry of a curated tree right (see the module's doc); the exit status."""
    uid, gid = install_ids(config)
    status = 0
    for key, path in tree_dirs(config).items():
        if not os.path.lexists(path):
            if not dry_run:
                os.umask(0o022)
                from uvshare.curated import prepare

                prepare(config, uid, {key: path})
                mode = "0700" if key in CLOSED else "0755"
                command.say("ok", f"made {path} ({key}): the install-user's, mode {mode}")
            continue
        found = walk(path, key, uid, gid, fix=not dry_run)
        if dry_run:
            if found.problems:
                command.say("info", f"{key}: would change " + summarize("entries", found.problems))
            continue
        if found.fixed:
            command.say(
                "ok",
                f"{key} {path}: made {found.fixed} of {found.entries + 1} entries the install-user's "
                f"{config.install_user} alone (no write for others, no setgid, no ACLs)",
            )
        for items, what in ((found.left, "entries left as they are"), (found.problems, "entries still wrong")):
            if items:
                command.say("problem", f"{key}: " + summarize(what, items))
                status = EXIT_PROBLEMS
        if not found.fixed and not found.problems:
            command.say("ok", f"{key} {path}: nothing needed changing ({found.entries + 1} entries)")
    return status


__all__ = ["PROJECT_KEY", "doctor_checks", "repair", "tree_dirs"]
