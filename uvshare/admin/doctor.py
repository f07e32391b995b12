"""`share doctor`: one report of everything that decides whether the shared dirs work, and the fix for each problem."""

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

from uvshare.admin import mounts, tree
from uvshare.admin.common import Command, as_root, group_label, load_config, mark, shared_dirs
from uvshare.config import DIR_KEYS, Config
from uvshare.errors import EXIT_PROBLEMS, UvshareError
from uvshare.finduv import find_uv
from uvshare.prepare import MADE, describe, dir_problems, file_problems, open_dir

EXAMPLES = 3  # paths shown for a count of wrong entries
UV_PROBE_TIMEOUT = 10.0


@dataclass
class Check:
    """One line of the report: ok, problem (makes the exit status 1), warning or info; and the fix for a problem."""

    status: str
    subject: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The text report's line."""
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{mark(self.status)} {self.subject}: {self.message}{fix}"


def check_config() -> tuple[Config | None, list[Check]]:
    """The config files found and which one set each key."""
    try:
        config = load_config()
    except UvshareError as e:
        return None, [Check("problem", "config", str(e), "fix the file named, or see 'uvshare share config'")]
    checks = []
    for path in config.files:
        keys = [k for k, origin in config.origins.items() if origin == path]
        checks.append(Check("ok", "config", f"{path} sets {', '.join(keys) if keys else 'nothing'}"))
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
    if config.gid is None:
        checks.append(
            Check(
                "problem",
                "config",
                "no 'group' key: uvshare only passes through to uv",
                f'add group = "..." to {config.files[-1]}',
            )
        )
    return config, checks


def check_uv(config: Config) -> Check:
    """The real uv found, and its version (`uv --version`, with a timeout)."""
    try:
        uv = find_uv(os.environ, config.uv, config.files[0])
    except UvshareError as e:
        return Check("problem", "uv", str(e), 'pip install uv, or set uv = "/path/to/uv" in the config')
    try:
        done = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=UV_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("problem", "uv", f"{uv} does not answer 'uv --version': {e}", 'set uv = "/path/to/real/uv"')
    if done.returncode != 0 or not done.stdout.startswith("uv "):
        return Check(
            "problem",
            "uv",
            f"{uv} --version said {done.stdout.strip() or done.stderr.strip()!r}",
            'set uv = "/path/to/real/uv" in the config',
        )
    return Check("ok", "uv", f"{uv} ({done.stdout.strip()})")


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
    right_kind = stat.S_ISDIR(st.st_mode) if want_dir else stat.S_ISREG(st.st_mode)
    if not right_kind:
        return Check(
            "problem",
            subject,
            f"{path} is not a {'directory' if want_dir else 'regular file'}",
            f"rm -r {path} && {as_root('setup')}",
        )
    problems = dir_problems(st, gid) if want_dir else file_problems(st, gid)
    if problems:
        return Check("problem", subject, f"{path} ({describe(st)}) is {', '.join(problems)}", as_root("repair"))
    return Check("ok", subject, f"{path} ({describe(st)})")


def check_tree(path: str, gid: int, subject: str, contained: frozenset[tuple[int, int]]) -> list[Check]:
    """How many entries below PATH are not group-owned or group-writable, and which are left alone (and why)."""
    wrong: list[str] = []
    refused: list[str] = []
    total = 0
    try:
        fd = open_dir(path)
    except UvshareError as e:
        return [
            Check("problem", subject, str(e), f"replace the symlink with a real directory, then {as_root('setup')}")
        ]
    except OSError as e:
        return [Check("problem", subject, f"cannot read {path}: {e.strerror}", as_root("doctor"))]
    try:
        for entry in tree.walk(fd, path):
            total += 1
            verdict = tree.judge(entry.st, gid, contained)
            if verdict.refuse:
                refused.append(f"{entry.path} ({verdict.refuse})")
            elif verdict.problems:
                wrong.append(entry.path)
    except tree.TooDeep as e:
        return [Check("problem", subject, f"{e} is nested deeper than {tree.MAX_DEPTH} levels", f"inspect {path}")]
    finally:
        os.close(fd)
    checks = []
    if wrong:
        checks.append(
            Check(
                "problem",
                subject,
                f"{len(wrong)} of {total} entries below {path} are not group-owned or "
                f"not group-writable, e.g. {', '.join(wrong[:EXAMPLES])}",
                as_root("repair"),
            )
        )
    else:
        checks.append(Check("ok", subject, f"all {total} entries below {path} are group-owned and group-writable"))
    if refused:
        checks.append(
            Check(
                "warning",
                subject,
                f"{len(refused)} entries that repair leaves alone: {', '.join(refused[:EXAMPLES])}",
                "inspect them and fix or remove them by hand",
            )
        )
    return checks


