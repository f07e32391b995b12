"""How root runs uv on the shared tree: as the config's install-user, a member account, and never on root's terms.

Imported only for root's commands on the tree (and for the one case a member's uv is run as a child: uv 0.6's last
tool, see `last_tools`). Whatever the install-user's uv starts — a member's `sitecustomize.py` in a shared Python, a
build backend — may be a member's code. So the child that becomes the install-user
- is in a session of its own: no controlling terminal, so no TIOCSTI through /dev/tty into root's shell;
- holds no fd of root's: stdin is /dev/null, stdout and stderr are pipes root relays (so not even an fd of root's
  terminal, through which a process left behind could read what root types later), every other fd is closed;
- starts where the install-user may be by its own rights (a dir only root can reach is left for `/`);
- leaves nothing behind: every process of the install-user is killed before and after the run, under a lock only
  root can take, so that a daemon a member's code started cannot wait for root's next command (same uid: it could
  ptrace it).
The install-user must be a system account nobody logs in as: killing its processes must not end anyone's session.
"""

import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from uvshare.config import Config

# Root's variables that name its own dirs: uv run as the install-user must not read or write root's config or data.
ROOTS_OWN = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_BIN_HOME", "XDG_RUNTIME_DIR")
NO_LOGIN = frozenset({"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false"})
LOCK_DIR = "/run/uvshare"  # root's alone (0700): the lock that keeps two root commands from killing each other's uv
TAIL = 4096  # how much of uv's stderr is kept to read its last words


def install_account(config: "Config") -> "tuple[str, int, str]":
    """The config's install-user (name, uid, home): the member account that runs uv on the shared tree for root;
    ConfigError, saying how to set one up, when there is none fit for it."""
    from uvshare.errors import ConfigError, invoked_as

    name, gid = config.install_user, config.gid
    where = config.origins.get("install-user", config.files[0])
    if name is None or gid is None:
        raise ConfigError(
            f"{where}: root does not run uv on the shared tree itself (what members put there could steer it); "
            f'name the member account it runs as: add install-user = "uvshare-install" to {where} and run '
            f"'{invoked_as()} share setup' as root, which creates the account"
        )
    import grp
    import pwd

    try:
        user = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(
            f"{where}: key 'install-user': there is no user '{name}'; run '{invoked_as()} share setup' as root, which "
            f"creates it, or name an existing member of group '{config.group}'"
        ) from None
    try:
        listed = name in grp.getgrgid(gid).gr_mem
    except KeyError:
        listed = False
    if user.pw_uid == 0 or not (user.pw_gid == gid or listed):
        why = "is root" if user.pw_uid == 0 else f"is not a member of group '{config.group}'"
        raise ConfigError(
            f"{where}: key 'install-user': '{name}' {why}; name a member account that is not root (or run "
            f"'usermod -aG {config.group} {name}')"
        )
    if user.pw_shell not in NO_LOGIN:
        raise ConfigError(
            f"{where}: key 'install-user': '{name}' can log in (shell {user.pw_shell}): root's commands kill every "
            f"process of the install-user when they end, so it must be an account nobody uses; name a system "
            f"account with no login shell ('{invoked_as()} share setup' creates the one the config names)"
        )
    return name, user.pw_uid, user.pw_dir


def become(account: "tuple[str, int, str]", gid: int, umask: int, env: dict[str, str]) -> None:
    """Turn this root process into ACCOUNT with the group GID only and UMASK; ENV becomes theirs (their HOME, none
    of root's XDG dirs)."""
    name, uid, home = account
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)  # real, effective and saved: there is no way back to root
    os.umask(umask)  # uv chmods some files it copies: the umask keeps them group-writable where an ACL would not
    for var in ROOTS_OWN:
        env.pop(var, None)
    env.update(HOME=home, USER=name, LOGNAME=name)
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    # by its whole path: a dir the install-user may read below one only root can enter (/root/project) is root's
    if not here or not os.access(here, os.R_OK | os.X_OK):
        os.chdir("/")


