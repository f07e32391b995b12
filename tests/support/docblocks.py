"""The fenced blocks of README.md and docs/**/*.md, with the `<!-- test: … -->` marker on the line before each.

The convention (docs/development.md, *Blocks in the docs*): every fenced block carries a marker saying what the tests
do with it —
    <!-- test: scenario=NAME user=USER status=N expect="TEXT" -->   a shell block run in scenario NAME's sandbox
    <!-- test: file=PATH scenario=NAME -->                           a file the user writes: written to PATH there
    <!-- test: build=NAME -->                                        a Dockerfile, built by tests/test_images.py
    <!-- test: no reason="WHY" -->                                   a block nobody pastes
tests/test_docs.py runs the scenarios and checks the rest; tests/test_images.py builds the Dockerfiles by name.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*test:(?P<body>.*?)-->\s*$")
SHELLS = frozenset({"sh", "bash", "shell"})  # not `console`: its `$ ` prompts are not what runs
KEYS = {"scenario", "user", "status", "expect", "file", "build", "no", "reason"}


class MarkerError(ValueError):
    """A marker that does not say what to do with its block."""


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text (the fence's indent removed) and its marker's keys."""

    path: Path  # relative to the repository
    line: int  # the opening fence's line, counted from 1
    lang: str
    text: str
    marker: dict[str, str] | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def kind(self) -> str:
        """What the tests do with it: "run", "file", "build" or "no" (raises MarkerError for a marker that is wrong)."""
        keys = self.marker
        if keys is None:
            raise MarkerError(f"{self.where}: a ```{self.lang} block without a `<!-- test: … -->` line just before it")
        unknown = set(keys) - KEYS
        if unknown:
            raise MarkerError(f"{self.where}: unknown key(s) {', '.join(sorted(unknown))} in the test marker")
        kinds = [k for k in ("file", "build", "no") if k in keys]
        if len(kinds) > 1:
            raise MarkerError(f"{self.where}: a marker says one of file=, build=, no (this one: {', '.join(kinds)})")
        kind = kinds[0] if kinds else "run"
        if kind == "no":
            if not keys.get("reason", "").strip():
                raise MarkerError(f'{self.where}: `test: no` needs a reason ("no reason=\\"…\\"")')
        elif kind == "build":
            if not keys["build"] or set(keys) != {"build"}:
                raise MarkerError(f"{self.where}: `build=NAME` names the build and says nothing else")
        else:
            if not keys.get("scenario"):
                raise MarkerError(f"{self.where}: a block to {kind} needs scenario=NAME (or `no reason=…`)")
            if kind == "run" and self.lang not in SHELLS:
                raise MarkerError(f"{self.where}: only shell blocks run (```sh); a ```{self.lang} block takes file=")
            if not re.fullmatch(r"-?\d+", keys.get("status", "0")):
                raise MarkerError(f"{self.where}: status= takes a number")
            if kind == "file" and not keys["file"].startswith("/"):
                raise MarkerError(f"{self.where}: file= takes an absolute path")
        return kind

    @property
    def scenario(self) -> str:
        return (self.marker or {}).get("scenario", "")

    @property
    def user(self) -> str:
        return (self.marker or {}).get("user", "root")

    @property
    def status(self) -> int:
        return int((self.marker or {}).get("status", "0"))

    @property
    def expect(self) -> str:
        """Text the block's output must contain ("" for none)."""
        return (self.marker or {}).get("expect", "")


def parse_marker(body: str, where: str) -> dict[str, str]:
    """The keys of a marker's body: `key=value` or `key="a value"`, and the bare word `no`."""
    try:
        words = shlex.split(body)
    except ValueError as e:
        raise MarkerError(f"{where}: the test marker does not parse ({e})") from None
    keys: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq and key != "no":
            raise MarkerError(f"{where}: `{word}` in the test marker is not key=value")
        if key in keys:
            raise MarkerError(f"{where}: {key}= twice in the test marker")
        keys[key] = value
    return keys


def blocks_of(path: Path, root: Path = REPO) -> list[Block]:
    """Every fenced block of the Markdown file PATH, in document order; raises MarkerError for a marker that does not
    parse (a missing marker is the block's own finding: see Block.kind)."""
    lines = path.read_text().splitlines()
    rel = path.relative_to(root)
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.fullmatch(rf" *{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[i]):
            line = lines[i]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            i += 1
        i += 1  # the closing fence (or the end of the file)
        where = f"{rel}:{start + 1}"
        before = MARKER.match(lines[start - 1]) if start > 0 else None
        marker = parse_marker(before["body"], where) if before else None
        lang = opening["info"].strip().split(" ")[0] if opening["info"].strip() else ""
        found.append(Block(rel, start + 1, lang, "".join(f"{b}\n" for b in body), marker))
    return found


def doc_files(root: Path = REPO) -> list[Path]:
    """README.md and every Markdown file below docs/, README first."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def all_blocks(root: Path = REPO) -> list[Block]:
    """Every fenced block of the docs, file by file in doc_files' order."""
    return [block for path in doc_files(root) for block in blocks_of(path, root)]


def dockerfile(name: str, root: Path = REPO) -> str:
    """The text of the docs' Dockerfile marked `build=NAME` (exactly one must be)."""
    found = [b for b in all_blocks(root) if (b.marker or {}).get("build") == name]
    assert len(found) == 1, f"{len(found)} blocks in the docs are marked build={name}: {[b.where for b in found]}"
    return found[0].text


def scenarios(root: Path = REPO) -> dict[tuple[str, str], list[Block]]:
    """The blocks to run or write, grouped by (file, scenario), each group in document order."""
    groups: dict[tuple[str, str], list[Block]] = {}
    for block in all_blocks(root):
        if block.marker is not None and "scenario" in block.marker and block.kind in ("run", "file"):
            groups.setdefault((str(block.path), block.scenario), []).append(block)
    return groups
