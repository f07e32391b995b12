"""`share repair`: give every entry of the shared dirs the group, group permissions and default ACLs it needs.

Safe as root in dirs members can write: it walks through O_NOFOLLOW fds, changes only what it just looked at (same
inode), never acts through a symlink, never leaves the configured dirs or their filesystem, never makes a
setuid/setgid file group-writable, and changes a hard-linked file only when all its links are provably inside.

It holds uv's own lock for each dir while it walks it: exclusively for the Python and tool dirs (no install runs
meanwhile), shared for the cache — every uv command holds the cache's lock shared, for as long as it runs (a
`uv run jupyter lab`: days), and what repair does there (adding group permissions, taking others' access to lock
files) is safe beside them; only `uv cache clean/prune`, which take it exclusively, wait.

A dir whose lock stays held past --timeout is left as it is, the others are repaired, and the end of the report names
what was left (exit status 1).

uv's temporary entries (`tree.is_temporary`: a running `uv run --with …`'s environment, a build) are never changed.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from plumbum import cli

from uvshare import acl, prepare
from uvshare.admin import tree
from uvshare.admin.common import (
    GUARDED_BY,
    Command,
    as_root,
    config_named,
    entries,
    group_label,
    load_group_config,
    machine_trees,
    refuse_outsider_admin,
    shared_dirs,
)
from uvshare.admin.locks import LockBusy, take_lock
from uvshare.config import Config
from uvshare.errors import EXIT_PROBLEMS, UvshareError, escape
from uvshare.prepare import Preparer
from uvshare.safefs import O_NODE, Guard, open_dir, open_node, share_default_acl, share_entry

EXAMPLES = 3
SHARED_LOCK = frozenset({"cache-dir"})  # uv holds these shared during every command


def parse_timeout(text: str) -> float:
    """SECONDS as given to --timeout: a number, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UvshareError(f"--timeout takes a number of seconds, 0 or more, not {text!r}; e.g. --timeout 300")
    return value


class Progress:
    """One self-erasing line on a terminal (stderr) for walks that take more than a second; nothing elsewhere."""

    def __init__(self, label: str) -> None:
        stream = sys.stderr
        self.tty = stream is not None and stream.isatty()
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def tick(self, count: int, where: str) -> None:
        """Say how far the walk is, at most four times a second."""
        if not self.tty or count % 256:
            return
        now = time.monotonic()
        if now - self.start < 1.0 or now - self.last < 0.25:
            return
        self.last = now
        self.shown = True
        sys.stderr.write(f"\r\x1b[K{self.label}: {escape(where)}: {count:,} entries checked…"[:200])
        sys.stderr.flush()

    def done(self) -> None:
        """Erase the line."""
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


@dataclass
class DirReport:
    """What repair did (or would do) below one shared dir."""

    seen: int = 0
    fixed: int = 0
    kinds: Counter[tuple[str, ...]] = field(default_factory=Counter)  # problems (as judged) -> entries
    left_alone: int = 0
    left_examples: list[str] = field(default_factory=list)
    not_yours: int = 0
    unreadable: int = 0  # a venv's files in the project dir members cannot read (tree.UNREADABLE): not repair's
    unreadable_examples: list[str] = field(default_factory=list)
    temporary: int = 0  # uv's temporary entries, left as they are
    complete: bool = True  # every dir below got what it needed: the top may then get its default ACL


def left_alone(report: DirReport, path: str, verdict: tree.Verdict) -> None:
    """Count PATH, which repair leaves as it is (VERDICT says why), in REPORT."""
    if verdict.unreadable:
        report.unreadable += 1
        if len(report.unreadable_examples) < EXAMPLES:
            report.unreadable_examples.append(path)
        return
    report.left_alone += 1
    if len(report.left_examples) < EXAMPLES:
        report.left_examples.append(f"{path} ({verdict.refuse})")


class Left(Exception):
    """A dir repair could not start on (uv's lock held, its guard dir not there); the reason, for the report."""


