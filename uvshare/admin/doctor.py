"""`share doctor`: one report of everything that decides whether the shared dirs work, and the fix for each problem.

Read only, and safe as root: it never follows a symlink others could have planted, and never runs a uv that anyone
but root could have written. Exit status: 0 healthy, 1 problems found, 2 the config cannot be used.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass

from plumbum import cli

from uvshare import acl, prepare
from uvshare.admin import mounts, tree
from uvshare.admin.common import (
    Command,
    as_root,
    ask_uv_version,
    config_named,
    group_label,
    image_acls_note,
    load_config,
    machine_trees,
    mark,
    shared_dirs,
)
from uvshare.admin.survey import Survey
from uvshare.config import (
    DIR_KEYS,
    ENV_CONFIG,
    PROJECT_KEY,
    Config,
    config_paths,
    default_config_paths,
    members_link_mode,
    resolved,
)
from uvshare.errors import EXIT_ERROR, EXIT_PROBLEMS, UvshareError, escape
from uvshare.finduv import ENTRY_MODULE, find_program, find_uv
from uvshare.safefs import Guard, describe, open_dir, owner_name
from uvshare.trees import trees_dir

BIN_KEYS = ("python-bin-dir", "tool-bin-dir")
ENTRY_MODULE_TEXT = ENTRY_MODULE.decode()


@dataclass
class Check:
    """One line of the report: ok, problem (makes the exit status 1), warning or info; and the fix for a problem."""

    status: str
    subject: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The text report's line (escaped: names come from the filesystem)."""
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{mark(self.status)} {escape(f'{self.subject}: {self.message}{fix}')}"

    def as_dict(self) -> dict[str, str]:
        """For --json: the same fields, names escaped the same way."""
        return {k: escape(v) for k, v in asdict(self).items()}


def root_reads(path: str) -> bool:
    """Whether root's uvshare reads the config file PATH without UVSHARE_CONFIG: a default config or a tree's config,
    as named or as the file it resolves to (a user's own `~/.config/uvshare/config.toml` linked to a tree's)."""
    defaults = default_config_paths()
    trees = trees_dir(os.environ)
    for spelling in dict.fromkeys((path, resolved(path))):
        if spelling in defaults or os.path.dirname(spelling) in (trees, resolved(trees)):
            return True
    return False


def unknown_to_root(config: Config) -> str:
    """What is wrong with a config naming a project dir that root's uvshare does not read without UVSHARE_CONFIG
    (sudo drops it): root's uv would not know to keep out of that project dir; empty when nothing is."""
    where = config.origins.get(PROJECT_KEY, config.files[0] if config.files else "")
    if not config.project_dir or root_reads(where):
        return ""
    return (
        f"{where} names the team project dir {config.project_dir}, but root's uvshare reads {where} only with "
        f"{ENV_CONFIG} set (sudo drops it): without it root's uv would not know to keep out of that dir"
    )


def at_fault(message: str) -> str | None:
    """The config file an error MESSAGE is about (every config error starts with its file's name): one of the files
    uvshare reads here, or one of the trees' configs; None when it names none (no config at all, several trees)."""
    from uvshare.trees import tree_files

    candidates = [*config_paths(os.environ), *tree_files(trees_dir(os.environ))]
    return next((path for path in candidates if message.startswith(f"{path}:")), None)


def check_config(*, one_of_all: bool = False) -> tuple[Config | None, list[Check]]:
    """The config files found and which one set each key (ONE_OF_ALL: a tree of --all-trees, named by the command,
    not by a module)."""
    try:
        config = load_config()
    except UvshareError as e:
        # a message that names a file says what is wrong in it; with no file at all it says how to make one, with
        # several trees how to pick one
        path = at_fault(str(e))
        fix = f"edit {path} as the message says, then run doctor again" if path else ""
        return None, [Check("problem", "config", str(e), fix)]
    checks = []
    for path in config.files:
        keys = [k for k, origin in config.origins.items() if origin == path]
        checks.append(Check("ok", "config", f"{path} sets {', '.join(keys) if keys else 'nothing'}"))
    if os.environ.get(ENV_CONFIG) and not one_of_all:
        from uvshare.admin.modules import loaded_module

        module = loaded_module(os.environ)
        if module is not None:
            checks.append(Check("info", "config", f"{ENV_CONFIG} is set by the module {module}"))
    for key, var in DIR_KEYS.items():
        if os.environ.get(var) and key in config.dirs:
            checks.append(
                Check(
                    "warning",
                    "config",
                    f"{var}={os.environ[var]} in the environment wins over {key} "
                    f"({config.dirs[key]}), so uvshare leaves {config.dirs[key]} alone",
                    f"unset {var}",
                )
            )
    unknown = unknown_to_root(config)
    if unknown:
        checks.append(Check("warning", "config", unknown, f"move it to {trees_dir(os.environ)}/NAME.toml"))
    if config.gid is None:
        checks.append(
            Check(
                "problem",
                "config",
                "no 'group' key: uvshare only passes through to uv",
                f'add group = "..." to {config.files[-1]}',
            )
        )
    elif not config.dirs:
        checks.append(
            Check(
                "problem",
                "config",
                "no shared dirs configured: there is nothing to share",
                f"add python-install-dir, tool-dir, cache-dir, … to {config.files[-1]}, or "
                f"'{as_root('init --group GROUP --prefix DIR --force')}'",
            )
        )
    return config, checks


