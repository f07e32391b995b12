"""The every-call path: read the config, prepare the shared dirs, skip installed Pythons, exec the real uv.

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
# Set in the environment of the uv that uvshare execs: "<pid>:<uv path>". After execve the pid stays the same, so a
# uvshare that finds its own pid there was started by that exec: the "uv" it ran leads back to uvshare.
ENV_EXEC = "UVSHARE_EXEC"
ENV_DEPTH = "UVSHARE_DEPTH"
MAX_DEPTH = 32  # uvshare inside uv inside uvshare…: deeper than any real nesting, so it must be a loop


def warn(text: str) -> None:
    """One warning line on stderr."""
    from uvshare.errors import message  # uvshare.errors loads only when there is something to say: ~0.3 ms a call

    sys.stderr.write(message("warning", text))


def membership(gid: int) -> str:
    """`root`, `member` (the group is active in this process) or `outsider`."""
    if os.geteuid() == 0:
        return "root"
    if gid == os.getegid() or gid in os.getgroups():
        return "member"
    return "outsider"


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


def refuse_outsider(args: "Sequence[str]", config: "Config", exported: "Mapping[str, str]") -> None:
    """Stop a user outside the group from a command that would change a shared dir, saying how to join."""
    from uvshare.config import DIR_KEYS

    key = CHANGES.get(command_words(args))
    if key is None or DIR_KEYS[key] not in exported or any(a.split("=")[0] in OWN_DIR_OPTIONS for a in args):
        return
    import grp
    import pwd

    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
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
    from uvshare.errors import NotAMember

    raise NotAMember(
        f"'uv {' '.join(args)}' would change the shared dir {exported[DIR_KEYS[key]]}, which only members of group "
        f"'{group}' may change, and {user} is not a member; {join}; or set {DIR_KEYS[key]} to a dir of your own"
    )


def check_loop(environ: "Mapping[str, str]") -> int:
    """Stop when uvshare has been re-entered through its own exec; return the nesting depth for the next exec."""
    pid, _, uv = environ.get(ENV_EXEC, "").partition(":")
    try:
        depth = int(environ.get(ENV_DEPTH, "0"))
    except ValueError:
        depth = 0
    if pid == str(os.getpid()) or depth >= MAX_DEPTH:
        from uvshare.errors import UvNotFound

        raise UvNotFound(
            f"uvshare ran itself instead of the real uv (the 'uv' it executed, {uv or 'unknown'}, leads back to "
            'uvshare); set uv = "/path/to/real/uv" in the config or UVSHARE_UV=/path/to/real/uv'
        )
    return depth + 1


def exec_uv(uv: str, args: "Sequence[str]", env: dict[str, str], depth: int) -> "NoReturn":
    """Replace this process with the real uv: its exit status, signals and terminal are uv's own."""
    env[ENV_EXEC] = f"{os.getpid()}:{uv}"
    env[ENV_DEPTH] = str(depth)
    try:
        os.execve(uv, [uv, *args], env)
    except OSError as e:
        from uvshare.errors import UvshareError

        raise UvshareError(f"cannot run uv at {uv}: {e.strerror}; check the 'uv' setting or UVSHARE_UV") from None


def run(args: "Sequence[str]") -> int:
    """Everything uvshare does before uv: returns an exit status only when uv does not need to run."""
    from uvshare.config import DIR_KEYS, load

    environ = os.environ
    depth = check_loop(environ)
    config = load(environ)
    env = environ.copy()
    role = "none"
    exported: dict[str, str] = {}
    if config is not None:
        # uv's own rule: a UV_* variable already set wins over the config, and then uvshare leaves that dir alone.
        exported = {DIR_KEYS[k]: path for k, path in config.dirs.items() if not environ.get(DIR_KEYS[k])}
        if config.gid is not None:
            role = membership(config.gid)
            if role == "outsider":
                exported.pop("UV_CACHE_DIR", None)  # they cannot write the shared cache: uv keeps its own
        env.update(exported)

    def real_uv() -> str:
        from uvshare.finduv import find_uv  # not needed where an installed Python is answered without uv

        return find_uv(environ, config.uv if config else None, config.files[0] if config else None)

    # Skipping comes before preparing: when every requested Python is installed no uv runs, so nothing is written.
    if (config is None or config.skip_installed) and "install" in args:
        from uvshare.skip import install_requests, installed

        asked = install_requests(args)
        found = installed(real_uv, asked[0], env) if asked else None  # plain requests need no uv at all
        if found is not None:
            if not asked or not asked[1]:
                for version, path in found:
                    sys.stderr.write(f"uvshare: Python {version} is already installed at {path}; nothing to do\n")
            return 0
    if role == "outsider" and config is not None:
        refuse_outsider(args, config, exported)
    if config is not None and config.gid is not None and role != "outsider":
        os.umask(config.umask)  # before anything is created, here or by uv
        from uvshare.prepare import Preparer

        prepared = {k: p for k, p in config.dirs.items() if DIR_KEYS[k] in exported}
        Preparer(config.gid, config.umask, config.group or str(config.gid), warn).prepare(prepared)
    return exec_uv(real_uv(), args, env, depth)


def main(argv: "Sequence[str] | None" = None) -> int:
    """Entry point of `uvshare` (and of `uv`, where uvshare is installed under that name)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [ADMIN_WORD]:
        from uvshare.admin.app import run_admin

        return run_admin(args[1:])
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # uvshare.errors is imported only now: every module costs each call ~0.3 ms
        from uvshare.errors import UvshareError, message

        if isinstance(e, UvshareError):
            sys.stderr.write(message("error", str(e)))
            return e.exit_code
        if isinstance(e, OSError):  # a filesystem failure nobody planned for: still one line, never a traceback
            sys.stderr.write(message("error", f"{e.filename or ''}: {e.strerror or e}".lstrip(": ")))
            return UvshareError.exit_code
        raise
