"""Members' own files stay theirs through uv's tool commands: the receipts' install-paths are checked first.

uv's `tools/NAME/uv-receipt.toml` lists the tool's entry points (`install-path = "…"`), and `tool uninstall`,
`tool upgrade` and a `tool install` over an installed tool (`--force`, `--reinstall`, another version) remove each of
them, unchecked. In a shared tree a member can write every receipt: one naming another member's own file would make
that member's ordinary `uv tool uninstall` delete it. So before such a command on the shared tool dir, the receipts of
the tools it acts on are read with a real TOML parser, and every install-path must be an entry of the tool bin dir uv
uses (by its text, and by the identity of its dir); otherwise the command stops, and nothing is deleted.

Imported only for `tool install/uninstall/upgrade` on the shared tool dir. What it cannot close: a member may rewrite
a receipt between this check and uv's own read of it (see docs/trust-model.md).
"""

import errno
import os
import re
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import NoReturn

RECEIPT = "uv-receipt.toml"
MAX_RECEIPT_BYTES = 1 << 20  # uv writes a few hundred bytes; a bigger one is no receipt of uv's
# The options of `tool install/upgrade` whose value is never the tool's own package (a path or URL there is an index,
# a constraints file, an interpreter, another package): skipped when looking for the tool a command acts on.
OTHER_VALUES = frozenset(
    {
        "--with",
        "-w",
        "--with-editable",
        "--with-requirements",
        "--constraints",
        "--constraint",
        "-c",
        "--overrides",
        "--override",
        "--build-constraints",
        "--build-constraint",
        "-b",
        "--index",
        "--default-index",
        "--index-url",
        "-i",
        "--extra-index-url",
        "--find-links",
        "-f",
        "--python",
        "-p",
        "--cache-dir",
        "--directory",
        "--project",
        "--config-file",
    }
)
# A word that starts with a package name (PEP 508) and goes on as a requirement does: `ruff`, `ruff==0.5`,
# `ruff@latest`, `ruff[extra]`, `ruff>=1`, `name @ URL`. Anything else (a path, a URL, an archive) names the tool only
# through its metadata, which uv reads later: every receipt is checked then.
NAME = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:$|[\[=<>!~@ ;])")
ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar.zst", ".tar")


def check_receipts(
    args: "Sequence[str]", env: "Mapping[str, str]", home: "str | None" = None, shared_bin: "str | None" = None
) -> None:
    """Stop (UnsafePath, one line) before `uv tool install/uninstall/upgrade` ARGS when a receipt of a tool it acts
    on, in the tool dir of ENV (uv's environment; HOME: the one uv will run with, when not ENV's), names anything
    but an entry of uv's tool bin dir or of the shared one (SHARED_BIN, the config's), or cannot be read as uv
    writes it."""
    from uvshare.runas import normal_name, tool_names

    tool_dir = env.get("UV_TOOL_DIR", "")
    if not tool_dir.startswith("/"):
        return
    named = acted_on(args)
    # uv finds a named tool's dir by its normalised name, and every tool's (`--all`) by listing the dir: as it is
    names = tool_names(tool_dir) if named is None else {normal_name(n) for n in named} - {""}
    bin_dir = tool_bin_dir(env, home)
    shared = normal(shared_bin) if shared_bin else None
    for name in sorted(names):
        check_one(tool_dir, name, bin_dir, shared)


def acted_on(args: "Sequence[str]") -> "set[str] | None":
    """The tools a `tool install/uninstall/upgrade` ARGS may act on (every word that could name one: a name that is
    an option's value costs one failed open), or None for all of them (`--all`, or a package given by a path or URL,
    whose name only its metadata says)."""
    # from the first action word after the first `tool`: at or before the command's own (a global option's value
    # may be one of these words too), so that no word of the command's is missed
    tool = args.index("tool") if "tool" in args else 0
    start = next((i for i in range(tool, len(args)) if args[i] in ("install", "uninstall", "upgrade")), tool) + 1
    names: set[str] = set()
    after = ""
    for word in args[start:]:
        if word == "--all":
            return None
        if word.startswith("-"):
            after, equals, arg = word.partition("=")
            if not (equals and after.startswith("--")):
                continue  # a flag, or an option whose value is the next word
        else:
            arg = word
        match, before = NAME.match(arg), arg.split("@")[0].strip().lower()  # (`name @ URL`: the name is given)
        if match and "/" not in before and not before.endswith(ARCHIVES):
            names.add(match.group(1))
        elif after not in OTHER_VALUES:
            return None
        after = ""
    return names


