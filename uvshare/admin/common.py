"""What the `share` commands have in common: the config they act on, the program's name, their output."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from plumbum import cli, colors

from uvshare.config import DIR_KEYS, PROJECT_KEY, Config, config_paths, load
from uvshare.errors import ConfigError, UvshareError, admin, escape

# Which uv lock guards which dir: uv changes the Python bin and download dirs under the install dir's lock, and the
# tool bin dir under the tool dir's.
GUARDED_BY = {
    "python-install-dir": "python-install-dir",
    "python-bin-dir": "python-install-dir",
    "python-cache-dir": "python-install-dir",
    "tool-dir": "tool-dir",
    "tool-bin-dir": "tool-dir",
    "cache-dir": "cache-dir",
}


class Command(cli.Application):
    """Base of `share` and its commands: -q, and no plumbum --completions (uvshare ships its own, tested files)."""

    quiet = cli.Flag(["-q", "--quiet"], help="print only problems and warnings (and errors)")
    stdout_lost = False  # the reader went away (`| head -1`): the rest of the report goes nowhere

    def say(self, status: str, text: str) -> None:
        """One report line: a mark for STATUS (ok, problem, warning, info) and TEXT, escaped; -q keeps only ✗ and !."""
        if self.quiet and status in ("ok", "info"):
            return
        self.emit(f"{mark(status)} {escape(text)}", important=status in ("problem", "warning"))

    def note(self, text: str) -> None:
        """A plain line (a summary), escaped; not shown with -q."""
        if not self.quiet:
            self.emit(escape(text))

    def emit(self, line: str, *, important: bool = False) -> None:
        """Write LINE (already escaped) to stdout; an IMPORTANT one (✗, !) at once.

        A command that changes things never stops half-way because its reader went away (`uvshare share repair |
        head -1`): from a broken or closed stdout on, lines go nowhere, except the important ones, which go to
        stderr, and the work goes on to the end; the exit status says how it ended.
        """
        if not self.stdout_lost:
            try:
                sys.stdout.write(line + "\n")
                if important:
                    sys.stdout.flush()
                return
            except (BrokenPipeError, ValueError):  # ValueError: a stdout closed by the program itself
                self.lose_stdout()
        if important and sys.stderr is not None:
            try:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass  # stderr gone too: the exit status is all that is left

    @classmethod
    def lose_stdout(cls) -> None:
        """Send whatever is still written to stdout (and its buffer, flushed at exit) to /dev/null."""
        cls.stdout_lost = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
        finally:
            os.close(devnull)


Command.unbind_switches("--completions")


def program_name() -> str:
    """`uv share` when uvshare runs under the name uv, else `uvshare share`."""
    return admin("").rstrip()


def as_root(command: str) -> str:
    """The command line that runs the `share` subcommand COMMAND as root."""
    prefix = "" if os.geteuid() == 0 else "sudo "
    return f"{prefix}{admin(command)}"


def load_config() -> Config:
    """The effective config (with several trees, the one this command is for: see uvshare.trees); ConfigError when
    there is none."""
    config = load(os.environ)
    if config is None:  # (no file at all; a UVSHARE_CONFIG naming none is an error of load's)
        from uvshare import trees

        config = trees.choose(os.environ, needs_tree=True)
    if config is None:
        from uvshare.trees import trees_dir

        searched = ", ".join([*config_paths(os.environ), f"{trees_dir(os.environ)}/*.toml"])
        raise ConfigError(
            f"no config file found (searched {searched}); create one with "
            f"'{as_root('init --group GROUP --prefix DIR')}', or point UVSHARE_CONFIG at one"
        )
    return config


def machine_trees() -> list[tuple[str, str]]:
    """Every tree of this machine that root's uvshare knows, as (name, config file): /etc/uvshare/config.toml when
    there is one (named `default`), then each config of the trees dir, by name; ConfigError when there is none."""
    from uvshare import config as configs
    from uvshare.trees import tree_files, trees_dir

    found = [("default", configs.SYSTEM_CONFIG)] if os.path.lexists(configs.SYSTEM_CONFIG) else []
    found += [(os.path.basename(path)[: -len(".toml")], path) for path in tree_files(trees_dir(os.environ))]
    if not found:
        raise ConfigError(
            f"no tree on this machine (searched {configs.SYSTEM_CONFIG} and {trees_dir(os.environ)}/*.toml); create "
            f"one with '{as_root('init --group GROUP --prefix DIR')}'"
        )
    return found


@contextlib.contextmanager
def config_named(path: str) -> Iterator[None]:
    """While inside, the config in effect is the file PATH alone (UVSHARE_CONFIG names it), as a module makes it."""
    from uvshare.config import ENV_CONFIG

    saved = os.environ.get(ENV_CONFIG)
    os.environ[ENV_CONFIG] = path
    try:
        yield
    finally:
        if saved is None:
            del os.environ[ENV_CONFIG]
        else:
            os.environ[ENV_CONFIG] = saved


def load_group_config() -> tuple[Config, int]:
    """The effective config and its group's gid; ConfigError when it names no group or no dirs."""
    config = load_config()
    if config.gid is None:
        raise ConfigError(f"{config.files[-1]}: no 'group' key; name the shared group, e.g. group = \"uvshare\"")
    if not config.dirs:
        raise ConfigError(
            f'{config.files[-1]}: no shared dirs configured; add them (python-install-dir = "/opt/uv/python", …) '
            f"or run '{as_root('init --group GROUP --prefix DIR')}'"
        )
    return config, config.gid


