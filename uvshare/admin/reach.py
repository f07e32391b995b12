"""Whether the members of a tree's group can run uvshare as it is installed: the launcher they call, the interpreter
its `#!` line names (and what that resolves to), and uvshare's code.

An install they cannot run fails silently for them: `uv tool install .` as root puts uvshare under /root (0700), a
member's shell gets `Permission denied` on /usr/local/bin/uv, and /bin/sh (dash) goes on down PATH to a plain uv —
a private install, exit 0. So `share launcher`, `share init` and `share doctor` check it. As root, by running it: the
install-user (a member identity, with the tree's group and no other) runs `LAUNCHER share --version`, or the
interpreter importing uvshare, and it must work. Otherwise (no root, no install-user yet) by the mode bits of each dir
on the way and of the files, judged for a member who is not their owner (ACLs not read: said so).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from uvshare.config import ENV_CONFIG, Config
from uvshare.safefs import describe

PROBE_TIMEOUT = 20.0
FIX = (
    "install uvshare where members can read it, e.g. python3 -m venv /opt/uvshare && /opt/uvshare/bin/pip install "
    "/usr/local/src/uvshare uv (a clone there; see docs/install.md)"
)


def running_program() -> str | None:
    """The launcher (or console script) this uvshare was started through, as an absolute path; None when it was
    started as `python -m uvshare`."""
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0.endswith(".py") or argv0 == "-c":
        return None
    if "/" not in argv0:
        import shutil

        found = shutil.which(argv0)
        return os.path.abspath(found) if found else None
    return os.path.abspath(argv0)


def shebang(path: str) -> list[str]:
    """The words of the `#!` line of PATH (the interpreter and its options), none for a file without one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO there must not hang us
    except OSError:
        return []
    try:
        head = os.read(fd, 256) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        head = b""
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        return []
    return [os.fsdecode(w) for w in head[2:].split(b"\n", 1)[0].split()]


def interpreter_of(path: str) -> str | None:
    """The interpreter the `#!` line of PATH names, None for a file without one."""
    words = shebang(path)
    return words[0] if words else None


def code_files() -> list[str]:
    """What of uvshare's code every call reads: its package's `__init__.py` and `shim.py`."""
    import uvshare

    package = os.path.dirname(os.path.abspath(uvshare.__file__))
    return [os.path.join(package, "__init__.py"), os.path.join(package, "shim.py")]


def mode_blocks(path: str, gid: int, want: int) -> str | None:
    """The first dir on the way to PATH (the path as written, then as resolved) that a member of GID who is not its
    owner may not search, or PATH itself if they may not WANT (4 read, 1 execute) it: `PATH (owner root, group root,
    mode 0700)`; None when nothing blocks."""
    for way in dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]):
        parts = [p for p in way.split("/") if p]
        current = ""
        for i, part in enumerate(parts):
            current += "/" + part
            try:
                st = os.stat(current)
            except OSError:
                return f"{current} (missing)"
            last = i == len(parts) - 1
            need = want if last else 1
            bits = (st.st_mode >> 3) & 7 if st.st_gid == gid else st.st_mode & 7
            if bits & need != need:
                return f"{current} ({describe(st)})"
    return None


def by_modes(launcher: str | None, gid: int) -> str | None:
    """What blocks a member of GID, by mode bits: the launcher, its interpreter, uvshare's code; None: nothing."""
    wanted: list[tuple[str, int]] = []
    if launcher is not None:
        wanted.append((launcher, 5))
        interpreter = interpreter_of(launcher)
        if interpreter is not None:
            wanted.append((interpreter, 1))
    wanted.append((sys.executable, 1))
    wanted += [(f, 4) for f in code_files()]
    for path, want in dict.fromkeys(wanted):
        blocked = mode_blocks(path, gid, want)
        if blocked is not None:
            if blocked.split(" (")[0] == path:
                return f"they may not {'run' if want & 1 else 'read'} {blocked}"
            return f"they may not enter {blocked}, on the way to {path}"
    return None