def tool_bin_dir(env: "Mapping[str, str]", home: "str | None") -> str:
    """The dir uv puts a tool's entry points in, by uv's own order (uv-dirs' user_executable_directory):
    UV_TOOL_BIN_DIR, XDG_BIN_HOME, XDG_DATA_HOME/../bin, HOME/.local/bin — from ENV, or with HOME and none of
    the XDG dirs when uv will run as another account (the install-user: see runas.become)."""
    if env.get("UV_TOOL_BIN_DIR"):
        return normal(env["UV_TOOL_BIN_DIR"])
    if home is None:
        if env.get("XDG_BIN_HOME", "").startswith("/"):
            return normal(env["XDG_BIN_HOME"])
        if env.get("XDG_DATA_HOME", "").startswith("/"):
            return normal(os.path.join(env["XDG_DATA_HOME"], "..", "bin"))
        home = env.get("HOME") or os.path.expanduser("~")
    return normal(os.path.join(home, ".local", "bin"))


def normal(path: str) -> str:
    """PATH absolute, without `.`, `..` (as text), `//` or a trailing `/`."""
    return "/" + "/".join(p for p in os.path.abspath(path).split("/") if p)


def check_one(tool_dir: str, name: str, bin_dir: str, shared: "str | None") -> None:
    """Stop unless every install-path in the receipt of tool NAME (if it has one) is an entry of BIN_DIR or SHARED —
    and, in a bin dir that is not the shared one (the caller's own), one uv made for this tool or none at all."""
    receipt = os.path.join(tool_dir, name, RECEIPT)
    data = read_receipt(tool_dir, name, receipt)
    if data is None:
        return  # no such tool, or no receipt: uv removes the tool's env and no entry point
    dirs = {d: dir_identity(d) for d in (bin_dir, shared) if d}
    for path in install_paths(data, receipt, name, tool_dir):
        where = next((d for d, ident in dirs.items() if in_bin_dir(path, d, ident)), None)
        if where is None:
            refuse(
                receipt,
                name,
                tool_dir,
                f"names '{path}' as an entry point, which is not an entry of the tool bin dir {bin_dir}, the only "
                "place uv puts one",
            )
        if where != shared and not made_for(path, os.path.join(tool_dir, name)):
            refuse(
                receipt,
                name,
                tool_dir,
                f"names '{path}' as an entry point, in {where}, a bin dir of one user's own, and it is not the link "
                f"uv makes there (to the tool's env, {os.path.join(tool_dir, name)})",
            )


def dir_identity(path: str) -> "tuple[int, int] | None":
    """The identity of the dir PATH, or None when it does not exist (nothing in it to delete, so nothing may be
    named there either)."""
    try:
        return identity(os.stat(path))
    except OSError:
        return None