def entries(n: int) -> str:
    """`0 entries`, `1 entry`, `3,498 entries`."""
    return "1 entry" if n == 1 else f"{n:,} entries"


def refuse_outsider_admin(config: Config, doing: str) -> None:
    """UvshareError, first of all, when the caller is neither root nor in the config's group: only they may DOING
    the shared tree, and any other message (x bits, a missing lock) would send an outsider the wrong way."""
    if os.geteuid() == 0 or config.gid is None or config.gid == os.getegid() or config.gid in os.getgroups():
        return
    import pwd

    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = f"uid {os.getuid()}"
    label = group_label(config)
    raise UvshareError(
        f"{user} is not a member of group '{label}': only root and members may {doing} the shared tree; ask an "
        f"administrator to run '{as_root(doing.replace('set up', 'setup'))}' (or 'usermod -aG {label} {user}' for "
        "you, then log in again)"
    )


def group_label(config: Config) -> str:
    """The group as people know it: its name (also when the config gives its gid), or its gid."""
    if config.gid is not None and (config.group is None or config.group.isdigit()):
        import grp

        try:
            return grp.getgrgid(config.gid).gr_name
        except KeyError:
            return str(config.gid)
    return str(config.group)


def shared_dirs(config: Config) -> dict[str, str]:
    """The configured shared dirs, in config-key order, and the team project dir (see PROJECT_KEY)."""
    dirs = {key: config.dirs[key] for key in DIR_KEYS if key in config.dirs}
    if config.project_dir:
        dirs[PROJECT_KEY] = config.project_dir
    return dirs


MARKS = {
    "ok": ("✓", colors.success),
    "problem": ("✗", colors.fatal),
    "warning": ("!", colors.warn),
    "info": ("·", colors.info),
}


def use_colors() -> None:
    """Colors only for a terminal that has them: not with NO_COLOR, TERM=dumb (or unset), or output elsewhere."""
    stdout = sys.stdout
    term = os.environ.get("TERM", "")
    if "NO_COLOR" in os.environ or term in ("", "dumb") or stdout is None or not stdout.isatty():
        colors.use_color = 0


def mark(status: str) -> str:
    """The colored mark for a check's status (plain where colors are off)."""
    symbol, style = MARKS[status]
    return str(style | symbol)


def image_acls_note(umask: int) -> str:
    """What doctor and setup say, in one line, of shared dirs on overlay without their default ACLs: an image's
    layers drop ACLs, and nothing is to be done (why that is enough: docs/acls-and-images.md)."""
    return f"image layers dropped the shared dirs' default ACLs: uvshare applies umask {umask:04o} on its calls instead"


UV_PROBE_TIMEOUT = 10.0  # a uv that does not say its version in this time is no uv doctor or repair can use


def ask_uv_version(uv: str) -> subprocess.CompletedProcess[str]:
    """`UV --version`, its output captured (OSError or TimeoutExpired when it cannot be run or does not answer)."""
    return subprocess.run(
        [uv, "--version"],
        capture_output=True,
        text=True,
        timeout=UV_PROBE_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
