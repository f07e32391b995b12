"""What doctor's walk of the shared dirs finds, dir by dir, judged by the rules repair acts on (`tree.judge`).

Per dir:
- the entries not shared right (by what is wrong), and those repair leaves alone (and why);
- uv's temporary entries (in use: not judged);
- what the caller could not look into.

Hard-linked files are decided once every dir was walked, with one `tree.LinkBook` for all of them as repair does: uv
hard-links the cache's files into tool envs, so a file's links often lie in two dirs, one of them the closed cache.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from uvshare.admin import tree
from uvshare.admin.common import entries

EXAMPLES = 3  # paths shown for a count of entries

Finding = tuple[str, str, str]  # status (ok, problem, warning, info), message, fix


@dataclass
class Tally:
    """What the walk of one shared dir found."""

    path: str
    count: int = 0
    wrong: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    left_alone: int = 0
    left_examples: list[str] = field(default_factory=list)  # each with why
    temporary: int = 0
    temporary_examples: list[str] = field(default_factory=list)
    unreadable_files: int = 0  # a venv's files in the project dir that members cannot read (see tree.REPLACED_KEY)
    unreadable_examples: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    too_deep: list[str] = field(default_factory=list)
    unchecked_links: int = 0  # hard-linked files whose other links may lie where the caller cannot look

    def add_wrong(self, path: str | None, problems: tuple[str, ...], entries: int = 1) -> None:
        """Count ENTRIES (links of one file, or one entry) not shared right, for PROBLEMS; PATH an example."""
        self.wrong += entries
        for problem in problems:
            self.kinds[problem] += entries
        if path is not None:
            example(self.examples, path)

    def add_left_alone(self, text: str) -> None:
        """Count an entry repair leaves alone; TEXT: its path and why."""
        self.left_alone += 1
        example(self.left_examples, text)


def example(examples: list[str], text: str) -> None:
    """Keep TEXT among the first few EXAMPLES (memory stays flat however many there are)."""
    if len(examples) < EXAMPLES:
        examples.append(text)


class Survey:
    """Walks the shared dirs one by one (`walk`), then decides the hard-linked files (`settle`)."""

    def __init__(self) -> None:
        self.walker = tree.Walker()  # one for all dirs: a dir configured inside another is walked once
        self.book = tree.LinkBook()
        self.tallies: dict[str, Tally] = {}
        self.complete = True  # every shared dir there is, and everything below them, was looked at
        self.kept_out = False  # some of it is closed to the caller (an outsider): a member or root must check it

    def skipped(self, *, closed: bool = False) -> None:
        """A shared dir that is there but could not be walked (CLOSED: to the caller): a hard link's other links may
        lie there."""
        self.complete = False
        self.kept_out = self.kept_out or closed

    def walk(self, key: str, path: str, fd: int, policy: tree.Policy) -> None:
        """Walk the open shared dir FD (config KEY, at PATH) and judge every entry below it."""
        tally = self.tallies[key] = Tally(path)
        counted, deep, unreadable = self.walker.count, len(self.walker.too_deep), len(self.walker.unreadable)
        for entry in self.walker.walk(fd, path, tree.reachable_by_others(path), key):
            verdict = tree.judge(entry, policy)
            if not verdict.problems and not verdict.in_flight:
                continue  # the common case, first
            if tree.sort_entry(entry, verdict, self.book, key):
                continue
            if verdict.in_flight:
                if tree.is_temporary(entry.name):
                    tally.temporary += 1
                    example(tally.temporary_examples, entry.path)
            elif verdict.unreadable:
                tally.unreadable_files += 1
                example(tally.unreadable_examples, entry.path)
            elif verdict.refuse:
                tally.add_left_alone(f"{entry.path} ({verdict.refuse})")
            elif verdict.problems:
                tally.add_wrong(entry.path, verdict.problems)
        tally.count = self.walker.count - counted
        tally.too_deep = self.walker.too_deep[deep:]
        tally.unreadable = self.walker.unreadable[unreadable:]
        if tally.unreadable:
            self.skipped(closed=True)

    def settle(self) -> None:
        """Decide every hard-linked file that needs a change, as repair will: each of its links counts in its own dir
        when all of them were seen inside; otherwise repair leaves it alone — or, where the caller could not look
        everywhere, a member or root must decide."""
        for _, seen, verdict in self.book.judged():
            first = self.tallies[seen.key]
            if self.book.contained(seen):
                for key, links in seen.where.items():
                    self.tallies[key].add_wrong(seen.path if key == seen.key else None, verdict.problems, links)
            elif self.complete:
                first.add_left_alone(f"{seen.path} ({seen.nlink} hard links, not all inside the shared dirs)")
            else:
                first.unchecked_links += 1

    def findings(self, key: str, fix: str, leftovers_fix: str = tree.LEFTOVERS_FIX) -> list[Finding]:
        """The lines for the shared dir KEY (FIX: the command that repairs what is not shared right; LEFTOVERS_FIX:
        the one that removes a stopped uv's temporary entries)."""
        tally = self.tallies[key]
        path = tally.path
        found: list[Finding] = []
        if tally.wrong:
            what = ", ".join(f"{kind}: {n}" for kind, n in tally.kinds.most_common())
            found.append(
                (
                    "problem",
                    f"{tally.wrong:,} of {entries(tally.count)} below {path} are not shared right ({what}), e.g. "
                    f"{', '.join(tally.examples)}",
                    fix,
                )
            )
        elif tally.count:
            found.append(("ok", f"{entries(tally.count)} below {path}, all shared right", ""))
        else:
            found.append(("ok", f"nothing below {path} yet", ""))
        if tally.unreadable_files:
            found.append(
                (
                    "problem",
                    f"{tally.unreadable_files} files of venvs below {path} are {tree.UNREADABLE}, e.g. "
                    f"{', '.join(tally.unreadable_examples)}: {tree.UNREADABLE_HARM}",
                    tree.UNREADABLE_FIX,
                )
            )
        if tally.left_alone:
            found.append(
                (
                    "warning",
                    f"{tally.left_alone} entries that repair leaves alone: {', '.join(tally.left_examples)}",
                    "inspect them and fix or remove them by hand",
                )
            )
        if tally.temporary:
            found.append(
                (
                    "info",
                    f"{tally.temporary} of uv's temporary entries below {path}, e.g. "
                    f"{', '.join(tally.temporary_examples)}: {tree.TEMPORARY_WORDS}; not judged, and repair leaves "
                    f"them as they are ('{leftovers_fix}' removes a stopped uv's)",
                    "",
                )
            )
        if tally.unreadable:
            found.append(
                (
                    "info",
                    f"{len(tally.unreadable)} dirs below {path} you may not read, e.g. "
                    f"{', '.join(tally.unreadable[:EXAMPLES])}: what is inside was not checked; a member who may "
                    "read them, or root, must check it",
                    "",
                )
            )
        if tally.unchecked_links:
            found.append(
                (
                    "info",
                    f"{tally.unchecked_links} hard-linked files below {path} whose other links may lie where doctor "
                    "could not look: they are decided when it can look everywhere",
                    "",
                )
            )
        found.extend(
            ("problem", f"{deep} is nested deeper than {tree.MAX_DEPTH} levels", f"inspect {path}")
            for deep in tally.too_deep
        )
        return found