def check_uv(config: Config) -> list[Check]:
    """The real uv found (as root: one only root can have written), its version, and the real uvx."""
    try:
        uv = find_uv(os.environ, config.uv, config.files[0])
    except UvshareError as e:
        return [Check("problem", "uv", str(e), 'pip install uv, or set uv = "/path/to/uv" in the config')]
    try:
        done = ask_uv_version(uv)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [Check("problem", "uv", f"{uv} does not answer 'uv --version': {e}", 'set uv = "/path/to/real/uv"')]
    if done.returncode != 0 or not done.stdout.startswith("uv "):
        said = done.stdout.strip() or done.stderr.strip()
        return [Check("problem", "uv", f"{uv} --version said {said!r}", 'set uv = "/path/to/real/uv" in the config')]
    checks = [Check("ok", "uv", f"{uv} ({done.stdout.strip()})")]
    try:
        uvx = find_program("uvx", os.environ, config.uvx, config.files[0], uv)
        checks.append(Check("info", "uvx", f"{uvx}: what uvshare runs when installed as uvx"))
    except UvshareError:
        checks.append(Check("info", "uvx", f"no real uvx beside {uv} or on PATH: uvshare installed as uvx cannot run"))
    return checks


def check_membership(config: Config, gid: int) -> Check:
    """Whether the caller is in the group, and whether this login session has that membership yet."""
    label = group_label(config)
    if os.geteuid() == 0:
        return Check("ok", "you", "root: setup and repair can fix everything")
    active = gid == os.getegid() or gid in os.getgroups()
    try:
        user = pwd.getpwuid(os.getuid())
        name, listed = user.pw_name, user.pw_gid == gid
    except KeyError:  # an arbitrary uid, as OpenShift runs images
        name, listed = f"uid {os.getuid()}", False
    with contextlib.suppress(KeyError):  # a gid outside the group database lists nobody
        listed = listed or name in grp.getgrgid(gid).gr_mem
    if active:
        return Check("ok", "you", f"{name} is in group '{label}' in this session")
    if listed:
        return Check(
            "problem",
            "you",
            f"{name} is in group '{label}' in the group database, but not in this "
            f"login session (id -G: {' '.join(map(str, os.getgroups()))})",
            f"log in again, or run 'newgrp {label}'",
        )
    return Check(
        "warning",
        "you",
        f"{name} is not in group '{label}': the shared Pythons and tools can be used but not changed",
        f"usermod -aG {label} {name} (as root), then log in again",
    )


def check_parents(path: str, guard: Guard, subject: str) -> list[Check]:
    """Every dir above PATH, up to /: owned by root, the caller or a member, and not writable by outsiders."""
    checks = []
    parts = [p for p in os.path.realpath(os.path.dirname(path)).split("/") if p]
    current = "/"
    for part in ["", *parts]:
        current = os.path.join(current, part) if part else "/"
        try:
            st = os.stat(current)
        except OSError:
            break
        if st.st_uid == 0 and st.st_mode & stat.S_ISVTX:
            continue  # a sticky dir of root's (/tmp): others may add names there, not rename or remove root's
        if not guard.owner_ok(st):
            checks.append(
                Check(
                    "problem",
                    subject,
                    f"{current}, above {path}, is owned by {owner_name(st.st_uid)}, who is not a member of group "
                    f"'{guard.group_label}': they could swap the shared dir",
                    f"chown root {current} (or move the shared dirs elsewhere)",
                )
            )
        elif st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
            checks.append(
                Check(
                    "problem",
                    subject,
                    f"{current}, above {path}, is world-writable without the sticky bit: anyone can swap what is in it",
                    f"chmod o-w {current}",
                )
            )
        elif st.st_mode & 0o020 and st.st_gid == guard.gid:
            checks.append(
                Check(
                    "warning",
                    subject,
                    f"{current}, above {path}, can be written by group '{guard.group_label}': a member can rename "
                    "a shared dir and put a link in its place (root is safe: its uv commands on the tree run as the "
                    "install-user; other members are not)",
                    f"chmod g-w {current} if nothing else of the group lives there ('share setup' does it when it "
                    "holds only shared dirs)",
                )
            )
        elif st.st_mode & 0o020 and st.st_gid not in (guard.gid, 0):
            checks.append(
                Check(
                    "problem",
                    subject,
                    f"{current}, above {path}, can be written by group {st.st_gid}, which may hold outsiders",
                    f"chmod g-w {current}",
                )
            )
    return checks