class Repairer:
    """Repairs the trees below the shared dirs for one policy; dry runs count exactly what a real run changes."""

    def __init__(self, command: Repair, policy: tree.Policy, label: str, already: set[str]) -> None:
        self.command = command
        self.policy = policy
        self.label = label
        self.dry_run = command.dry_run
        self.verbose = command.verbose  # read once: a plumbum switch is a descriptor, and this runs per entry
        self.already = already  # paths `setup` changed (or would) before the walk: counted once
        self.book = tree.LinkBook()
        self.walker = tree.Walker()
        self.links_fixed = 0
        self.links_left: list[str] = []

    def verb(self) -> str:
        return "would fix" if self.dry_run else "fixed"

    def repair_tree(self, top_fd: int, key: str, path: str, progress: Progress) -> DirReport:
        """Fix every entry below TOP_FD, the shared dir KEY (hard-linked files are decided at the end, see
        finish_links)."""
        report = DirReport()
        deep_before = len(self.walker.too_deep)
        reachable = tree.reachable_by_others(path)
        for entry in self.walker.walk(top_fd, path, reachable, key):
            report.seen += 1
            progress.tick(self.walker.count, path)
            verdict = tree.judge(entry, self.policy)
            if verdict.in_flight:
                tree.sort_entry(entry, verdict, self.book, key)
                report.temporary += tree.is_temporary(entry.name)
                continue
            if not verdict.problems:
                continue
            counted = entry.path in self.already  # setup's step changed (or would change) it: counted there
            if counted and self.dry_run:
                continue
            if verdict.refuse:
                left_alone(report, entry.path, verdict)
                continue
            if tree.sort_entry(entry, verdict, self.book, key):
                continue
            if self.apply(entry, verdict):
                if not counted:
                    report.fixed += 1
                    report.kinds[verdict.problems] += 1
            else:
                report.not_yours += 1
                if verdict.default_acl or entry.fd is not None:
                    report.complete = False
        if len(self.walker.too_deep) > deep_before:
            report.complete = False
        return report

    def apply(self, entry: tree.Entry, verdict: tree.Verdict) -> bool:
        """Fix ENTRY through an fd checked to be the entry looked at; False when it is not the caller's to change."""
        if self.dry_run:
            self.detail("would fix", entry.path, verdict)
            return True
        fd = entry.fd if entry.fd is not None else open_node(entry.parent_fd, entry.name, entry.st)
        if fd is None:
            return True  # gone or swapped meanwhile: nothing left to fix here
        try:
            self.change(fd, entry.st, verdict)
        except PermissionError:
            return False
        finally:
            if fd != entry.fd:
                os.close(fd)
        self.detail("fixed", entry.path, verdict)
        return True

    def change(self, fd: int, st: os.stat_result, verdict: tree.Verdict) -> None:
        """Group, mode and (dirs) ACLs of the open file FD, as VERDICT says."""
        gid = self.policy.gid
        # Files are judged by their mode (see docs/known-limits.md), but one that is changed has its access ACL
        # read first: the chmod that gives the group write sets the mask, which would let through a named entry's
        # write the old mask hid; and one taken from an outsider loses whatever its ACL gave anyone outside the group.
        entries, wrong = acl.access_state(fd, gid, verdict.mode >> 3 & 0o7)
        access = entries if wrong else None
        default_other = self.policy.acl_other if verdict.default_acl else None
        owner = 0 if verdict.take_owner else None
        share_entry(fd, st, gid, verdict.mode, access=access, default_other=default_other, owner=owner)

    def finish_links(self, *, all_walked: bool) -> None:
        """Decide the hard-linked files: fix those whose every link is provably inside, leave the rest alone
        (ALL_WALKED: no shared dir was left unwalked, where the other links could be)."""
        for (dev, ino), seen, verdict in self.book.judged():
            if not self.book.contained(seen):
                where = "inside the shared dirs" if all_walked else "in the dirs walked (some were left unrepaired)"
                self.links_left.append(
                    f"{seen.path} ({seen.nlink} hard links: not all of them {where}, or changed during the walk)"
                )
                continue
            if self.dry_run:
                self.links_fixed += len(seen.places)  # entries are paths: each link is one
                self.detail("would fix", seen.path, verdict)
                continue
            try:
                parent = open_dir(os.path.dirname(seen.path))
            except (OSError, UvshareError):
                continue
            try:
                fd = os.open(seen.name, O_NODE, dir_fd=parent)
            except OSError:
                os.close(parent)
                continue
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == (dev, ino) and self.book.still(seen, st):
                    self.change(fd, st, verdict)
                    self.links_fixed += len(seen.places)
                    self.detail("fixed", seen.path, verdict)
                else:
                    self.links_left.append(f"{seen.path} (changed during the repair)")
            except PermissionError:
                self.links_left.append(f"{seen.path} (not yours to change)")
            finally:
                os.close(fd)
                os.close(parent)

    def detail(self, done: str, path: str, verdict: tree.Verdict | None = None) -> None:
        """A line per path, with --verbose (built only then: repair may change 200,000 entries)."""
        if self.verbose:
            what = f": {', '.join(verdict.problems)} -> group {self.label}, mode {verdict.mode:04o}" if verdict else ""
            self.command.emit(escape(f"{done} {path}{what}"))


