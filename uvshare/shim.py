"""The every-call path: read the config, prepare the shared dirs, skip installed Pythons, exec the real uv (or uvx).

It imports only `os` and `sys` (plus uvshare's own small modules); uvshare's admin commands, and plumbum with them,
are imported only for `uvshare share …`, decided before anything else is loaded.
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import NoReturn

    from uvshare.config import Config

ADMIN_WORD = "share"  # a word uv does not use; `uvshare share …` (or `uv share …`) are uvshare's own commands
# uv's global options that take a value, so that the command words after them can be found.
VALUE_OPTIONS = frozenset(
    {
        "--cache-dir",
        "--color",
        "--preview-features",
        "--config-file",
        "--directory",
        "--project",
        "--python-preference",
        "--allow-insecure-host",
        "--trusted-host",
    }
)
# Commands that change a shared dir (command words -> config key), refused early for users outside the group.
CHANGES: dict[tuple[str, ...], str] = {
    ("python", "install"): "python-install-dir",
    ("python", "uninstall"): "python-install-dir",
    ("python", "upgrade"): "python-install-dir",
    ("tool", "install"): "tool-dir",
    ("tool", "uninstall"): "tool-dir",
    ("tool", "upgrade"): "tool-dir",
}
OWN_DIR_OPTIONS = frozenset({"-i", "--install-dir"})  # the caller names a dir of their own: nothing shared changes
# A dir that goes with another: a caller who sets UV_TOOL_DIR to a dir of their own gets uv's own tool bin dir too,
# not the shared one (their tools' links would land among everybody's, or fail there).
FOLLOWS = {"python-bin-dir": "python-install-dir", "python-cache-dir": "python-install-dir", "tool-bin-dir": "tool-dir"}
# What each kind of caller is given. Outsiders get the shared Pythons to use read-only; uv keeps their cache and tools
# in their home (uv's tool commands need to write the tool dir, even to list it).
CACHES = frozenset({"cache-dir", "python-cache-dir"})
OUTSIDER_GETS = frozenset({"python-install-dir", "python-bin-dir"})  # the bin dir: for the skip's link check
# A venv of root's shares no inode with anything a member can write: a copy. (Not `clone`: where the filesystem has no
# reflinks, newer uv (astral-sh/uv#18104) falls back to hard links, silently.)
SAFE_LINK_MODES = frozenset({"copy"})
# Root never gives uv a tree members can write, where member content could steer it (a receipt's install-path makes
# uv delete; a renamed dir makes it link elsewhere; a sitecustomize.py in a shared Python runs as whoever runs it).
# Root's commands ON the shared tree run uv as the config's install-user, a member account: whatever a member planted
# can then do no more than a member could. Root's other commands get none of the shared dirs (and no shared bin dir
# on PATH) — except during an image build, which says so with UVSHARE_BUILD=1 (a Dockerfile ARG: never in the image).
TREE_COMMANDS = frozenset(
    {
        ("python", "install"),
        ("python", "uninstall"),
        ("python", "upgrade"),
        ("python", "list"),
        ("python", "find"),
        ("python", "dir"),
        ("tool", "install"),
        ("tool", "uninstall"),
        ("tool", "upgrade"),
        ("tool", "list"),
        ("tool", "dir"),
        ("cache", "clean"),
        ("cache", "prune"),
        ("cache", "dir"),
    }
)
ENV_BUILD = "UVSHARE_BUILD"
# uv commands that touch no tree, project or cache: they need no tree, and root may run them anywhere.
INFORMATIONAL = frozenset({"help", "self", "generate-shell-completion"})
# uv's global flags that take no value and change nothing of what a command reads (see informational)
QUIET_FLAGS = frozenset(
    {"--quiet", "--verbose", "--no-progress", "--offline", "--no-cache", "--native-tls", "--no-config", "--preview"}
)
# Installs into the shared tree, which uvshare has uv compile to bytecode (`python install` compiles the stdlib from
# uv 0.9.25 on; older uv ignores the variable there).
COMPILES = frozenset({("python", "install"), ("python", "upgrade"), ("tool", "install"), ("tool", "upgrade")})
PRIVATE_FROM_GROUP = 0o030  # umask bits: no group write, no group search (see prepare)


def warn(text: str) -> None:
    """One warning line on stderr."""
    from uvshare.errors import say  # uvshare.errors loads only when there is something to say

    say("warning", text)


def command_words(args: "Sequence[str]") -> tuple[str, ...]:
    """The first two words of a uv command line, skipping global options (and their values)."""
    words: list[str] = []
    i = 0
    while i < len(args) and len(words) < 2:
        arg = args[i]
        i += 1
        if arg.startswith("-"):
            if arg in VALUE_OPTIONS:
                i += 1
            continue
        words.append(arg)
    return tuple(words)


def shared_dirs(
    config: "Config", environ: "Mapping[str, str]", ignored: "frozenset[str]" = frozenset()
) -> dict[str, str]:
    """The configured dirs uvshare looks after for this caller: uv's rule, a UV_* variable already set wins (and
    then uvshare leaves that dir alone, and the dirs that go with it) — but for the IGNORED ones (see Call), and for
    one that names the configured dir itself (an image's `ENV UV_TOOL_DIR=/opt/uv/tools`, the old workaround): that
    is the shared dir, looked after (and its receipts checked) as configured."""
    from uvshare.config import DIR_KEYS, normal_path, resolved

    own = set()
    for key, var in DIR_KEYS.items():
        value = environ.get(var)
        if not value or var in ignored:
            continue
        mine = config.dirs.get(key)
        if mine is None or (normal_path(value) != mine and resolved(value) != resolved(mine)):
            own.add(key)
    return {k: p for k, p in config.dirs.items() if k not in own and FOLLOWS.get(k) not in own}


def caller_name() -> str:
    """The caller's user name (their uid, when the user database has none)."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def refuse_outsider(args: "Sequence[str]", config: "Config", dirs: "Mapping[str, str]") -> None:
    """Stop a user outside the group from a command that would change a shared dir, saying how to join."""
    from uvshare.config import DIR_KEYS

    key = CHANGES.get(command_words(args))
    if key is None or key not in dirs or any(a.split("=")[0] in OWN_DIR_OPTIONS for a in args):
        return
    import grp

    user = caller_name()
    group = config.group
    try:
        listed = user in grp.getgrgid(config.gid).gr_mem if config.gid is not None else False
    except KeyError:
        listed = False
    join = (
        f"you are listed in it but this login session started before that; log in again (or run 'newgrp {group}')"
        if listed
        else f"ask an administrator to run 'usermod -aG {group} {user}', then log in again"
    )
    from uvshare.errors import NotAMember, invoked_as

    raise NotAMember(
        f"'{invoked_as()} {' '.join(args)}' would change the shared dir {dirs[key]}, which only members of group "
        f"'{group}' may change, and {user} is not a member; {join}; or set {DIR_KEYS[key]} to a dir of your own"
    )


def refuse_in_project(args: "Sequence[str]", config: "Config") -> None:
    """Stop a user outside the group from working in the team project dir (it is closed to them: uv would fail in
    its own words, or hold a member's venv lock), saying how to join."""
    if not config.project_dir:
        return
    from uvshare.places import cwd_in

    if cwd_in([config.project_dir]) is None:
        return
    user = caller_name()
    from uvshare.errors import NotAMember, invoked_as

    raise NotAMember(
        f"'{invoked_as()} {' '.join(args)}' would work in the team project dir {config.project_dir}, which only "
        f"members of group '{config.group}' may use, and {user} is not a member; ask an administrator to run "
        f"'usermod -aG {config.group} {user}', then log in again"
    )


def outsider_notes(
    args: "Sequence[str]", config: "Config", dirs: "Mapping[str, str]", env: "Mapping[str, str]", program: str
) -> None:
    """What an outsider is about to meet in uv's own words, said plainly first: a `--python X` that is not in the
    shared install dir (uv would download it there, which they cannot write), and a `tool list` that will not show
    the shared tools (uv keeps their tools in their home)."""
    words = command_words(args)
    if words == ("tool", "list") and program == "uv" and "tool-dir" in dirs:
        from uvshare.runas import tool_names

        tools = sorted(tool_names(dirs["tool-dir"]))
        if tools:
            where = f", run from {dirs['tool-bin-dir']}" if "tool-bin-dir" in dirs else ""
            warn(
                f"the shared tools ({', '.join(tools)}{where}) are not listed below: you are not a member of group "
                f"'{config.group}', so uv lists your own"
            )
        return
    request = python_request(args, program)
    if request is None or "python-install-dir" not in dirs:
        return
    from uvshare.skip import MISSING, answer_from_names

    if answer_from_names([request], env)[0] == MISSING:
        warn(
            f"Python {request} is not installed in the shared dir {dirs['python-install-dir']}; if uv finds none "
            f"elsewhere it will try to download it there, which only members of group '{config.group}' may: ask "
            f"one to run 'uv python install {request}', or set UV_PYTHON_INSTALL_DIR to a dir of your own"
        )


def python_request(args: "Sequence[str]", program: str) -> "str | None":
    """The value of uv's own `--python`/`-p` in ARGS, if any: not past a `--`, nor past the program that `uvx TOOL`
    or `uv run CMD` starts (what follows is that program's)."""
    running = program == "uvx"  # the next positional is the program started
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--":
            return None
        if arg in ("--python", "-p"):
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith("--python="):
            return arg.partition("=")[2]
        if arg in VALUE_OPTIONS or arg in ("--from", "--with"):
            skip = True
        elif not arg.startswith("-"):
            if running:
                return None
            running = arg == "run"
    return None


def on_tree(args: "Sequence[str]", dirs: "Mapping[str, str]") -> bool:
    """Whether ARGS is a command on the shared tree (see TREE_COMMANDS) that this config shares dirs for."""
    words = command_words(args)
    if words not in TREE_COMMANDS or any(a.split("=")[0] in OWN_DIR_OPTIONS for a in args):
        return False
    key = {"python": "python-install-dir", "tool": "tool-dir", "cache": "cache-dir"}[words[0]]
    return key in dirs


def without_shared(path: str, tops: "frozenset[str]") -> str:
    """PATH without the shared dirs (TOPS, see tree_tops) and anything below them: root's uv must not find a
    member's `python3.12` or tool there (uv runs candidate interpreters to query them)."""
    from uvshare.config import in_tree

    return os.pathsep.join(entry for entry in path.split(os.pathsep) if not in_tree(entry, tops))


def informational(args: "Sequence[str]", program: str = "uv") -> bool:
    """Whether ARGS asks uv (or uvx) only for help or its version, reading nothing (but `help` runs a pager found
    on PATH, on a terminal): `help …`, `self …`, completion, `--version`, `--help`, nothing at all — after none but
    options uvshare knows (and their values), so that no option it does not know can hide a command word."""
    i = 0
    while i < len(args):
        arg = args[i]
        if quiet_flag(arg):
            i += 1
        elif arg.split("=", 1)[0] in VALUE_OPTIONS:
            i += 1 if "=" in arg else 2
        else:
            break
    rest = args[i:]
    if not rest or rest[0] in ("--version", "-V", "--help", "-h"):
        return True
    return program == "uv" and rest[0] in INFORMATIONAL


def quiet_flag(arg: str) -> bool:
    """Whether ARG is one of uv's global flags that take no value and change nothing of what a command reads."""
    return arg in QUIET_FLAGS or (arg[:1] == "-" and arg[1:2] != "-" and len(arg) > 1 and set(arg[1:]) <= set("qvn"))


def exec_program(path: str, args: "Sequence[str]", env: dict[str, str], depth: int) -> "NoReturn":
    """Replace this process with the real uv (or uvx): its exit status, signals and terminal are its own."""
    from uvshare.finduv import mark_exec

    mark_exec(path, env, depth)
    try:
        os.execve(path, [path, *args], env)
    except OSError as e:
        from uvshare.errors import UvshareError

        raise UvshareError(f"cannot run {path}: {e.strerror}; check the 'uv' setting or UVSHARE_UV") from None


def say_installed(names: "Sequence[str]", env: "Mapping[str, str]") -> None:
    """`uvshare: Python 3.11.7 is already installed at …; nothing to do`, one line per install."""
    from uvshare.skip import install_dir

    where = install_dir(env)
    for name in names:
        path = os.path.join(where, name)
        if not path.isprintable():
            from uvshare.errors import escape

            path = escape(path)
        sys.stderr.write(f"uvshare: Python {name.split('-')[1]} is already installed at {path}; nothing to do\n")


class Call:
    """One call of uvshare: the config, who the caller is, what they are given, and the real uv (found once)."""

    def __init__(self, args: "Sequence[str]", program: str) -> None:
        from uvshare.config import ENV_TREES, TREES_DIR, load
        from uvshare.finduv import check_loop

        self.args = args
        self.program = program
        self.environ = environ = os.environ
        self.depth = check_loop(environ)  # (uvshare.finduv: nearly every call needs it to find uv anyway)
        self.config = config = load(environ)  # (None: no config file at all, UVSHARE_CONFIG unset)
        self.env = environ.copy()
        self.role = "none"
        self.dirs: dict[str, str] = {}
        self.given: dict[str, str] = {}
        self.quiet = False  # `-q` on a `python install` that uvshare answers itself
        self._uv = ""
        self.treeless = False  # no tree for this call, of a machine with several (see program_from_trees)
        self.as_install_user = False  # root's command on the shared tree: uv runs as the config's install-user
        self.account: tuple[str, int, str] | None = None  # (then) that account, found by run: see install_account
        self.tops: frozenset[str] = frozenset()  # (root) every shared dir and project dir, see drop_tree_vars
        self.ignored: frozenset[str] = frozenset()  # (root) UV_* variables naming them, see drop_tree_vars
        root = os.geteuid() == 0
        others: tuple[list[str], list[str]] = ([], [])  # every tree's dirs and project dirs (see uvshare.trees)
        self.groups: set[int] = set()  # (root) every tree's group, see keep_root_out
        # (uvshare.trees is imported only where its dir exists: a machine without trees pays one stat)
        if (root or config is None or not informational(args, program)) and os.path.isdir(
            environ.get(ENV_TREES) or TREES_DIR
        ):
            from uvshare import trees

            if config is None:
                self.config = config = trees.choose(environ, needs_tree=self.needs_tree(root))
                self.treeless = config is None  # (uv itself may still be named by the trees' configs)
            elif not root:  # a module loaded for one tree, and the work in another's project dir
                trees.warn_other_tree(environ, config)
            if root:  # every tree of the site, whichever (if any) this call is for: a module may name one
                others = trees.all_tops(environ)
                self.groups = trees.all_gids(environ)
        self.curated = config is not None and config.kind == "curated"  # see uvshare.curated
        fencing = root and (config is not None or others[0] or others[1])
        if fencing:
            self.drop_tree_vars(config, others)
        if config is not None:
            self.dirs = shared_dirs(config, environ, self.ignored)
            self.as_install_user = root and program == "uv" and on_tree(args, self.dirs)
        # (a curated tree's install-user is no mere member: it owns what members cannot write, so root's commands on
        # it are kept out of what members can write too — uv reads their uv.toml or [tool.uv] upward from there)
        if fencing and (not self.as_install_user or self.curated):
            self.keep_root_out(config, others)
        if config is not None:
            self.assign(config)

    def assign(self, config: "Config") -> None:
        """Decide the caller's role and what they are given of the tree of CONFIG, in uv's environment."""
        from uvshare.config import DIR_KEYS, members_link_mode, membership

        args, environ, env = self.args, self.environ, self.env
        # (root is root whatever the config: without a group, root's tree commands stop for want of an install-user)
        self.role = membership(config.gid) if config.gid is not None else "root" if os.geteuid() == 0 else "none"
        if self.curated:
            self.assign_curated(config)
        elif self.role == "root":
            if self.as_install_user:
                self.given = self.dirs
            elif environ.get(ENV_BUILD) == "1":  # an image build: the tree is root's own making so far
                self.given = {k: p for k, p in self.dirs.items() if k not in CACHES}
            else:
                env["PATH"] = without_shared(environ.get("PATH", os.defpath), self.tops)
            if not self.as_install_user and environ.get("UV_LINK_MODE") not in SAFE_LINK_MODES:
                env["UV_LINK_MODE"] = "copy"  # none of root's installs shares an inode with what others can write
        elif self.role == "outsider":
            refuse_in_project(args, config)
            self.given = {k: p for k, p in self.dirs.items() if k in OUTSIDER_GETS}
        else:
            self.given = self.dirs
        if "cache-dir" in self.given and not environ.get("UV_LINK_MODE"):
            # members' own venvs share no inode with the shared cache: reflinks where root proved them, else copies
            env["UV_LINK_MODE"] = members_link_mode(config)[0]
        env.update({DIR_KEYS[k]: p for k, p in self.given.items()})

    def assign_curated(self, config: "Config") -> None:
        """What the caller is given of a curated tree: root's commands on it, the tree (run as the install-user);
        everyone else, and root's other commands, none of its dirs (their own Pythons, tools and cache are uv's
        defaults) but its Pythons on PATH, where uv finds them — for root only while nobody else can write them."""
        from uvshare import curated
        from uvshare.config import membership

        self.role = "root" if os.geteuid() == 0 else "user"
        if self.as_install_user:
            self.given = self.dirs
            return
        env = self.env
        if self.role == "root":
            env["PATH"] = without_shared(self.environ.get("PATH", os.defpath), self.tops)  # other trees' shared dirs
            if self.environ.get("UV_LINK_MODE") not in SAFE_LINK_MODES:
                env["UV_LINK_MODE"] = "copy"
        elif config.gid is not None and membership(config.gid) == "outsider":
            refuse_in_project(self.args, config)
        where = self.dirs.get("python-install-dir")
        if where is None or informational(self.args, self.program):
            return
        if self.role == "root":
            why = curated.unsafe_to_root(config)
            if why is not None:
                from uvshare.errors import invoked_as

                warn(
                    f"root's uv does not use the curated Pythons of {config.files[-1]}: {why}; run "
                    f"'{invoked_as()} share repair' as root, which makes the tree root's and the install-user's alone"
                )
                return
            # (a curated Python run as root would write root's bytecode into the install-user's tree, where older
            # uv compiles none at install: the install-user's uninstall could not remove it later)
            env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        env["PATH"] = curated.with_pythons(env.get("PATH", os.defpath), where)

    def needs_tree(self, root: bool) -> bool:
        """Whether this call needs to know its tree: root's commands on a tree; anyone's uv command but help,
        `--version`, `self` and completion (every other one uses the cache)."""
        words = command_words(self.args)
        if root:
            return self.program == "uv" and words in TREE_COMMANDS
        return not informational(self.args, self.program)

    def drop_tree_vars(self, config: "Config | None", others: "tuple[list[str], list[str]]") -> None:
        """(Root) A UV_* dir variable naming the shared tree or a project dir (an image's ENV, the old workaround) is
        no dir of root's own: it would hand root's uv the tree as root; gone (and the configured dir given instead,
        where root's command is on it). Of this config's tree and of every tree of the site (OTHERS)."""
        from uvshare.config import DIR_KEYS, in_tree, tree_tops

        projects = [config.project_dir] if config and config.project_dir else []
        every = tree_tops([*(config.dirs.values() if config else ()), *projects, *others[0], *others[1]])
        named = [v for v in DIR_KEYS.values() if self.environ.get(v)]
        self.ignored = frozenset(v for v in named if in_tree(self.environ[v], every))
        # (a curated tree's dirs stay on root's PATH: nobody but root and its install-user can write them)
        mine = config.dirs.values() if config and not self.curated else ()
        self.tops = tree_tops([*mine, *projects, *others[0], *others[1]])
        for var in self.ignored:
            del self.env[var]

    def keep_root_out(self, config: "Config | None", others: "tuple[list[str], list[str]]") -> None:
        """Root's uv is not started where it would pick up what members can write by itself: its current dir in a
        team project dir (its pyproject.toml, build backends and `.venv/bin/python` are the members'), in a dir above
        the tree others can write, or — but in an image build — in the shared dirs; nor with a venv found from there
        that runs a Python members can write; and no shared bin dir stays on its PATH. Of this config's tree and of
        every tree of the site. What root names itself (an argument, a variable, its own config files) is root's
        choice, as with plain uv (see uvshare.places). (Not called for root's commands on a shared tree: they run as the
        install-user, a member; called for a curated tree's, whose install-user owns what members cannot write.)"""
        environ = self.environ
        if informational(self.args, self.program):  # nothing is read; but `uv help` pages through a `less` on PATH
            if config is None:  # (with a config, assign does the same)
                self.env["PATH"] = without_shared(environ.get("PATH", os.defpath), self.tops)
            return
        dirs = [*(config.dirs.values() if config and not self.curated else ()), *others[0]]
        projects = [*([config.project_dir] if config and config.project_dir else ()), *others[1]]
        building = environ.get(ENV_BUILD) == "1"
        fenced = projects + ([] if building else dirs)
        if not fenced:
            return
        from uvshare.config import tree_tops
        from uvshare.places import keep_out, open_above

        above = open_above(fenced)
        self.tops = tree_tops([*dirs, *projects, *above])
        groups = {*self.groups, *([config.gid] if config and config.gid is not None else ())}
        owners: tuple[int, ...] = (0,)
        if self.curated and config is not None:  # its Pythons are root's and its install-user's alone
            from uvshare.curated import install_uid

            uid = install_uid(config)
            owners = (0,) if uid is None else (0, uid)
        keep_out(
            environ,
            fenced,
            projects,
            above,
            groups=None if building else groups,
            owners=owners,
            roots_alone=self.curated and self.as_install_user,
        )
        path = without_shared(environ.get("PATH", os.defpath), self.tops)
        if config is None:  # (with a config, assign does the same)
            self.env["PATH"] = path
            if environ.get("UV_LINK_MODE") not in SAFE_LINK_MODES:
                self.env["UV_LINK_MODE"] = "copy"

    def real_uv(self) -> str:
        """The real uv, found on first need (a skip answered from names needs none)."""
        if not self._uv:
            from uvshare.finduv import find_uv

            config = self.config
            configured, where = (config.uv, config.files[0]) if config else self.program_from_trees("uv")
            self._uv = find_uv(self.environ, configured, where)
        return self._uv

    def program_from_trees(self, program: str) -> "tuple[str | None, str | None]":
        """For a call with no tree (`uv --version` of a user in two trees), the uv (or uvx) the trees' configs name,
        and the file that names it; (None, None) when they name none (see uvshare.trees.program_of)."""
        if not self.treeless:
            return None, None
        from uvshare import trees  # (already loaded: it found no tree for this call)

        return trees.program_of(self.environ, program)

    def installed(self, requests: "Sequence[str]", *, ask_uv: bool) -> "bool | None":
        """Whether every requested Python is installed as uv's own install would leave it (see skip); None when only
        uv can tell (and ASK_UV was not given)."""
        from uvshare.skip import INSTALLED, UNSURE, answer_from_names, answer_from_uv, links_in_place

        if ask_uv:
            names = answer_from_uv(self.real_uv(), requests, self.env) or []
        else:
            state, names = answer_from_names(requests, self.env)
            if state == UNSURE:
                return None
            if state != INSTALLED:
                return False
        if names and links_in_place(names, self.real_uv, self.env):
            if not self.quiet:
                say_installed(names, self.env)
            return True
        return False

    def prepare(self) -> None:
        """Prepare the shared dirs (root and members), and set the umask where a dir uv may write needs it."""
        config = self.config
        if config is None or config.gid is None or self.role not in ("root", "member"):
            return
        if self.curated:  # only root's commands on the tree prepare it: everyone else's uv writes nothing there
            if self.account is not None:  # (found by run: root's command on the tree)
                from uvshare import curated

                curated.prepare(config, self.account[1], self.dirs)
                os.umask(0o022)
            return
        if self.role == "root" and not self.given:  # root's uv gets none of the tree: nothing members made matters
            return
        from uvshare.prepare import Preparer

        preparer = Preparer(config.gid, config.umask, config.group or str(config.gid), warn, acl=config.acl)
        dirs = dict(self.dirs)
        if config.project_dir:
            from uvshare.config import PROJECT_KEY

            dirs[PROJECT_KEY] = config.project_dir
        preparer.prepare(dirs)
        # Where every dir uv may write has a default ACL, what is created there is shared whatever the umask: leave
        # the caller's alone, so that nothing else they write becomes group-writable. Elsewhere the umask does it.
        mine = [*self.given, *(dirs.keys() - self.dirs.keys())]
        if not (config.acl and all(preparer.covered.get(k, False) for k in mine)):
            os.umask(config.umask)
        elif self.role == "member" and os.getegid() == config.gid:
            # Her primary group is the shared group, so what uv makes of hers (a venv) belongs to it; and uv's copies
            # keep the cache's group-write bits, whatever the umask (a reflink's follow it). The dirs uv makes for her
            # are no dirs for the group to enter: another member cannot reach her venv's files to change them.
            os.umask(os.umask(0) | PRIVATE_FROM_GROUP)

    def target(self) -> str:
        """The program to exec: the real uv, or the real uvx (by its own order, beside the real uv first)."""
        if self.program != "uvx":
            return self.real_uv()
        from uvshare.errors import UvNotFound
        from uvshare.finduv import find_program

        try:
            beside: str | None = self.real_uv()
        except UvNotFound:  # no uv found: look for uvx on its own
            beside = None
        config = self.config
        configured, where = (config.uvx, config.files[0]) if config else self.program_from_trees("uvx")
        return find_program("uvx", self.environ, configured, where, beside)

    def run(self) -> int:
        """Everything uvshare does before uv: returns an exit status only when uv does not need to run."""
        args, config = self.args, self.config
        unsure: Sequence[str] = ()
        if self.curated and not self.as_install_user and config is not None and self.program == "uv":
            if self.curated_answer(config):
                return 0
        elif self.program == "uv" and (config is None or config.skip_installed) and "install" in args:
            from uvshare.skip import install_requests

            asked = install_requests(args)
            if asked:
                requests, self.quiet = asked
                answer = self.installed(requests, ask_uv=False)
                if answer:
                    return 0
                if answer is None and os.geteuid() != 0:  # root never asks `find`: it runs members' interpreters
                    unsure = requests
        if self.role == "outsider" and config is not None and not self.curated:
            if self.program == "uv":
                refuse_outsider(args, config, self.dirs)
            outsider_notes(args, config, self.dirs, self.env, self.program)
        account = None
        if self.as_install_user and config is not None:
            from uvshare.runas import install_account  # root's commands on the tree only

            account = self.account = install_account(config)
        self.prepare()  # before any uv runs, `find` included
        if unsure and self.installed(unsure, ask_uv=True):
            return 0
        program = self.target()  # found as root: never a uv a member could have written
        if (
            self.program == "uv"
            and command_words(args) in COMPILES
            and self.given
            and not self.environ.get("UV_COMPILE_BYTECODE")
        ):
            # Bytecode made now, as the installer: a Python or tool run directly later then writes no __pycache__
            # with its user's umask (where no default ACL makes it shared: image layers, copies) for another
            # member's upgrade to trip on. Set after the skip, which steps aside when this is set by the caller.
            self.env["UV_COMPILE_BYTECODE"] = "1"
        if self.program == "uv" and CHANGES.get(command_words(args)) == "tool-dir" and "tool-dir" in self.given:
            from uvshare.receipts import check_receipts  # a receipt a member edited must not make uv delete

            shared_bin = config.dirs.get("tool-bin-dir") if config else None
            check_receipts(args, self.env, account[2] if account else None, shared_bin)
        return self.launch(program, account)

    def curated_answer(self, config: "Config") -> bool:
        """(A curated tree, but root's commands on it) Whether a `python install` is answered from the tree itself:
        every version asked for is there ("already installed", nothing written). Otherwise one line says where uv
        installs what the tree lacks; an uninstall of only the tree's Pythons or tools is refused, saying who can."""
        from uvshare import curated

        words = command_words(self.args)
        if words in (("python", "uninstall"), ("tool", "uninstall")):
            curated.refuse_removal(words, self.args, config, self.env)
        where = config.dirs.get("python-install-dir")
        if words != ("python", "install") or where is None:
            return False
        from uvshare.skip import INSTALLED, MISSING, answer_from_names, install_dir, install_requests

        asked = install_requests(self.args)
        if not asked:
            return False
        requests, quiet = asked
        state, names = answer_from_names(requests, {**self.env, "UV_PYTHON_INSTALL_DIR": where})
        if state == INSTALLED and config.skip_installed:
            if not quiet:
                say_installed(names, {"UV_PYTHON_INSTALL_DIR": where})
            return True
        if state == MISSING and not quiet:
            tree = {**self.env, "UV_PYTHON_INSTALL_DIR": where}
            lacking = [r for r in requests if answer_from_names([r], tree)[0] == MISSING]
            sys.stderr.write(
                f"uvshare: Python {', '.join(lacking or requests)} is not in the curated tree {where}: uv installs "
                f"what this command asks for in your own dir {install_dir(self.env)}, beside the tree's\n"
            )
        return False

    def launch(self, program: str, account: "tuple[str, int, str] | None") -> int:
        """Replace this process with uv — or, for root's command on the tree (ACCOUNT) and for uv 0.6's last tool,
        run it as a child and wait: see uvshare.runas."""
        args, config = self.args, self.config
        tool_dir = None
        if self.program == "uv" and command_words(args) == ("tool", "uninstall") and "tool-dir" in self.given:
            from uvshare.runas import last_tools

            tool_dir = last_tools(args, self.env, config.gid if config and config.gid is not None else -1)
        if account is None and tool_dir is None:
            return exec_program(program, args, self.env, self.depth)
        from uvshare import runas
        from uvshare.finduv import mark_exec

        mark_exec(program, self.env, self.depth)  # (the install-user's child marks its own pid again)
        if account is not None and config is not None:
            status, tail = runas.run_as(account, config, program, args, self.env)
        else:
            status, tail = runas.run_child(program, args, self.env)
        return runas.settle_last_tools(status, tail, tool_dir, self.prepare) if tool_dir is not None else status


def run(args: "Sequence[str]", program: str = "uv") -> int:
    """Everything uvshare does before uv (or uvx): an exit status only when it need not run."""
    return Call(args, program).run()


def main(argv: "Sequence[str] | None" = None) -> int:
    """Entry point of `uvshare` (and of `uv` and `uvx`, where uvshare is installed under those names)."""
    args = list(sys.argv[1:] if argv is None else argv)
    program = "uvx" if sys.argv and os.path.basename(sys.argv[0]) == "uvx" else "uv"
    if program == "uv" and args[:1] == [ADMIN_WORD]:  # `uvx share` runs a tool called share
        from uvshare.admin.app import run_admin

        return run_admin(args[1:])
    try:
        return run(args, program)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # uvshare.errors is imported only now: every module costs each call ~0.1 ms
        from uvshare.errors import UvshareError, say

        if isinstance(e, UvshareError):
            say("error", str(e))
            return e.exit_code
        if isinstance(e, OSError):  # a filesystem failure nobody planned for: still one line, never a traceback
            say("error", f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
            return UvshareError.exit_code
        raise