def check_entry(path: str, gid: int, want_dir: bool, subject: str) -> Check:
    """Whether the fixed-name entry PATH (a lock file or `.temp`) is there and shared right."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Check("problem", subject, f"{path} is missing", as_root("setup"))
    if stat.S_ISLNK(st.st_mode):
        return Check(
            "problem", subject, f"{path} is a symlink, which uv never makes there", f"rm {path} && {as_root('setup')}"
        )
    right_kind = stat.S_ISDIR(st.st_mode) if want_dir else stat.S_ISREG(st.st_mode) and st.st_nlink == 1
    if not right_kind:
        what = "a directory" if want_dir else "a regular file with one link"
        return Check("problem", subject, f"{path} is not {what}", f"rm -r {path} && {as_root('setup')}")
    lock = not want_dir and prepare.is_lock(os.path.basename(path))
    problems = prepare.dir_problems(st, gid) if want_dir else prepare.file_problems(st, gid, lock=lock)
    problems += access_acl_problems(path, gid, 0o7 if want_dir else 0o6)
    if problems:
        return Check("problem", subject, f"{path} ({describe(st)}) is {', '.join(problems)}", as_root("setup"))
    return Check("ok", subject, f"{path} ({describe(st)})")


def access_acl_problems(path: str, gid: int, want: int) -> list[str]:
    """What the access ACL of PATH (opened without following a link or waiting on a FIFO) adds to its mode."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        return acl.access_state(fd, gid, want)[1]
    finally:
        os.close(fd)


@dataclass
class Pending:
    """Where the lines of a dir's walk go in the report: they are known once every dir was walked (see survey)."""

    key: str


@dataclass
class Dropped:
    """A shared dir whose default ACL is gone (image layers and copies drop them): one line says so for them all."""

    key: str
    path: str
    fstype: str  # the filesystem it is on ("" when unknown)


def dropped_line(dropped: list[Dropped], umask: int) -> Check:
    """The one line for every shared dir whose default ACL is gone. On overlay (an image's layers, each of which drops
    ACLs) nothing is to be done: an info line. Elsewhere the tree was copied without them: `share repair` gives them
    back, a warning."""
    if all(d.fstype == "overlay" for d in dropped):
        return Check("info", "ACLs", image_acls_note(umask))
    return Check(
        "warning",
        "ACLs",
        f"{', '.join(d.path for d in dropped)} lost their default ACLs (copied without them?): uvshare applies umask "
        f"{umask:04o} on its calls instead, "
        "but files made without it follow their maker's umask",
        as_root("repair"),
    )


def in_session(gid: int) -> bool:
    """Whether the caller is root or has group GID in this login session (and may read what members may)."""
    return os.geteuid() == 0 or gid == os.getegid() or gid in os.getgroups()