# A launcher named uvx is uvx (`uvx share` runs a tool called share): its interpreter runs its text instead, named
# uvshare, and the kernel's exec of the launcher itself is judged by its mode bits.
AS_UVSHARE = (
    "import sys; path = sys.argv[1]; sys.argv[:] = ['uvshare', 'share', '--version']; "
    "exec(compile(open(path, 'rb').read(), path, 'exec'))"
)


def probe_command(launcher: str | None) -> list[str] | None:
    """What the member identity runs: the launcher's `share --version`, or (none) the interpreter importing uvshare;
    None when it cannot be run without running uv (a uvx launcher that is no Python script)."""
    if launcher is None:
        code = f"import sys; sys.path[:0] = {install_dirs()!r}; import uvshare.shim"
        return [sys.executable, "-I", "-S", "-c", code]
    if os.path.basename(launcher) != "uvx":
        return [launcher, "share", "--version"]
    words = shebang(launcher)
    if not words or not os.path.basename(words[0]).startswith("python"):
        return None
    return [*words, "-c", AS_UVSHARE, launcher]


def as_member(config: Config, launcher: str | None) -> tuple[bool, str] | None:
    """(Root) Run the probe as the install-user with the tree's group alone: (whether it worked, its last words);
    None when there is no install-user to run it as."""
    if os.geteuid() != 0 or config.gid is None:
        return None
    from uvshare.errors import UvshareError
    from uvshare.runas import install_account

    try:
        _name, uid, _home = install_account(config)
    except UvshareError:
        return None
    command = probe_command(launcher)
    if command is None:
        return None
    from uvshare.safefs import SYSTEM_DIRS

    env = {"PATH": os.pathsep.join(SYSTEM_DIRS), "LANG": "C.UTF-8", "HOME": "/", ENV_CONFIG: ""}
    try:
        done = subprocess.run(
            command,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            user=uid,
            group=config.gid,
            extra_groups=[config.gid],
            start_new_session=True,  # no terminal of root's
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return False, str(e)
    words = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return done.returncode == 0, words[-1] if words else f"exit status {done.returncode}"


def members_cannot_run(config: Config, launcher: str | None) -> tuple[str | None, str]:
    """Why the members of CONFIG's group cannot run uvshare through LAUNCHER (None: they can), naming the path at
    fault (FIX says what to do); and how that was found out."""
    gid = config.gid
    if gid is None:
        return None, "no group"
    from uvshare.admin.common import group_label

    label = group_label(config)
    what = launcher or f"{sys.executable} (uvshare's interpreter)"
    ran = as_member(config, launcher)
    if ran is not None:
        worked, last = ran
        how = f"it ran as the install-user {config.install_user}, with group '{label}' alone"
        if worked and launcher is not None and os.path.basename(launcher) == "uvx":  # its text ran; and its exec?
            blocked = mode_blocks(launcher, gid, 5)
            if blocked is not None:
                return f"members of group '{label}' cannot run {what}: they may not run {blocked}", how
        if worked:
            return None, how
        blocked = by_modes(launcher, gid)
        return f"members of group '{label}' cannot run {what}: {blocked or last}", how
    blocked = by_modes(launcher, gid)
    how = "judged by the permission bits along each path (only root, running it as the install-user, can be sure)"
    if blocked is None:
        return None, how
    return f"members of group '{label}' cannot run {what}: {blocked}", how


def refuse_unrunnable(config: Config, launcher: str | None) -> None:
    """UvshareError (one line: the path at fault and the fix) when members of CONFIG's group cannot run uvshare
    through LAUNCHER."""
    why, _how = members_cannot_run(config, launcher)
    if why is not None:
        from uvshare.errors import UvshareError

        raise UvshareError(f"{why}; {FIX}")


def install_dirs() -> list[str]:
    """The sys.path entries uvshare and its dependencies come from: its own first, then other site dirs."""
    import uvshare

    own = os.path.dirname(os.path.dirname(os.path.abspath(uvshare.__file__)))
    sites = [p for p in sys.path if p and os.path.basename(p) in ("site-packages", "dist-packages")]
    return list(dict.fromkeys([own, *sites]))