def check_filesystem(path: str, all_mounts: list[mounts.Mount], subject: str) -> list[Check]:
    """The filesystem a dir is on, and whether uv's locks work there."""
    mount = mounts.mount_of(path, all_mounts)
    checks = []
    if mount is not None:
        warning = mounts.lock_warning(mount)
        where = f"{mount.fstype} ({mount.source} at {mount.mount_point})"
        checks.append(
            Check("warning", subject, f"on {where}: {warning}", "remount with local_lock=none")
            if warning
            else Check("info", subject, f"on {where}")
        )
    lock = os.path.join(path, ".lock")
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return checks
    try:
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


def check_dir(
    key: str, path: str, gid: int, all_mounts: list[mounts.Mount], contained: frozenset[tuple[int, int]]
) -> list[Check]:
    """Every check of one configured dir."""
    subject = key
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return [Check("problem", subject, f"{path} does not exist", as_root("setup"))]
    if not stat.S_ISDIR(st.st_mode):
        return [Check("problem", subject, f"{path} is not a directory", f"remove it, then {as_root('setup')}")]
    problems = dir_problems(st, gid)
    fix = as_root("setup") if problems else ""
    checks = [
        Check(
            "problem" if problems else "ok",
            subject,
            f"{path} ({describe(st)})" + (f" is {', '.join(problems)}" if problems else ""),
            fix,
        )
    ]
    for name, want_dir in MADE.get(key, ()):
        checks.append(check_entry(os.path.join(path, name), gid, want_dir, subject))
    checks.extend(check_tree(path, gid, subject, contained))
    checks.extend(check_filesystem(path, all_mounts, subject))
    return checks


def check_self() -> Check:
    """Whether anyone but root could change the uvshare that root runs: its interpreter or its installed code."""
    import uvshare

    places = [os.path.realpath(sys.executable), os.path.dirname(os.path.realpath(uvshare.__file__))]
    writable = []
    for place in places:
        path = place
        while True:  # the file or dir itself and every dir above it
            try:
                st = os.stat(path)
            except OSError:
                break
            if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
                writable.append(f"{path} ({describe(st)})")
                break
            if st.st_uid not in (0, os.geteuid()):
                writable.append(f"{path} ({describe(st)})")
                break
            if path == "/":
                break
            path = os.path.dirname(path)
    if writable:
        return Check(
            "warning",
            "uvshare",
            f"others can change the uvshare that runs here: {'; '.join(writable)}",
            "install uvshare where only root can write (see recipes/image-install.sh)",
        )
    return Check("ok", "uvshare", f"{places[1]} on {places[0]}: only root can change them")


def run_checks() -> list[Check]:
    """The whole report, in order."""
    config, checks = check_config()
    if config is None:
        return checks
    checks.append(check_uv(config))
    if config.gid is None:
        return checks
    gid = config.gid
    try:
        members = grp.getgrgid(gid).gr_mem
        checks.append(
            Check(
                "ok",
                "group",
                f"'{group_label(config)}' is gid {gid}; listed members: "
                f"{', '.join(members) or 'none (primary-group members are not listed)'}",
            )
        )
    except KeyError:
        checks.append(
            Check(
                "info",
                "group",
                f"gid {gid} is not in the group database (fine for images that run arbitrary uids in that gid)",
            )
        )
    checks.append(check_membership(config, gid))
    all_mounts = mounts.read_mounts()
    dirs = shared_dirs(config)
    contained = tree.contained_links(dirs.values(), gid)
    for key, path in dirs.items():
        checks.extend(check_dir(key, path, gid, all_mounts, contained))
    if os.geteuid() == 0:
        checks.append(check_self())
    python_dir = config.dirs.get("python-install-dir")
    if os.geteuid() == 0 and python_dir and os.path.isdir(python_dir):
        checks.append(
            Check(
                "warning",
                "root",
                f"as root, uv would run Pythons from {python_dir}, which members of "
                f"group '{group_label(config)}' can modify",
                "run root's own jobs with a Python only root "
                "can write (e.g. /usr/bin/python3 or a root-owned install dir)",
            )
        )
    return checks


class Doctor(Command):
    """Check the config, uv, your group membership and every shared dir; print the fix for each problem"""

    as_json = cli.Flag("--json", help="print the same report as JSON")

    def main(self) -> int:
        checks = run_checks()
        healthy = not any(c.status == "problem" for c in checks)
        if self.as_json:
            print(json.dumps({"healthy": healthy, "checks": [asdict(c) for c in checks]}, indent=2))
        else:
            for check in checks:
                print(check.line())
            problems = sum(c.status == "problem" for c in checks)
            print("healthy" if healthy else f"{problems} problem{'s' if problems != 1 else ''} found")
        return 0 if healthy else EXIT_PROBLEMS
