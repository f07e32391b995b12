"""`share repair`: give every entry of the shared dirs the group and group permissions, holding uv's own locks.

Safe as root in dirs members can write: it walks through O_NOFOLLOW fds, changes only what it just looked at (same
inode), never acts through a symlink, never leaves the configured dirs or their filesystem, never makes a
setuid/setgid file group-writable and never changes a hard-linked file that is not already group-owned.
"""

from __future__ import annotations

import os
from collections import Counter

from plumbum import cli

from uvshare import prepare
from uvshare.admin import tree
from uvshare.admin.common import GUARDED_BY, Command, as_root, group_label, load_group_config, mark, shared_dirs
from uvshare.admin.locks import lock_exclusive
from uvshare.errors import EXIT_PROBLEMS, UvshareError
from uvshare.prepare import Preparer


class Repairer:
    """Repairs the tree below one open dir for group GID; counts what it did and what it left alone."""

    def __init__(self, gid: int, label: str, contained: frozenset[tuple[int, int]], *, dry_run: bool) -> None:
        self.gid = gid
        self.contained = contained
        self.label = label
        self.dry_run = dry_run
        self.counts: Counter[str] = Counter()
        self.left_alone: list[str] = []

    def repair_tree(self, dir_fd: int, path: str) -> None:
        """Fix every entry below DIR_FD (and, in a dry run, report the dir itself, which setup would fix)."""
        if self.dry_run:
            top = tree.judge(os.fstat(dir_fd), self.gid)
            if top.problems:
                print(f"would fix {path}: {', '.join(top.problems)} -> group {self.label}, mode {top.mode:04o}")
                self.counts["would fix"] += 1
        for entry in tree.walk(dir_fd, path):
            self.counts["seen"] += 1
            verdict = tree.judge(entry.st, self.gid, self.contained)
            if not verdict.problems:
                continue
            if verdict.refuse:
                self.counts["left alone"] += 1
                self.left_alone.append(f"{entry.path}: {verdict.refuse}")
                continue
            change = f"{entry.path}: {', '.join(verdict.problems)} -> group {self.label}, mode {verdict.mode:04o}"
            if self.dry_run:
                print(f"would fix {change}")
                self.counts["would fix"] += 1
                continue
            self.fix(entry, verdict.mode)

    def fix(self, entry: tree.Entry, mode: int) -> None:
        """Change ENTRY through an fd that is checked to be the entry looked at."""
        fd = tree.open_same(entry.parent_fd, entry.name, entry.st)
        if fd is None:
            self.counts["vanished"] += 1
            return
        try:
            prepare.set_group_mode(fd, entry.st, self.gid, mode)
            self.counts["fixed"] += 1
        except PermissionError:
            self.counts["not yours to change"] += 1
        finally:
            os.close(fd)


class Repair(Command):
    """Fix group, group permissions, setgid and sticky bits below every shared dir, holding uv's locks"""

    dry_run = cli.Flag("--dry-run", help="list what would change and change nothing")
    timeout = cli.SwitchAttr(
        "--timeout",
        float,
        default=60.0,
        argname="SECONDS",
        help="how long to wait for uv's lock on a dir (uv holds the cache's during every command)",
    )

    def main(self) -> int:
        config, gid = load_group_config()
        dirs = shared_dirs(config)
        label = group_label(config)
        repairer = Repairer(gid, label, tree.contained_links(dirs.values(), gid), dry_run=self.dry_run)
        warnings: list[str] = []
        if not self.dry_run:
            for change in Preparer(gid, config.umask, label, warnings.append).prepare(dirs):
                print(f"{mark('ok')} {change}")
        for key, path in dirs.items():
            try:
                dir_fd = prepare.open_dir(path)
            except FileNotFoundError:
                print(f"{mark('problem')} {path} does not exist; run '{as_root('setup')}'")
                continue
            try:
                self.repair_dir(repairer, dir_fd, path, dirs.get(GUARDED_BY[key]))
            finally:
                os.close(dir_fd)
        for warning in warnings:
            print(f"{mark('problem')} {warning}")
        for line in repairer.left_alone:
            print(f"{mark('warning')} left alone {line}")
        counts = repairer.counts
        summary = ", ".join(
            f"{counts[k]} {k}"
            for k in ("seen", "fixed", "would fix", "left alone", "vanished", "not yours to change")
            if counts[k] or k in ("seen", "fixed")
        )
        print(f"{'dry run: ' if self.dry_run else ''}{summary} (group {label})")
        return EXIT_PROBLEMS if warnings or counts["not yours to change"] else 0

    def repair_dir(self, repairer: Repairer, dir_fd: int, path: str, guard: str | None) -> None:
        """Repair one dir while holding the uv lock that guards it, so that no uv install runs meanwhile."""
        lock_fd = None
        if guard is not None and not self.dry_run:
            try:
                guard_fd = prepare.open_dir(guard)
            except OSError as e:
                raise UvshareError(f"cannot open {guard} to take uv's lock: {e.strerror}") from None
            try:
                lock_fd = lock_exclusive(guard_fd, guard, self.timeout)
            finally:
                os.close(guard_fd)
        try:
            repairer.repair_tree(dir_fd, path)
        except tree.TooDeep as e:
            raise UvshareError(f"{e} is nested deeper than {tree.MAX_DEPTH} levels; inspect {path}") from None
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