def hold_lock() -> "int | None":
    """An exclusive lock only root can take, held until the fd closes (or None where /run cannot have one)."""
    import fcntl
    import stat

    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(LOCK_DIR, 0o700)
        dfd = os.open(LOCK_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(dfd)
        if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
            return None
        fd = os.open("install.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write("uvshare: waiting for another of root's uv commands on the shared tree to finish\n")
        sys.stderr.flush()
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def kill_all(uid: int) -> None:
    """Kill every process of UID (the install-user: nobody's session), as root: each found in /proc is opened as a
    pidfd first (no pid reused meanwhile is hit), checked to be UID's, and sent SIGKILL; again until none is left.
    (Not from a child that becomes UID: a process of theirs could stop or kill that child first.)"""
    import signal

    for _ in range(100):  # every round kills what it finds; what those forked meanwhile is found by the next
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                fd = os.pidfd_open(int(name))
            except OSError:
                continue
            try:
                if is_theirs(name, uid):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    found = True
            except OSError:
                pass
            finally:
                os.close(fd)
        if not found:
            return


def is_theirs(pid: str, uid: int) -> bool:
    """Whether the live process PID runs with UID as its real, effective or saved uid (a zombie is no longer one)."""
    with open(f"/proc/{pid}/status", "rb") as f:
        status = f.read()
    uids = state = b""
    for line in status.split(b"\n"):
        if line.startswith(b"Uid:"):
            uids = line
        elif line.startswith(b"State:"):
            state = line
    return b"Z" not in state.split(b"(")[0] and str(uid).encode() in uids.split()[1:4]


def run_as(
    account: "tuple[str, int, str]", config: "Config", path: str, args: "Sequence[str]", env: dict[str, str]
) -> "tuple[int, bytes]":
    """Run the real uv as ACCOUNT (see the module's doc), root relaying its output and passing on the terminal's
    signals; uv's exit status (or 128 + the signal that ended it) and the tail of its stderr."""
    import signal

    from uvshare.shim import exec_program

    uid = account[1]
    lock = hold_lock()
    if lock is None:
        write_all(
            2,
            f"uvshare: warning: no lock in {LOCK_DIR} (cannot make it root's alone): another root command on "
            "the tree at the same time could end this one's uv\n".encode(),
        )
    kill_all(uid)  # what an earlier run left behind
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            become(account, config.gid if config.gid is not None else -1, config.umask, env)
            exec_program(path, args, env, int(env.get("UVSHARE_DEPTH", "1")), account[0])
        except BaseException as e:  # one line on stderr, whatever it is: a child never unwinds into uvshare
            from uvshare.errors import say

            say("error", str(e))
        finally:
            os._exit(2)
    os.close(out_w)
    os.close(err_w)

    sent: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        """The terminal's signal to uv (woken, should something have stopped it); a second one ends it."""
        sent.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL if len(sent) > 1 else signum)
            os.kill(pid, signal.SIGCONT)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    status, tail = relay(pid, {out_r: 1, err_r: 2}, uid)
    if lock is not None:
        os.close(lock)
    return status, tail


def relay(pid: int, pipes: "dict[int, int]", uid: int) -> "tuple[int, bytes]":
    """Copy what comes down PIPES (read fd -> the fd to write it to) until each is closed; once the child PID has
    exited, kill what UID left behind (a process holding a pipe would keep it open). PID's status and stderr's tail."""
    import select
    import signal
    import time

    status: int | None = None
    deadline = 0.0  # once uv has ended: what is still in the pipes gets a second, then they are closed
    tail = b""
    open_fds = dict(pipes)
    ttys = {fd: os.isatty(fd) for fd in set(pipes.values())}
    while open_fds and (status is None or time.monotonic() < deadline):
        ready, _, _ = select.select(list(open_fds), [], [], 0.2)
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                os.close(fd)
                del open_fds[fd]
                continue
            to = open_fds[fd]
            write_all(to, harmless(data) if ttys[to] else data)
            if to == 2:
                tail = (tail + data)[-TAIL:]
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                    signal.signal(signum, signal.SIG_DFL)  # no pid of ours to pass them to any more
                kill_all(uid)  # nothing the install-user started outlives root's command
                deadline = time.monotonic() + 1.0
    for fd in open_fds:  # held by someone uv handed them to: not root's to wait for
        os.close(fd)
    if open_fds:
        write_all(2, b"uvshare: warning: uv's output pipes were still held after it ended; stopped reading them\n")
    if status is None:
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        kill_all(uid)
    return (status if status >= 0 else 128 - status), tail


# Bytes a terminal acts on: C0 controls but tab, newline and carriage return; DEL; C1 controls in UTF-8 (C2 80-9F).
_CONTROLS = {*range(0x20), 0x7F} - {0x09, 0x0A, 0x0D}


def harmless(data: bytes) -> bytes:
    """DATA with every byte a terminal would act on (escape sequences: titles, cursor moves, the clipboard) shown as
    `\\xNN` instead: what the install-user's uv prints may come from a member's code."""
    if not any(b in _CONTROLS or b == 0xC2 for b in data):
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b in _CONTROLS:
            out += b"\\x%02x" % b
        elif b == 0xC2 and i + 1 < len(data) and 0x80 <= data[i + 1] <= 0x9F:
            out += b"\\xc2\\x%02x" % data[i + 1]
            i += 1
        else:
            out.append(b)
        i += 1
    return bytes(out)


def write_all(fd: int, data: bytes) -> None:
    """Write DATA to FD; a closed or broken one (`| head`) drops the rest quietly: uv's work goes on."""
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def run_child(path: str, args: "Sequence[str]", env: dict[str, str], depth: int) -> "tuple[int, bytes]":
    """Run the real uv as a child of a member's uvshare (see last_tools): its exit status (or 128 + the signal that
    ended it) and the tail of its stderr, which is passed on as it comes."""
    import signal
    import subprocess

    from uvshare.shim import ENV_DEPTH, ENV_EXEC

    env[ENV_EXEC] = f"{os.getpid()}:{path}"
    env[ENV_DEPTH] = str(depth)
    # the terminal's ^C reaches uv, which decides; we only wait (a handler, not SIG_IGN: uv must not inherit that)
    signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    child = subprocess.Popen([path, *args], env=env, stderr=subprocess.PIPE)
    assert child.stderr is not None  # noqa: S101  # (stderr=PIPE)
    tail = b""
    for data in iter(lambda: os.read(child.stderr.fileno(), 65536), b""):  # type: ignore[union-attr]
        write_all(2, data)
        tail = (tail + data)[-TAIL:]
    status = child.wait()
    return (status if status >= 0 else 128 - status), tail


def last_tools(args: "Sequence[str]", env: "Mapping[str, str]", gid: int) -> "str | None":
    """The shared tool dir, when ARGS (`tool uninstall …`) take the last tools out of it and members (group GID)
    cannot write the dir above it (root's, so that no member can rename a shared dir). uv 0.6 then removes the tool
    dir itself, fails to, and says so with exit status 2 after uninstalling everything: see settle_last_tools."""
    from uvshare.shim import command_words

    if command_words(args) != ("tool", "uninstall"):
        return None
    tool_dir = env.get("UV_TOOL_DIR", "")
    if not tool_dir.startswith("/"):
        return None
    try:
        above = os.stat(os.path.dirname(tool_dir))
    except OSError:
        return None
    if above.st_mode & 0o002 or (above.st_mode & 0o020 and above.st_gid == gid):
        return None  # members may write it: uv 0.6 removes the dir, and that is that
    present = tool_names(tool_dir)
    if not present:
        return None
    named = {normal_name(a) for a in args[args.index("uninstall") + 1 :] if not a.startswith("-")}
    return tool_dir if "--all" in args or present <= named else None


def normal_name(name: str) -> str:
    """A package name as uv names its tool's dir (PEP 503: lower case, runs of -_. as one -)."""
    out: list[str] = []
    for char in name.lower():
        if char in "-_.":
            if out and out[-1] != "-":
                out.append("-")
        else:
            out.append(char)
    return "".join(out).strip("-")


def tool_names(tool_dir: str) -> "set[str]":
    """The tools in TOOL_DIR: its subdirs but uv's own dot-names (none when it cannot be read)."""
    try:
        with os.scandir(tool_dir) as entries:
            return {e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}
    except OSError:
        return set()


def settle_last_tools(status: int, tail: bytes, tool_dir: str, after: "Callable[[], None]") -> int:
    """STATUS (and the TAIL of stderr) of uv's `tool uninstall` of the last tools (see last_tools): uv 0.6 ends it
    in "failed to remove directory `TOOL_DIR`" after everything was uninstalled. Only then — uv's last words are
    exactly that, and no tool is left — AFTER puts back what uv removed inside the dir (its lock file), and the call
    succeeded; any other failure is uv's to report."""
    if status == 0 or not os.path.isdir(tool_dir) or tool_names(tool_dir):
        return status
    last = tail.decode(errors="replace").strip().splitlines()[-1:] or [""]
    if not last[0].startswith(f"error: failed to remove directory `{tool_dir}`"):
        return status
    after()
    sys.stderr.write(
        f"uvshare: note: the tools were uninstalled; uv could not remove {tool_dir} itself (only root may: it stays, "
        "shared and empty), so nothing is wrong\n"
    )
    return 0