def made_for(path: str, env_dir: str) -> bool:
    """Whether the entry PATH is missing, or a symlink into the tool env ENV_DIR, as uv makes it (an entry of a
    user's own bin dir that is anything else is that user's own, whatever a receipt says)."""
    try:
        target = os.readlink(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # not a symlink (EINVAL), or not reachable: not uv's link
    target = normal(os.path.join(os.path.dirname(path), target))
    return any(target.startswith(top + "/") for top in (normal(env_dir), os.path.realpath(env_dir)))


def read_receipt(tool_dir: str, name: str, receipt: str) -> "bytes | None":
    """The bytes of tool NAME's receipt (path RECEIPT), read without following a link (none is uv's) and without
    blocking, or None when there is none."""
    try:
        top = os.open(tool_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None  # no tool dir yet: no receipt
    try:
        here = open_entry(name, top, os.O_DIRECTORY)
    finally:
        os.close(top)
    if isinstance(here, str):
        refuse(receipt, name, tool_dir, f"cannot be read: {os.path.join(tool_dir, name)} {here}")
    if here is None:
        return None  # no such tool (or a file named like one): uv finds no receipt there either
    try:
        fd = open_entry(RECEIPT, here, 0)
    finally:
        os.close(here)
    if isinstance(fd, str):
        refuse(receipt, name, tool_dir, fd)
    if fd is None:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            refuse(receipt, name, tool_dir, "is not a regular file")
        data = os.read(fd, MAX_RECEIPT_BYTES + 1)
    except OSError as e:
        refuse(receipt, name, tool_dir, f"cannot be read: {e.strerror}")
    finally:
        os.close(fd)
    if len(data) > MAX_RECEIPT_BYTES:
        refuse(receipt, name, tool_dir, f"is bigger than {MAX_RECEIPT_BYTES} bytes, which no receipt of uv's is")
    return data


def open_entry(entry: str, dir_fd: int, flags: int) -> "int | str | None":
    """ENTRY of DIR_FD opened read-only (with FLAGS), never through a link and never blocking: its fd, None when it
    is not there (or, for a dir, is no dir), or why it cannot be opened."""
    try:
        return os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        try:
            link = stat.S_ISLNK(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            link = False
        if link:
            return "is a symlink, which uv never makes there"
        if e.errno == errno.ENOTDIR and flags & os.O_DIRECTORY:
            return None
        return f"cannot be opened: {e.strerror}"


def install_paths(data: bytes, receipt: str, name: str, tool_dir: str) -> "Iterator[str]":
    """Every install-path of the receipt DATA (read with a real TOML parser); stop when it is not TOML, or not shaped
    as uv writes it."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]  # (a dependency before 3.11 only)
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        refuse(receipt, name, tool_dir, "is not UTF-8, so it is no TOML uv wrote")
    except tomllib.TOMLDecodeError as e:
        refuse(receipt, name, tool_dir, f"is not valid TOML ({e})")
    tool = table.get("tool")
    entries = tool.get("entrypoints", []) if isinstance(tool, dict) else None
    if not isinstance(entries, list):
        refuse(receipt, name, tool_dir, "has no [tool] table with a list of entrypoints, as uv writes it")
    for entry in entries:
        path = entry.get("install-path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            refuse(receipt, name, tool_dir, "has an entry point without an install-path string, as uv writes it")
        yield path


def in_bin_dir(path: str, bin_dir: str, bin_id: "tuple[int, int] | None") -> bool:
    """Whether PATH names an entry of BIN_DIR (BIN_ID: its identity, None when it does not exist): absolute, one
    component below it, no `.` or `..` (compared as text, `//` aside, with BIN_DIR as given or resolved), and its
    dir, as the kernel resolves the text uv will use, is that dir."""
    if not path.startswith("/") or "\0" in path:
        return False
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return False
    if "/" + "/".join(parts[:-1]) not in (bin_dir, os.path.realpath(bin_dir)):  # (as configured, or resolved)
        return False
    try:
        return identity(os.stat(os.path.dirname(path))) == bin_id
    except OSError:
        return bin_id is None


def identity(st: os.stat_result) -> "tuple[int, int]":
    """A dir's identity: its device and inode."""
    return st.st_dev, st.st_ino


def refuse(receipt: str, name: str, tool_dir: str, what: str) -> "NoReturn":
    """Stop the command: the receipt RECEIPT of tool NAME WHAT, and what to do about it."""
    from uvshare.errors import UnsafePath, invoked_as

    raise UnsafePath(
        f"{receipt} {what}; uv deletes what a tool's receipt names, so nothing was run. Members can write this "
        "receipt: if nobody meant this, have a member (not root) remove the tool's dir "
        f"('rm -r -- {os.path.join(tool_dir, name)}': nothing outside it is touched) and install the tool again "
        f"('{invoked_as()} tool install --force {name}')"
    )
