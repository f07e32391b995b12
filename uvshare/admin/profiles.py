"""The login profiles `share setup --profile` writes, and the same environment for images and JupyterHub.

Members' login shells get the shared bin dirs appended to PATH (once, however often a profile is read) and, when
the config is not at a place uvshare reads by default, UVSHARE_CONFIG naming it. Root gets none of it: members can
write those dirs, and root must not run what they put there. Each shell reads its own files:

- bash and sh login shells source /etc/profile, which sources /etc/profile.d/*.sh: a file of our own there;
- Debian's zsh reads neither /etc/profile nor a drop-in dir, only /etc/zsh/zshenv (every zsh, scripts included),
  /etc/zsh/zprofile and /etc/zsh/zlogin (login shells) and /etc/zsh/zshrc: a marked block in zprofile, the one
  file for login shells alone;
- fish sources every /etc/fish/conf.d/*.fish in every fish: a file of our own there, acting in login shells only.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from uvshare.admin.files import read_regular, remove_own_file, write_atomically
from uvshare.config import Config, default_config_paths, resolved
from uvshare.errors import UvshareError

SH_FILE = "/etc/profile.d/uvshare.sh"
ZSH_FILE = "/etc/zsh/zprofile"
FISH_FILE = "/etc/fish/conf.d/uvshare.fish"
# Where each shell keeps its system-wide files: no zsh or fish profile is written by default where it is missing.
SHELL_DIRS = {"zsh": "/etc/zsh", "fish": "/etc/fish"}
BIN_KEYS = ("python-bin-dir", "tool-bin-dir")

MARK = "# Written by `uvshare share setup --profile`"  # a file of ours starts with it; removal checks it
BEGIN = "# >>> uvshare:"  # the first line of our block in a file that is not ours
END = "# <<< uvshare <<<"
NOT_ROOT = "# Not for root: members can write these dirs, and root must not run what they put there."


@dataclass(frozen=True)
class LoginEnv:
    """What members' sessions get: the bin dirs to append to PATH, and UVSHARE_CONFIG (None: not needed) — or, on a
    machine of several trees (TREES: each tree's gid and bin dirs), each tree's bin dirs for the members of its group
    alone, and only for a member of one tree (a member of several picks one with its module; uvshare itself picks a
    member's only tree without UVSHARE_CONFIG: see uvshare.trees)."""

    bin_dirs: tuple[str, ...]
    config: str | None
    trees: tuple[tuple[int, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Target:
    """One profile: which shells read it, its path, and whether it holds our block in a file of others (zsh's)."""

    shells: str
    path: str
    block: bool = False


def tree_bins(config: Config) -> tuple[str, ...]:
    """The bin dirs of CONFIG's tree."""
    return tuple(config.dirs[k] for k in BIN_KEYS if k in config.dirs)


def login_env(config: Config) -> tuple[LoginEnv, str | None]:
    """The environment members need for CONFIG, and a warning when no single file can carry its location. A config
    of the trees dir is one tree of several: the profile then serves every tree of that dir (see LoginEnv)."""
    bins = tree_bins(config)
    read = [os.path.abspath(f) for f in config.files]
    from uvshare.trees import load_trees, trees_dir

    where = trees_dir(os.environ)
    if len(read) == 1 and os.path.dirname(resolved(read[0])) in (where, resolved(where)):
        trees = tuple((c.gid, tree_bins(c)) for _, c in load_trees(os.environ) if c.gid is not None and tree_bins(c))
        return LoginEnv(bins, read[0], trees), None
    by_default = [p for p in default_config_paths() if os.path.isfile(p)]
    if set(read) == set(by_default):
        return LoginEnv(bins, None), None
    if len(read) == 1:
        return LoginEnv(bins, read[0]), None
    theirs = " and ".join(by_default) or "no config file"
    return LoginEnv(bins, None), (
        f"this config comes from {', '.join(read)}, but members' logins read {theirs} (and their own): the profile "
        f"can name only one file; put everything in one and run this again with UVSHARE_CONFIG naming it"
    )


def targets(sh: str | None, zsh: str | None, fish: str | None) -> tuple[list[Target], list[str]]:
    """The profiles to write or remove — the files named, or with none named the default ones (zsh's and fish's
    only where that shell keeps its files) — and a note for each default left out."""
    if sh or zsh or fish:
        chosen = [Target("bash and sh", sh)] if sh else []
        chosen += [Target("zsh", zsh, block=True)] if zsh else []
        return chosen + ([Target("fish", fish)] if fish else []), []
    chosen, notes = [Target("bash and sh", SH_FILE)], []
    for shell, path, block in (("zsh", ZSH_FILE, True), ("fish", FISH_FILE, False)):
        if os.path.isdir(SHELL_DIRS[shell]):
            chosen.append(Target(shell, path, block))
        else:
            notes.append(
                f"no {shell} profile: {SHELL_DIRS[shell]} does not exist ({shell} is not installed); run this again "
                f"once it is, or name the file with --{shell}-profile-file"
            )
    return chosen, notes


def sh_append(path: str, indent: str) -> str:
    """The sh line that appends PATH to $PATH unless it is there."""
    quoted = shlex.quote(path)
    return f'{indent}case ":$PATH:" in *:{quoted}:*) ;; *) PATH="${{PATH:+$PATH:}}"{quoted} ;; esac'


def sh_lines(env: LoginEnv, is_not_root: str) -> list[str]:
    """The POSIX sh (and zsh) code: append each bin dir to PATH unless there, set UVSHARE_CONFIG unless set."""
    if env.trees:
        return sh_tree_lines(env, is_not_root)
    lines = [f"if {is_not_root}; then"]
    lines += [sh_append(path, "    ") for path in env.bin_dirs]
    lines.append("    export PATH")
    if env.config is not None:
        quoted = shlex.quote(env.config)
        lines.append(f'    if [ -z "${{UVSHARE_CONFIG-}}" ]; then UVSHARE_CONFIG={quoted}; export UVSHARE_CONFIG; fi')
    return [*lines, "fi"]


TREES_NOTE = (
    "# Each tree's bin dirs for the members of its group, and only for a member of one tree (a member of several\n"
    "# picks one with its module)."
)


def sh_tree_lines(env: LoginEnv, is_not_root: str) -> list[str]:
    """(Several trees) The sh code that numbers the trees whose group the session has, and appends the bin dirs of
    the one tree when there is exactly one."""
    lines = [f"if {is_not_root}; then", "    uvshare_trees=", "    for uvshare_gid in $(id -G); do"]
    lines.append("        case $uvshare_gid in")
    lines += [f'            {gid}) uvshare_trees="$uvshare_trees {n}" ;;' for n, (gid, _) in enumerate(env.trees, 1)]
    lines += ["        esac", "    done", "    case $uvshare_trees in"]
    for n, (_, bins) in enumerate(env.trees, 1):
        lines += [f'        " {n}")', *(sh_append(path, "            ") for path in bins), "            ;;"]
    return [*lines, "    esac", "    unset uvshare_gid uvshare_trees", "    export PATH", "fi"]


def sh_text(env: LoginEnv) -> str:
    """The file for /etc/profile.d (bash and sh login shells)."""
    head = [f"{MARK}: the shared Python and tool bin dirs on login shells' PATH.", NOT_ROOT]
    head += [TREES_NOTE] if env.trees else []
    return "\n".join([*head, *sh_lines(env, '[ "$(id -u)" -ne 0 ]'), ""])


def zsh_block(env: LoginEnv) -> str:
    """Our block for zsh's zprofile, between its marker lines."""
    begin = f"{BEGIN} the shared bin dirs on PATH, from `uvshare share setup --profile`; --no-profile removes it >>>"
    note = [TREES_NOTE] if env.trees else []
    return "\n".join([begin, NOT_ROOT, *note, *sh_lines(env, "(( EUID != 0 ))"), END, ""])


def fish_quote(text: str) -> str:
    """TEXT as one fish word: in single quotes, where only \\ and ' are special."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_text(env: LoginEnv) -> str:
    """The file for fish's conf.d: fish reads it in every shell, so it acts in login shells only."""
    lines = [
        f"{MARK}: the shared Python and tool bin dirs on login shells' PATH.",
        NOT_ROOT,
        "if status is-login; and test (id -u) -ne 0",
    ]
    if env.trees:
        lines.insert(2, TREES_NOTE)
        lines += [
            "    set -l uvshare_trees",
            "    for uvshare_gid in (id -G | string split ' ')",
            "        switch $uvshare_gid",
        ]
        for n, (gid, _) in enumerate(env.trees, 1):
            lines += [f"            case {gid}", f"                set -a uvshare_trees {n}"]
        lines += [
            "        end",
            "    end",
            "    if test (count $uvshare_trees) -eq 1",
            "        switch $uvshare_trees[1]",
        ]
        for n, (_, bins) in enumerate(env.trees, 1):
            lines += [
                f"            case {n}",
                f"                for dir in {' '.join(fish_quote(p) for p in bins)}",
                "                    contains -- $dir $PATH; or set -gx PATH $PATH $dir",
                "                end",
            ]
        return "\n".join([*lines, "        end", "    end", "end", ""])
    if env.bin_dirs:
        lines += [
            f"    for dir in {' '.join(fish_quote(p) for p in env.bin_dirs)}",
            "        contains -- $dir $PATH; or set -gx PATH $PATH $dir",
            "    end",
        ]
    if env.config is not None:
        lines.append(f'    test -n "$UVSHARE_CONFIG"; or set -gx UVSHARE_CONFIG {fish_quote(env.config)}')
    return "\n".join([*lines, "end", ""])


def block_span(lines: list[str], path: str) -> tuple[int, int] | None:
    """Where our block is in LINES (first and last line), None when it is not there."""
    begin = next((i for i, line in enumerate(lines) if line.startswith(BEGIN)), None)
    if begin is None:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].rstrip("\n") == END), None)
    if end is None:
        raise UvshareError(f"{path} has uvshare's first line ({BEGIN} …) but not its last ({END}); mend it by hand")
    return begin, end


def render(target: Target, env: LoginEnv) -> tuple[str, int]:
    """TARGET's whole new text for ENV, and its mode: for a block, the file as it is with our block put in (where it
    was, else at the end)."""
    if not target.block:
        return (fish_text(env) if target.shells == "fish" else sh_text(env)), 0o644
    current = read_regular(target.path)
    text, mode = current if current is not None else ("", 0o644)
    lines = text.splitlines(keepends=True)
    span = block_span(lines, target.path)
    block = zsh_block(env)
    if span is not None:
        return "".join([*lines[: span[0]], block, *lines[span[1] + 1 :]]), mode
    return text + ("\n" if text and not text.endswith("\n") else "") + block, mode


def write(target: Target, text: str, mode: int) -> bool:
    """Write TARGET's TEXT; whether anything changed."""
    return write_atomically(target.path, text, mode)


def remove(target: Target) -> bool | None:
    """Remove what `write` put at TARGET: True when removed, False when there was none, None when the file there is
    not ours (left alone)."""
    if not target.block:
        return remove_own_file(target.path, MARK)
    current = read_regular(target.path)
    if current is None:
        return False
    text, mode = current
    lines = text.splitlines(keepends=True)
    span = block_span(lines, target.path)
    if span is None:
        return False
    return write_atomically(target.path, "".join([*lines[: span[0]], *lines[span[1] + 1 :]]), mode)


DOCKER_SPECIAL = frozenset('\\"$')  # what a Dockerfile's double quotes do not take as it is


def docker_value(expanded: str, literal: str) -> str:
    """A Dockerfile ENV value: EXPANDED (`$PATH:`) as Docker expands it, then LITERAL as it is — in double quotes
    where that is enough, else in sh-style single quotes (the Dockerfile's words are quoted as sh's are), so that the
    line needs no backslash."""
    if not DOCKER_SPECIAL & set(literal):
        return f'"{expanded}{literal}"'
    return (f'"{expanded}"' if expanded else "") + shlex.quote(literal)


def dockerfile_line(env: LoginEnv) -> str:
    """The Dockerfile line that does what the profile does (images run no profile)."""
    pairs = [f"PATH={docker_value('$PATH:', ':'.join(env.bin_dirs))}"] if env.bin_dirs else []
    if env.config is not None:
        pairs.append(f"UVSHARE_CONFIG={docker_value('', env.config)}")
    return "ENV " + " ".join(pairs)


def python_str(text: str) -> str:
    """TEXT as a Python string literal: in double quotes where that is enough."""
    return f'"{text}"' if '"' not in text and "\\" not in text and text.isprintable() else repr(text)


def jupyterhub_line(env: LoginEnv) -> str:
    """The jupyterhub_config.py line that gives single-user servers the same (spawners run no login profile): the
    hub's own PATH (where it finds jupyterhub-singleuser), then the bin dirs."""
    items = []
    if env.bin_dirs:
        items.append(f'"PATH": os.environ["PATH"] + {python_str(":" + ":".join(env.bin_dirs))}')
    if env.config is not None:
        items.append(f'"UVSHARE_CONFIG": {python_str(env.config)}')
    prefix = "import os; " if env.bin_dirs else ""
    return f"{prefix}c.Spawner.environment.update({{{', '.join(items)}}})"