class Repair(Command):
    """Fix group, group permissions, setgid, sticky bits and default ACLs below every shared dir, under uv's locks"""

    dry_run = cli.Flag("--dry-run", help="say what would change, by dir, and change nothing")
    verbose = cli.Flag("--verbose", help="list every path changed (or that would be)")
    leftovers = cli.Flag(
        "--leftovers",
        help="first remove uv's temporary entries that no running uv holds (a stopped uv's), under uv's locks",
    )
    timeout_text = cli.SwitchAttr(
        "--timeout",
        str,
        default="60",
        argname="SECONDS",
        help="how long to wait for uv's lock on a dir (default 60)",
    )
    all_trees = cli.Flag(
        "--all-trees",
        help="repair every tree of the machine (/etc/uvshare/config.toml and each /etc/uvshare/trees/*.toml), one "
        "after the other; exit 0 when all were repaired, 1 when something was left, 2 when a tree could not be "
        "repaired at all (its config)",
    )
    busy: set[str]  # guard dirs whose lock timed out (set in main)

    def main(self) -> int:
        timeout = parse_timeout(self.timeout_text)
        if not self.all_trees:
            return self.repair_tree(timeout)
        trees = machine_trees()
        statuses = []
        for name, path in trees:
            self.note(f"== {name} ({path})")  # (-q: a problem's line names its dir, and cron mails nothing else)
            with config_named(path):
                try:
                    statuses.append(self.repair_tree(timeout))
                except UvshareError as e:
                    self.say("problem", str(e))
                    statuses.append(e.exit_code)
        left = [name for (name, _), status in zip(trees, statuses) if status]
        if left:
            self.emit(escape(f"{len(left)} of {len(trees)} trees not wholly repaired: {', '.join(left)} (see above)"))
        else:
            self.note(f"all {len(trees)} trees repaired")
        return max(statuses)  # 2 when a tree could not be repaired at all, else 1 when something was left, else 0

    def repair_tree(self, timeout: float) -> int:
        """Repair the tree of the config in effect; the exit status."""
        self.busy = set()
        config, gid = load_group_config()
        refuse_outsider_admin(config, "repair")
        if config.kind == "curated":
            from uvshare.admin import curate

            if os.geteuid() != 0:
                fix = as_root("repair")
                raise UvshareError(f"only root repairs a curated tree (it is the install-user's): '{fix}'")
            unremoved = self.remove_leftovers(config, shared_dirs(config), timeout) if self.leftovers else 0
            return curate.repair(self, config, dry_run=self.dry_run) or (EXIT_PROBLEMS if unremoved else 0)
        dirs = shared_dirs(config)
        label = group_label(config)
        warnings: list[str] = []
        preparer = Preparer(
            gid, config.umask, label, warnings.append, acl=config.acl, take_back=True, dry_run=self.dry_run
        )
        for line in preparer.prepare(dirs):
            self.say("ok", line)
        unremoved = self.remove_leftovers(config, dirs, timeout) if self.leftovers else 0
        policy = tree.Policy(gid, config.acl, prepare.acl_other(config.umask), Guard(gid, label))
        repairer = Repairer(self, policy, label, preparer.changed)
        total = len(preparer.changed)
        incomplete = 0
        left: list[str] = []  # dirs whose uv lock could not be had: not walked at all
        unopened = 0
        for key, path in dirs.items():
            try:
                dir_fd = open_dir(path)
            except FileNotFoundError:
                if not self.dry_run:
                    self.say("problem", f"{key} {path} does not exist")
                continue
            except (OSError, UvshareError) as e:
                self.say("problem", f"{key} {path}: {getattr(e, 'strerror', None) or e}")
                incomplete += 1
                unopened += 1
                continue
            try:  # (a project dir has no uv lock of its own: nothing guards it)
                report = self.repair_dir(
                    repairer, key, dir_fd, path, guard=dirs.get(GUARDED_BY.get(key, "")), timeout=timeout
                )
            except Left as e:
                self.say("problem", f"{key} {path}: left unrepaired: {e}")
                left.append(key)
                continue
            finally:
                os.close(dir_fd)
            total += report.fixed
            incomplete += not report.complete or bool(report.unreadable)
        repairer.finish_links(all_walked=not left and not unopened)
        total += repairer.links_fixed
        self.summary(repairer, warnings=warnings, total=total, dirs=len(dirs), left=left, label=label)
        return EXIT_PROBLEMS if warnings or incomplete or left or unremoved or repairer.walker.too_deep else 0

    def remove_leftovers(self, config: Config, dirs: dict[str, str], timeout: float) -> int:
        """--leftovers: remove what stopped uvs left (see uvshare.admin.leftovers); the dirs where some remain."""
        if self.dry_run:
            self.say("info", "--leftovers: nothing is removed in a dry run")
            return 0
        from uvshare.admin import leftovers

        if os.geteuid() == 0:
            return leftovers.remove_as_install_user(self, config, dirs, timeout)
        version = leftovers.uv_version(config) if "cache-dir" in dirs else None
        return leftovers.remove(self, dirs, timeout, version)

    def summary(
        self, repairer: Repairer, *, warnings: list[str], total: int, dirs: int, left: list[str], label: str
    ) -> None:
        """The end of the report: hard links, what was left alone or unrepaired, and the count."""
        if repairer.links_fixed:
            self.say("ok", f"hard links: {repairer.links_fixed} {repairer.verb()} (every link of each file inside)")
        for line in repairer.links_left[:EXAMPLES]:
            self.say("warning", f"left alone {line}")
        if len(repairer.links_left) > EXAMPLES:
            self.say("warning", f"… and {len(repairer.links_left) - EXAMPLES} more hard-linked files left alone")
        for deep in repairer.walker.too_deep:
            self.say("problem", f"{deep} is nested deeper than {tree.MAX_DEPTH} levels: left unrepaired; inspect it")
        for warning in warnings:
            self.say("problem", warning)
        if self.dry_run:
            self.note(f"dry run: would fix {entries(total)} in {dirs} dirs; nothing changed (group {label})")
        elif left:
            self.note(
                f"repair: fixed {entries(total)} in {dirs - len(left)} of {dirs} dirs (group {label}); left "
                f"{', '.join(left)} unrepaired (see above): run it again when uv's locks are free, or give a longer "
                "--timeout"
            )
        else:
            self.note(f"repair: fixed {entries(total)} in {dirs} dirs (group {label})")

    def repair_dir(
        self, repairer: Repairer, key: str, dir_fd: int, path: str, *, guard: str | None, timeout: float
    ) -> DirReport:
        """Repair one dir while holding the uv lock that guards it, then give it its default ACL if all went well;
        Left when the lock cannot be had (after TIMEOUT seconds; at once for a lock that already made it wait)."""
        lock_fd = None
        if guard is not None and not self.dry_run:
            try:
                guard_fd = open_dir(guard)
            except (OSError, UvshareError) as e:
                raise Left(f"cannot open {guard} to take uv's lock: {getattr(e, 'strerror', None) or e}") from None
            try:
                lock_fd = take_lock(
                    guard_fd,
                    guard,
                    0 if guard in self.busy else timeout,  # waited for once: the dirs it also guards do not wait again
                    shared=GUARDED_BY[key] in SHARED_LOCK,
                    waiting=lambda line: self.say("info", line),
                )
            except LockBusy as e:
                self.busy.add(guard)
                raise Left(e.reason()) from None
            except UvshareError as e:
                raise Left(str(e)) from None
            finally:
                os.close(guard_fd)
        progress = Progress(f"{self.PROGNAME}")
        try:
            report = repairer.repair_tree(dir_fd, key, path, progress)
            progress.done()
            if report.complete:
                report.fixed += self.top_acl(repairer, dir_fd, path)
        finally:
            progress.done()
            if lock_fd is not None:
                os.close(lock_fd)
        self.report(repairer, key, path, report)
        return report

    def top_acl(self, repairer: Repairer, dir_fd: int, path: str) -> int:
        """Give the top dir its default ACL, last: it says everything below is covered (1 if it changed)."""
        policy = repairer.policy
        if not policy.acls:
            return 0
        try:
            if self.dry_run:
                needed = bool(acl.default_problems(acl.read(dir_fd, acl.DEFAULT), policy.gid))
            else:
                needed = share_default_acl(dir_fd, policy.acl_other, policy.gid) is True
        except OSError:
            return 0  # not ours: doctor says so
        if not needed:
            return 0
        repairer.detail(repairer.verb(), f"{path}: no default ACL -> default ACL with group rwx")
        if path in repairer.already:
            return 0
        repairer.already.add(path)
        return 1

    def report(self, repairer: Repairer, key: str, path: str, report: DirReport) -> None:
        """One line per dir, and what was left alone."""
        by_problem: Counter[str] = Counter()
        for problems, n in report.kinds.items():
            for problem in problems:
                by_problem[problem] += n
        kinds = ", ".join(f"{kind}: {n}" for kind, n in by_problem.most_common())
        flight = (
            f"; {report.temporary} of uv's temporary entries ({tree.TEMPORARY_WORDS}) left as they are "
            f"('{as_root(tree.LEFTOVERS_FIX)}' removes a stopped uv's)"
            if report.temporary
            else ""
        )
        if report.fixed:
            what = f" ({kinds})" if kinds else ""
            self.say("ok", f"{key} {path}: {entries(report.seen)}, {report.fixed:,} {repairer.verb()}{what}{flight}")
        elif report.seen:
            self.say("ok", f"{key} {path}: {entries(report.seen)}, all shared right{flight}")
        else:
            self.say("ok", f"{key} {path}: nothing inside yet{flight}")
        if report.left_alone:
            self.say(
                "warning",
                f"{key}: left alone {report.left_alone} entries: {', '.join(report.left_examples)}"
                + (" …" if report.left_alone > EXAMPLES else ""),
            )
        if report.unreadable:
            self.say(
                "problem",
                f"{key}: {report.unreadable} files of venvs are {tree.UNREADABLE}, e.g. "
                f"{', '.join(report.unreadable_examples)}: left as they are ({tree.UNREADABLE_WHY})",
            )
        if report.not_yours:
            self.say("problem", f"{key}: {report.not_yours} entries are not yours to change; run it as root")
