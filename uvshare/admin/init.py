"""`share init`: from nothing to a working shared tree in one idempotent command.

Writes the config (group, the real uv, the dirs below a prefix), sets the tree up as `setup` does (default ACLs
included), optionally puts the bin dirs on PATH, and ends with doctor's verdict.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

from plumbum import cli

from uvshare.admin.doctor import run_checks, unknown_to_root
from uvshare.admin.files import write_atomically
from uvshare.admin.setup import ProfileSwitches, Setup
from uvshare.config import (
    DIR_KEYS,
    ENV_CONFIG,
    PROJECT_KEY,
    SYSTEM_CONFIG,
    Config,
    check_project_dir,
    check_uv,
    check_value,
    config_paths,
    load,
    normal_path,
    read_file,
)
from uvshare.errors import EXIT_PROBLEMS, ConfigError, UvNotFound, UvshareError
from uvshare.finduv import find_program, is_uvshare
from uvshare.runas import tree_label
from uvshare.trees import tree_files, trees_dir

if TYPE_CHECKING:
    from collections.abc import Mapping

# The dirs below the prefix (python-cache-dir only when asked for: uv keeps Python downloads in its cache by default).
LAYOUT = {
    "python-install-dir": "python",
    "python-bin-dir": "bin",
    "tool-dir": "tools",
    "tool-bin-dir": "tool-bin",
    "cache-dir": "cache",
}
INSTALL_SUFFIX = "-install"  # the default install-user is the group's name and this: one per tree's group
NAME_MAX = 32  # useradd's longest name
# Keys init leaves out when it cannot tell (no real uv found yet): a later init fills them in without --force.
FILLABLE = frozenset({"uv"})
HEADER = "# Written by `uvshare share init`; see `uvshare share config` for what each key does.\n"


def toml_string(value: str) -> str:
    """VALUE as a TOML string: literal ('…') where it can be, else basic with escapes."""
    if "'" not in value and value.isprintable():
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def render(values: dict[str, object]) -> str:
    """The config file for VALUES, in a fixed order, so that the same values always give the same text."""
    return HEADER + "".join(f"{key} = {toml_value(value)}\n" for key, value in values.items())


def toml_value(value: object) -> str:
    """VALUE as TOML: `false`, `2`, `'/opt/uv'`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return toml_string(str(value))