def closed_to_caller(key: str, path: str, guard: Guard) -> list[Check]:
    """The shared dir PATH, which the caller (not a member in this session) may not open: what they can see of it from
    outside (owner, group, mode), and that a member or root must check the rest — it is no problem of the tree's:
    the cache is closed to outsiders on purpose."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return [Check("info", key, f"{path} is closed to you ({e.strerror}): a member or root must check it", "")]
    problems = prepare.dir_problems(st, guard.gid, closed=key in prepare.CLOSED)
    if not guard.owner_ok(st):
        problems.insert(0, f"owned by {owner_name(st.st_uid)}, who is not a member of group '{guard.group_label}'")
    checks = [
        Check(
            "problem" if problems else "ok",
            key,
            f"{path} ({describe(st)})" + (f" is {', '.join(problems)}" if problems else ""),
            as_root("setup") if problems else "",
        )
    ]
    why = " on purpose (outsiders could hold uv's lock files inside and block members)" if key in prepare.CLOSED else ""
    checks.append(
        Check(
            "info",
            key,
            f"{path} is closed to you{why}: a member or root must check what is inside ('{as_root('doctor')}')",
        )
    )
    return checks


def check_acl(key: str, path: str, fd: int, config: Config, fstype: str) -> Check | Dropped:
    """Whether the dir's default ACL covers what is made inside without uvshare, and what that means for the umask;
    a dir whose ACL is gone (on FSTYPE) is said of all such dirs at once (see dropped_line)."""
    state = prepare.covered(fd, key, config.gid if config.gid is not None else -1)
    umask = f"{config.umask:04o}"
    if state is None:
        return Check(
            "info",
            key,
            f"{path}'s filesystem keeps no ACLs: uvshare applies umask {umask} on its own calls, but files made "
            "without it (plain uv, a tool run directly) may not be shared",
            "",
        )
    if state:
        note = "; the caller's umask is left alone" if config.acl else " (acl = false: umask applied anyway)"
        return Check("ok", key, f"{path} has a default ACL: the group gets rwx on everything made inside{note}")
    if not config.acl:
        return Check("info", key, f"{path} has no default ACL (acl = false): umask {umask} is applied on uv calls")
    if not has_default_acl(fd, config.gid if config.gid is not None else -1):
        return Dropped(key, path, fstype)
    return Check(
        "warning",
        key,
        f"{path} has a default ACL, but a subdir made before it has none: uvshare applies umask {umask} on its own "
        "calls, but files made without it (plain uv, a tool run directly) will not be shared",
        as_root("repair"),
    )


def has_default_acl(fd: int, gid: int) -> bool:
    """Whether the open dir FD has a default ACL that shares what is made inside with group GID."""
    try:
        return not acl.default_problems(acl.read(fd, acl.DEFAULT), gid)
    except OSError:
        return False


def check_filesystem(path: str, all_mounts: list[mounts.Mount], subject: str) -> list[Check]:
    """The filesystem a dir is on, whether it is read-only, and whether uv's locks work there."""
    mount = mounts.mount_of(path, all_mounts)
    checks = []
    if mount is not None:
        warning = mounts.lock_warning(mount)
        where = f"{mount.fstype} ({mount.source} at {mount.mount_point})"
        if warning:
            checks.append(Check("warning", subject, f"on {where}: {warning}", "remount with local_lock=none"))
        elif "ro" in mount.options:
            checks.append(
                Check(
                    "info",
                    subject,
                    f"on {where}, mounted read-only: members use what is there (installed Pythons are skipped), "
                    "nobody changes it; run setup and repair where it is mounted read-write",
                )
            )
        else:
            checks.append(Check("info", subject, f"on {where}"))
    try:
        fd = os.open(os.path.join(path, ".lock"), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return checks
    try:
        lock = os.fstat(fd)
        if not stat.S_ISREG(lock.st_mode) or lock.st_nlink != 1:
            return checks  # not uv's lock as it should be: the entry's own check says so
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            checks.append(
                Check(
                    "problem",
                    subject,
                    f"{path}'s filesystem does not support flock ({e.strerror}), which uv locks with",
                    "move the shared dirs to a local or NFS filesystem",
                )
            )
    finally:
        os.close(fd)
    return checks


def unopenable(key: str, path: str, e: OSError) -> Check:
    """The problem of a shared dir that cannot be opened for E, with a fix that is right to follow: what is in the
    way of it may be anything (/etc/passwd), so it is named and never to be removed."""
    if e.errno == errno.ENOTDIR:
        return Check("problem", key, prepare.not_a_dir_on_the_way(path), "")
    return Check("problem", key, f"cannot open {path}: {e.strerror}", f"remove it, then {as_root('setup')}")


def check_dir(  # noqa: PLR0911  # each way a dir can fail to be looked at ends here, said where it ends
    key: str, path: str, config: Config, guard: Guard, *, all_mounts: list[mounts.Mount], survey: Survey
) -> list[Check | Pending | Dropped]:
    """Every check of one configured dir (the walk's lines once SURVEY has seen every dir)."""
    gid = guard.gid
    checks: list[Check | Pending | Dropped] = []
    checks += check_parents(path, guard, key)
    try:  # the way every uvshare command opens it: no symlink others could have planted is followed
        fd = open_dir(path)
    except FileNotFoundError:
        return [*checks, Check("problem", key, f"{path} does not exist", as_root("setup"))]
    except UvshareError as e:
        survey.skipped()
        return [*checks, Check("problem", key, str(e), as_root("setup"))]
    except PermissionError as e:
        survey.skipped(closed=True)
        if not in_session(gid):  # an outsider: the cache is closed to them on purpose
            return [*checks, *closed_to_caller(key, path, guard), *check_filesystem(path, all_mounts, key)]
        return [*checks, Check("problem", key, f"cannot open {path}: {e.strerror}", as_root("setup"))]
    except OSError as e:
        survey.skipped()
        return [*checks, unopenable(key, path, e)]
    try:
        st = os.fstat(fd)
        access = acl.access_state(fd, gid, 0o7)[1]
    finally:
        os.close(fd)
    problems = prepare.dir_problems(st, gid, closed=key in prepare.CLOSED) + access
    if not guard.owner_ok(st):
        problems.insert(0, f"owned by {owner_name(st.st_uid)}, who is not a member of group '{guard.group_label}'")
    checks.append(
        Check(
            "problem" if problems else "ok",
            key,
            f"{path} ({describe(st)})" + (f" is {', '.join(problems)}" if problems else ""),
            as_root("setup") if problems else "",
        )
    )
    try:
        fd = open_dir(path)
    except UvshareError as e:
        survey.skipped()
        return [*checks, Check("problem", key, str(e), f"replace the symlink with a real dir, then {as_root('setup')}")]
    except OSError as e:
        survey.skipped()
        return [*checks, Check("problem", key, f"cannot read {path}: {e.strerror}", as_root("doctor"))]
    try:
        mount = mounts.mount_of(path, all_mounts)
        checks.append(check_acl(key, path, fd, config, mount.fstype if mount is not None else ""))
        for name, want_dir in prepare.MADE.get(key, ()):
            checks.append(check_entry(os.path.join(path, name), gid, want_dir, key))
        # Below a dir without its default ACL (image layers and copies drop them; see check_acl), a subdir without
        # one is shared as rightly as the dir itself: what counts is what members can do now, judged by the modes.
        policy = tree.Policy(gid, config.acl and has_default_acl(fd, gid), prepare.acl_other(config.umask), guard)
        survey.walk(key, path, fd, policy)
        checks.append(Pending(key))
    finally:
        os.close(fd)
    checks.extend(check_filesystem(path, all_mounts, key))
    return checks


def check_team_uv_toml(config: Config) -> list[Check]:
    """Whether plain uv in the team project dir uses the shared cache (see uvshare.admin.teamdir)."""
    from uvshare.admin import teamdir

    status, message = teamdir.state(config)
    if not status:
        return []
    if status == "missing":
        why = "under a umask like 077 what it copies from there the other members cannot read"
        return [Check("warning", PROJECT_KEY, f"{message}: {why}", f"{as_root('setup')} writes it")]
    return [Check("ok" if status == "ok" else "info", PROJECT_KEY, message)]


def check_path(config: Config) -> list[Check]:
    """Whether the shared bin dirs are on the caller's PATH — and, for root, that they are not."""
    on_path = [os.path.realpath(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    bins = [config.dirs[k] for k in BIN_KEYS if k in config.dirs]
    if os.geteuid() == 0:
        risky = [b for b in bins if os.path.realpath(b) in on_path]
        if risky:
            return [
                Check(
                    "warning",
                    "PATH",
                    f"root's PATH includes {', '.join(risky)}, which members can write: root would run their programs",
                    "take them off root's PATH",
                )
            ]
        return []
    missing = [b for b in bins if os.path.realpath(b) not in on_path]
    if not missing:
        return [Check("ok", "PATH", f"{', '.join(bins)} on your PATH")] if bins else []
    return [
        Check(
            "warning",
            "PATH",
            f"{', '.join(missing)} not on your PATH: the shared Pythons and tools cannot be called by name",
            f"log in again after '{as_root('setup --profile')}' (a member of several trees: load this tree's module), "
            "or add them to PATH",
        )
    ]


def check_members_run(config: Config) -> Check:
    """Whether the group's members can run the uvshare this doctor was started through: the launcher, its
    interpreter and uvshare's code (see uvshare.admin.reach)."""
    from uvshare.admin.reach import FIX, members_cannot_run, running_program

    launcher = running_program()
    why, how = members_cannot_run(config, launcher)
    if why is not None:
        return Check("problem", "members", why, FIX)
    return Check("ok", "members", f"can run {launcher or sys.executable + ' -m uvshare'}: {how}")


def check_self() -> Check:
    """Whether anyone but root could change the uvshare that root runs: its interpreter or its installed code."""
    import uvshare
    from uvshare.safefs import root_may_trust

    places = [os.path.realpath(sys.executable), os.path.dirname(os.path.realpath(uvshare.__file__))]
    writable = []
    for place in places:
        reason = root_may_trust(os.path.join(place, "__init__.py") if os.path.isdir(place) else place)
        if reason is not None:
            writable.append(reason)
    if writable:
        return Check(
            "problem",  # root runs it on every call: whoever can change it is root
            "uvshare",
            f"others can change the uvshare that runs here: {'; '.join(writable)}",
            "install uvshare where only root can write (see recipes/image-install.sh)",
        )
    return Check("ok", "uvshare", f"{places[1]} on {places[0]}: only root can change them")


# What root types to reach uv: a console script among them hands root's PYTHON* variables to its interpreter.
ROOTS_ENTRIES = (("uv", "problem"), ("uvx", "problem"), ("uvshare", "warning"))
SCRIPT_HEAD = 1024  # enough for a #! line (Linux reads 255 bytes of it) and pip's exec line after a long one
PIP_EXEC = "'''exec' "  # pip's console script for a long interpreter path: `#!/bin/sh`, then this and the Python


def script_head(path: str) -> str:
    """The first bytes of the file PATH as text ("" when it is not a regular file or cannot be read); read without
    waiting on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return os.read(fd, SCRIPT_HEAD).decode(errors="replace") if stat.S_ISREG(os.fstat(fd).st_mode) else ""
    except OSError:
        return ""
    finally:
        os.close(fd)


def script_interpreter(head: str) -> tuple[str, list[str]] | None:
    """The interpreter, and its options, of a script that starts with HEAD (None: not a script)."""
    if not head.startswith("#!"):
        return None
    lines = head.splitlines()
    words = lines[0][2:].split()
    if words and os.path.basename(words[0]) == "sh" and len(lines) > 1 and lines[1].startswith(PIP_EXEC):
        words = lines[1][len(PIP_EXEC) :].split()[:1]
    if words and os.path.basename(words[0]) == "env":  # `#!/usr/bin/env python3`: the first word that is no option
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        words = rest[:1] + words[words.index(rest[0]) + 1 :] if rest else []
    return (words[0], words[1:]) if words else None


def reads_python_vars(head: str) -> str | None:
    """The #! line's interpreter (and options) of a script starting with HEAD when it is a Python run without -I or
    -E, which reads PYTHONPATH, PYTHONHOME, PYTHONSTARTUP, … from the caller's environment; None otherwise (a
    binary, uvshare's `-I -S` launcher)."""
    found = script_interpreter(head)
    if found is None:
        return None
    interpreter, options = found
    if not os.path.basename(interpreter).startswith("python"):
        return None
    flags = "".join(o[1:] for o in options if o.startswith("-") and not o.startswith("--"))
    return None if "I" in flags or "E" in flags else " ".join([interpreter, *options])


def check_roots_entries() -> list[Check]:
    """(Root) Whether the uv, uvx and uvshare that root's PATH leads to read PYTHON* variables: a console script's
    Python does, so whatever sets PYTHONPATH in root's environment loads its code into root's uvshare."""
    checks = []
    for name, status in ROOTS_ENTRIES:
        for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
            path = os.path.join(entry or ".", name)
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                continue
            head = script_head(path)
            interpreter = reads_python_vars(head)
            if interpreter is not None:
                fix = (
                    f"'{as_root(f'launcher --force {path}')}' (uvshare's -I -S launcher)"
                    if ENTRY_MODULE_TEXT in head
                    else f"put the uv binary first on root's PATH instead of {path}"
                )
                checks.append(
                    Check(
                        status,
                        f"root's {name}",
                        f"{path} runs on '{interpreter}' without -I, which reads PYTHONPATH and the other PYTHON* "
                        "variables: whatever sets them in root's environment runs its code as root",
                        fix,
                    )
                )
            break  # only the first on PATH is the one root runs
    return checks


def check_roots_uv(config: Config) -> list[Check]:
    """What root's uv is given: the install-user that runs its commands on the tree, and no build mode left on."""
    from uvshare.runas import install_account, own_install_user
    from uvshare.shim import ENV_BUILD

    checks = []
    try:
        name, uid, _ = install_account(config)
    except UvshareError as e:
        fix = f"run '{as_root('setup')}'" if config.install_user else f'add install-user = "{own_install_user(config)}"'
        # only root's commands need it: for anybody else it is worth knowing, not a problem of theirs
        checks.append(Check("problem" if os.geteuid() == 0 else "warning", "install-user", str(e), fix))
    else:
        checks.append(
            Check(
                "ok",
                "install-user",
                f"{name} (uid {uid}): root's uv commands on the shared tree (python/tool install, …) run as it; "
                "root's other uv commands get none of the shared dirs",
            )
        )
        user = pwd.getpwnam(name)
        from uvshare.safefs import INSTALL_USER_MARK

        if config.gid is not None and user.pw_gecos != INSTALL_USER_MARK.format(config.gid):
            checks.append(
                Check(
                    "info",
                    "install-user",
                    f"{name} is in group '{group_label(config)}' outside root's runs too; it could be narrowed to "
                    "a group of its own, root's runs giving it the tree's group (as 'share setup' makes the account "
                    "now): see docs/install.md, 'The install-user'",
                )
            )
        from uvshare.admin.setup import scheduling_open

        for program in scheduling_open(name):
            checks.append(
                Check(
                    "problem" if os.geteuid() == 0 else "warning",
                    "install-user",
                    f"{name} may leave jobs with {program}: one could run when root's next command on the tree does "
                    "and reach it (same uid)",
                    f"run '{as_root('setup')}', which denies it (/etc/cron.deny, /etc/at.deny)",
                )
            )
    if os.environ.get(ENV_BUILD) == "1":
        checks.append(
            Check(
                "warning",
                "root",
                f"{ENV_BUILD}=1 is set: root's uv uses the shared Pythons and tools, which members can change",
                f"set it only while an image is built (ARG {ENV_BUILD}=1 in the Dockerfile), never in a running "
                "image's or server's environment",
            )
        )
    return checks


def check_link_mode(config: Config) -> Check:
    """Which UV_LINK_MODE members get (see uvshare.config.members_link_mode), and why; a link mode that shares the
    cache's inodes (hardlink, symlink) is a problem: another member could change a member's own venv."""
    if os.environ.get("UV_LINK_MODE"):
        return Check("info", "link mode", f"UV_LINK_MODE={os.environ['UV_LINK_MODE']} in your environment wins")
    mode, why = members_link_mode(config)
    if mode not in ("copy", "clone"):
        return Check(
            "problem",
            "link mode",
            f"members get {mode} ({why}): their venvs' files are the group-writable cache's own",
            "remove link-mode from the config (uvshare picks clone where reflinks work, else copy)",
        )
    return Check("ok", "link mode", f"members get {mode}: {why}")


def run_checks() -> tuple[list[Check], bool]:
    """The whole report, in order, and whether the config could be used at all."""
    checks, usable, _ = run_report()
    return checks, usable


def run_report(*, one_of_all: bool = False) -> tuple[list[Check], bool, bool]:
    """The whole report, in order; whether the config could be used at all; and whether the caller could look at
    only part of the tree (an outsider: the cache is closed to them), which a member or root must check."""
    config, checks = check_config(one_of_all=one_of_all)
    if config is None:
        return checks, False, False
    checks.extend(check_uv(config))
    if config.gid is None:
        return checks, True, False
    gid = config.gid
    label = group_label(config)
    try:
        members = grp.getgrgid(gid).gr_mem
        listed = ", ".join(members) or "none (primary-group members are not listed)"
        checks.append(Check("ok", "group", f"'{label}' is gid {gid}; listed members: {listed}"))
    except KeyError:
        checks.append(
            Check("info", "group", f"gid {gid} is not in the group database (fine for images that run arbitrary uids)")
        )
    checks.append(check_membership(config, gid))
    if not in_session(gid):
        checks.append(
            Check(
                "info",
                "you",
                "outside the group you can check what everybody may read: the shared dirs, their owners and modes, "
                "and what is inside those open to all; a member or root must check the rest (the cache is closed to "
                f"outsiders on purpose): '{as_root('doctor')}'",
            )
        )
    all_mounts = mounts.read_mounts()
    guard = Guard(gid, label)
    dirs = shared_dirs(config)
    if config.kind == "curated":  # judged by its own rules: nobody but root and the install-user writes it
        from uvshare.admin.curate import doctor_checks, tree_dirs

        checks.extend(Check(*line) for line in doctor_checks(config))
        dirs = {k: p for k, p in dirs.items() if k not in tree_dirs(config)}
    survey = Survey()
    items: list[Check | Pending | Dropped] = []
    for key, path in dirs.items():
        items.extend(check_dir(key, path, config, guard, all_mounts=all_mounts, survey=survey))
    survey.settle()
    dropped = [item for item in items if isinstance(item, Dropped)]
    for item in items:
        if isinstance(item, Dropped):
            if item is dropped[0]:  # said once, where the first such dir is looked at
                checks.append(dropped_line(dropped, config.umask))
        elif isinstance(item, Pending):
            checks.extend(
                Check(status, item.key, message, fix)
                for status, message, fix in survey.findings(item.key, as_root("repair"), as_root(tree.LEFTOVERS_FIX))
            )
        else:
            checks.append(item)
    checks.extend(check_team_uv_toml(config))
    checks.extend(check_path(config))
    checks.append(check_link_mode(config))
    checks.append(check_members_run(config))
    if os.geteuid() == 0:
        checks.append(check_self())
        checks.extend(check_roots_entries())
    checks.extend(check_roots_uv(config))
    partial = not in_session(gid) or survey.kept_out
    return checks, True, partial


class Doctor(Command):
    """Check the config, uv, your group membership and every shared dir; print the fix for each problem"""

    as_json = cli.Flag("--json", help="print the same report as JSON")
    all_trees = cli.Flag(
        "--all-trees",
        help="check every tree of the machine (/etc/uvshare/config.toml and each /etc/uvshare/trees/*.toml), one "
        "report each; exit 0 when all are healthy, 1 when one has problems, 2 when one's config cannot be used",
    )

    def main(self) -> int:
        if self.all_trees:
            return self.every_tree()
        checks, usable, partial = run_report()
        healthy = usable and not any(c.status == "problem" for c in checks)
        if self.as_json:
            report = {"healthy": healthy, "partial": partial, "checks": [c.as_dict() for c in checks]}
            print(json.dumps(report, indent=2))
        else:
            self.show(checks, healthy=healthy, partial=partial)
        return status_of(usable=usable, healthy=healthy)

    def show(self, checks: list[Check], *, healthy: bool, partial: bool, tree: str = "") -> None:
        """The text report: each line (with -q only problems and warnings), then the verdict (of TREE)."""
        for check in checks:
            if not self.quiet or check.status in ("problem", "warning"):
                print(check.line())
        problems = sum(c.status == "problem" for c in checks)
        verdict = "healthy" if healthy else f"{problems} problem{'s' if problems != 1 else ''} found"
        if partial:
            verdict += f" in what you can check: a member or root must check the rest ('{as_root('doctor')}')"
        if not healthy or not self.quiet:
            print(f"{escape(tree)}: {verdict}" if tree else verdict)

    def every_tree(self) -> int:
        """--all-trees: each tree's report under a line naming it, one verdict per tree, one exit status for all."""
        trees = machine_trees()
        statuses, reports = [], []
        for name, path in trees:
            with config_named(path):
                checks, usable, partial = run_report(one_of_all=True)
            healthy = usable and not any(c.status == "problem" for c in checks)
            statuses.append(status_of(usable=usable, healthy=healthy))
            if self.as_json:
                reports.append(
                    {
                        "tree": escape(name),
                        "config": escape(path),
                        "healthy": healthy,
                        "partial": partial,
                        "checks": [c.as_dict() for c in checks],
                    }
                )
                continue
            if not self.quiet or not healthy:
                print(f"== {escape(name)} ({escape(path)})")
            self.show(checks, healthy=healthy, partial=partial, tree=name)
        unhealthy = [name for (name, _), status in zip(trees, statuses) if status]
        if self.as_json:
            print(json.dumps({"healthy": not unhealthy, "trees": reports}, indent=2))
        elif unhealthy:
            print(f"{len(unhealthy)} of {len(trees)} trees not healthy: {escape(', '.join(unhealthy))}")
        elif not self.quiet:
            print(f"all {len(trees)} trees healthy")
        return max(statuses)  # 2 when a config cannot be used, else 1 when one has problems, else 0


def status_of(*, usable: bool, healthy: bool) -> int:
    """Doctor's exit status: 2 when the config cannot be used, 1 when something is wrong, 0 healthy."""
    if not usable:
        return EXIT_ERROR
    return 0 if healthy else EXIT_PROBLEMS