def difference(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """`  group: 'a' -> 'b'`, `  + key = …`, `  - key = …`: how NEW differs from OLD, key by key."""
    lines = []
    for key in dict.fromkeys([*old, *new]):
        if key not in new:
            lines.append(f"  - {key} = {toml_value(old[key])}")
        elif key not in old:
            lines.append(f"  + {key} = {toml_value(new[key])}")
        elif old[key] != new[key]:
            lines.append(f"  {key}: {toml_value(old[key])} -> {toml_value(new[key])}")
    return lines


def fills_in(old: dict[str, object], new: dict[str, object]) -> bool:
    """Whether NEW only adds to OLD keys whose absence says "not known" rather than "the default" (FILLABLE): init
    writes that without --force. (An added `acl = false` would change what the tree does: that needs --force.)"""
    added = new.keys() - old.keys()
    return bool(added) and added <= FILLABLE and all(k in new and new[k] == v for k, v in old.items())


def default_install_user(group: object, prefix: str, environ: Mapping[str, str]) -> str:
    """The install-user a new tree below PREFIX gets: GROUP's name (uvshare for gid 0) and `-install`, each tree's
    own, so that two trees never share one by default; marked with PREFIX where another tree's config on this machine
    names that account already; at most NAME_MAX characters."""
    import hashlib

    name = str(group)
    if isinstance(group, int):
        import grp

        try:
            name = grp.getgrgid(group).gr_name
        except KeyError:
            name = f"uvshare{group}"
    if name == "root":  # gid 0 (OpenShift's arbitrary uids): not an account that sounds like root
        name = "uvshare"
    mark = "-" + hashlib.sha256(prefix.encode()).hexdigest()[:6]
    wanted = name + INSTALL_SUFFIX
    if len(wanted) > NAME_MAX:
        wanted = name[: NAME_MAX - len(INSTALL_SUFFIX) - len(mark)] + mark + INSTALL_SUFFIX
    if wanted in others_install_users(prefix, environ):
        wanted = name[: NAME_MAX - len(INSTALL_SUFFIX) - len(mark)] + mark + INSTALL_SUFFIX
    return wanted


def self_command() -> str:
    """How to run this uvshare again from the caller's shell: its name where PATH leads there, else its path."""
    import shutil

    from uvshare.admin.reach import running_program
    from uvshare.errors import invoked_as

    program, name = running_program(), invoked_as()
    found = shutil.which(name)
    if program is None or (found is not None and os.path.realpath(found) == os.path.realpath(program)):
        return name
    return program


def others_install_users(prefix: str, environ: Mapping[str, str]) -> set[str]:
    """The install-users that other trees' configs on this machine (the trees dir, the system config) name: trees
    whose dirs are not below PREFIX. Configs that cannot be read are left out (init says nothing about them)."""
    names: set[str] = set()
    below = prefix.rstrip("/") + "/"
    for path in [SYSTEM_CONFIG, *tree_files(trees_dir(environ))]:
        try:
            values = read_file(path) or {}
        except (ConfigError, OSError):
            continue
        dirs = [str(values[key]) for key in DIR_KEYS if isinstance(values.get(key), str)]
        user = values.get("install-user")
        if isinstance(user, str) and dirs and not all(d == prefix or d.startswith(below) for d in dirs):
            names.add(user)
    return names


class Init(ProfileSwitches):
    """Set up a shared tree below a prefix from nothing: write the config, create the dirs, check them"""

    group = cli.SwitchAttr("--group", str, mandatory=True, argname="GROUP", help="the shared group (name or gid)")
    prefix = cli.SwitchAttr("--prefix", str, mandatory=True, argname="DIR", help="the dirs go below it (/opt/uv)")
    config_file = cli.SwitchAttr(
        "--config", str, argname="FILE", help=f"where to write the config ($UVSHARE_CONFIG, else {SYSTEM_CONFIG})"
    )
    uv = cli.SwitchAttr(
        "--uv",
        str,
        argname="PATH",
        help="the real uv (default: the one beside uvshare's python, else the first on PATH)",
    )
    install_user = cli.SwitchAttr(
        "--install-user",
        str,
        argname="NAME",
        help="the member account root's uv runs as on the shared tree (created if missing; default: GROUP-install)",
    )
    curated = cli.Flag(
        "--curated", help="a curated tree: only root installs, everyone runs (kind = \"curated\"; see 'share kind')"
    )
    force = cli.Flag("--force", help="replace a config that says something else")
    dry_run = cli.Flag("--dry-run", help="check everything and say what would be written and made; change nothing")
    no_acl = cli.Flag("--no-acl", help="no default ACLs: rely on the umask alone (acl = false)")
    python_cache_dir = cli.SwitchAttr("--python-cache-dir", str, argname="DIR", help="share Python downloads too")
    python_install_dir = cli.SwitchAttr("--python-install-dir", str, argname="DIR", help="instead of PREFIX/python")
    python_bin_dir = cli.SwitchAttr("--python-bin-dir", str, argname="DIR", help="instead of PREFIX/bin")
    tool_dir = cli.SwitchAttr("--tool-dir", str, argname="DIR", help="instead of PREFIX/tools")
    tool_bin_dir = cli.SwitchAttr("--tool-bin-dir", str, argname="DIR", help="instead of PREFIX/tool-bin")
    cache_dir = cli.SwitchAttr("--cache-dir", str, argname="DIR", help="instead of PREFIX/cache")
    project_dir = cli.SwitchAttr(
        "--project-dir", str, argname="DIR", help="the team's project dir: venvs made there stay the team's"
    )

    def main(self) -> int:
        if self.config_file == "":
            raise UvshareError("--config needs a file's path; leave it out for $UVSHARE_CONFIG or " + SYSTEM_CONFIG)
        path = self.config_file or os.environ.get(ENV_CONFIG) or SYSTEM_CONFIG
        path = path if path.startswith("/") else os.path.join(os.getcwd(), path)
        values = self.values()  # everything checked before anything is written: a typo breaks nobody's uv
        self.check_profile_targets()
        from uvshare.admin.reach import refuse_unrunnable, running_program

        refuse_unrunnable(Config(values, dict.fromkeys(values, path), (path,)), running_program())
        if self.dry_run:
            return self.show(path, values)
        self.write_config(path, values)
        os.environ[ENV_CONFIG] = path  # what follows acts on this config, whatever else is around
        config = load(os.environ)
        if config is None:  # pragma: no cover  # just written
            raise UvshareError(f"{path}: cannot read the config just written")
        setup = Setup("setup")
        setup.quiet, setup.profile, setup.profile_file = self.quiet, self.profile, self.profile_file
        setup.zsh_profile_file, setup.fish_profile_file = self.zsh_profile_file, self.fish_profile_file
        status = setup.set_up(config)
        checks, _ = run_checks()
        for check in checks:
            if check.status in ("problem", "warning") or (not self.quiet and check.subject == "you"):
                print(check.line())
        unset = {k: v for k, v in os.environ.items() if k != ENV_CONFIG}
        if os.path.dirname(path) == trees_dir(unset):
            self.note(
                f"{path} is a tree of {os.path.dirname(path)}: with no other config in effect, uvshare uses it for "
                f"members of group {self.group} (and in its project dir); a module can name it too ('share module')"
            )
        elif path not in config_paths(unset):
            self.note(f"uvshare reads {path} only with {ENV_CONFIG}={path} in the environment")
            if config.project_dir:
                self.say("warning", unknown_to_root(config) + f"; put the config in {trees_dir(unset)}/NAME.toml")
        self.tell_made(path, config, setup)
        problems = sum(c.status == "problem" for c in checks)
        print("healthy" if not problems else f"{problems} problem{'s' if problems != 1 else ''} found")
        return EXIT_PROBLEMS if problems or status else 0

    def tell_made(self, path: str, config: Config, setup: Setup) -> None:
        """The closing block: what init made (the config, the tree, the account) and the one command that undoes it."""
        from uvshare.admin.accounts import made_account

        tree = tree_label(config).partition(" (")[2].rstrip(")") or ", ".join(config.dirs.values())
        made = [f"the config {path}", f"the shared tree below {tree}"]
        account, _ = made_account(config, path)
        if account is not None:
            made.append(f"the account {account} ({'made now' if setup.made_account else 'made by uvshare'})")
        self.note(f"made: {'; '.join(made)}")
        undo = f"{shlex.quote(self_command())} share teardown --config {shlex.quote(path)}"
        self.note(f"undo: {undo} (it removes these but the tree's data, and says how to remove that)")

    def show(self, path: str, values: dict[str, object]) -> int:
        """--dry-run: what would be written and made, and nothing written or made."""
        try:
            old = read_file(path) if os.path.lexists(path) else None
        except ConfigError as e:
            old, broken = {}, str(e)
        else:
            broken = ""
        if old == values:
            self.say("ok", f"config {path} already says this")
        elif old is None:
            self.say("info", f"would write {path}:")
            print(render(values), end="")
        elif not broken and fills_in(old, values):
            self.say("info", f"would fill in {path}:")
            for line in difference(old, values):
                print(line)
        else:
            self.say("info", f"would {'replace' if self.force else 'refuse to replace (no --force)'} {path}: {broken}")
            for line in difference(old, values):
                print(line)
        config = Config(values, dict.fromkeys(values, path), (path,))
        setup = Setup("setup")
        setup.quiet, setup.profile, setup.profile_file = self.quiet, self.profile, self.profile_file
        setup.zsh_profile_file, setup.fish_profile_file = self.zsh_profile_file, self.fish_profile_file
        return setup.set_up(config, dry_run=True)

    def values(self) -> dict[str, object]:
        """The config's keys, in order, each checked as every call will check it (the group must exist)."""
        group: object = int(self.group) if self.group.isascii() and self.group.isdigit() else self.group
        check_value("--group", "group", group)
        if isinstance(group, str):
            import grp

            try:
                grp.getgrnam(group)
            except KeyError:
                raise UvshareError(
                    f"--group: unknown group '{group}'; create it (groupadd {group}) or name an existing group "
                    "(nothing was written)"
                ) from None
        prefix = self.prefix
        if not prefix.startswith("/"):
            raise UvshareError(f"--prefix must be an absolute path, not {prefix!r}")
        values: dict[str, object] = {"group": group}
        if self.curated:
            values["kind"] = "curated"
        if self.no_acl:
            values["acl"] = False
        uv = self.real_uv()
        if uv:
            values["uv"] = uv
        install_user = self.install_user or default_install_user(group, prefix, os.environ)
        check_value("--install-user", "install-user", install_user)
        values["install-user"] = install_user
        for key in DIR_KEYS:
            given = getattr(self, key.replace("-", "_"))
            if given is None and key in LAYOUT:
                given = os.path.join(prefix, LAYOUT[key])
            if given is not None:
                if not given.startswith("/"):
                    raise UvshareError(f"--{key} must be an absolute path, not {given!r}")
                check_value(f"--{key}", key, given)
                values[key] = normal_path(given)
        if self.project_dir is not None:
            check_value("--project-dir", PROJECT_KEY, self.project_dir)
            values[PROJECT_KEY] = normal_path(self.project_dir)
            check_project_dir(Config(values, dict.fromkeys(values, "--project-dir"), ("--project-dir",)))
        return values

    def real_uv(self) -> str | None:
        """The real uv to record: --uv, or the first uv on PATH that is not uvshare; never a uvshare launcher."""
        if self.uv:
            uv = os.path.abspath(self.uv)
            check_uv(uv, "--uv", "uv")
            if is_uvshare(uv, os.path.realpath(sys.argv[0])):
                raise UvshareError(f"--uv {uv} is uvshare itself (a launcher), not the real uv; give the real uv")
            return uv
        environ = {k: v for k, v in os.environ.items() if k != "UVSHARE_UV"}
        try:  # the uv installed with uvshare (`pip install uvshare uv` in one venv) first, then PATH
            return find_program("uv", environ, None, None, beside=sys.executable)
        except UvNotFound:
            self.say(
                "warning",
                f"no real uv found beside {sys.executable} or on PATH: the config names none; uvshare looks for it on "
                "every call (install it, then run this again, or give --uv)",
            )
            return None

    def write_config(self, path: str, values: dict[str, object]) -> None:
        """Write VALUES to PATH unless it already says the same; refuse to replace a different config unless --force."""
        try:
            old = read_file(path) if os.path.lexists(path) else None
        except ConfigError as e:
            if not self.force:
                raise UvshareError(f"{e}; run again with --force to replace it") from None
            old = {}
        if old is not None and old == values:
            self.say("ok", f"config {path} already says this")
            return
        if old is not None and fills_in(old, values):
            write_atomically(path, render(values))  # only keys it left unset are filled in: nothing is replaced
            self.say("ok", f"filled in {path}: {', '.join(difference(old, values)).strip()}")
            return
        if old is not None and not self.force:
            for line in difference(old, values):
                print(line)
            raise UvshareError(
                f"{path} holds a different config (the difference is above); run again with --force to replace it, "
                f"or give another --config"
            )
        write_atomically(path, render(values))
        self.say("ok", f"{'replaced' if old is not None else 'wrote'} {path}")
        if old is None:
            return
        self.note(f"was: {', '.join(difference(old, values)).strip()}")
