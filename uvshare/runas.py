"""How root runs uv on the shared tree: as the config's install-user, a member account, and never on root's terms.

Imported only for root's commands on the tree (and for the one case a member's uv is run as a child: uv 0.6's last
tool, see `last_tools`). Whatever the install-user's uv starts — a member's `sitecustomize.py` in a shared Python, a
build backend — may be a member's code. So the child that becomes the install-user
- is in a session of its own: no controlling terminal, so no TIOCSTI through /dev/tty into root's shell;
- holds no fd of root's: stdin is /dev/null, stdout and stderr are pipes root relays (so not even an fd of root's
  terminal, through which a process left behind could read what root types later), every other fd is closed;
- starts where the install-user may be by its own rights (a dir only root can reach is left for `/`);
- leaves nothing behind, by the kernel's count, not by scanning for its uid: where root may (CAP_SYS_ADMIN, on a
  host) the run is a PID namespace of its own whose first process is root's (the install-user can neither signal nor
  ptrace it): when uv exits, so does it, and the kernel kills whatever is left in the namespace. Where the kernel
  refuses a namespace (a chroot-isolated `podman build`, a Docker build, a pod) root becomes the run's subreaper:
  everything the run left behind is then root's descendant, killed through pidfds as it is found. Nothing outside the
  run is ever signalled: not another tree's run, not a host's process of the same uid.
Root's commands on one tree take turns under a lock of that tree's that only root can take; other trees' do not wait.
The install-user must be a system account nobody logs in as: a process of the same uid could ptrace the run.
"""

import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Mapping, Sequence
    from typing import NoReturn

    from uvshare.config import Config

# Root's variables that name its own dirs: uv run as the install-user must not read or write root's config or data.
ROOTS_OWN = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_BIN_HOME", "XDG_RUNTIME_DIR")
NO_LOGIN = frozenset({"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false"})
LOCK_DIR = "/run/uvshare"  # root's alone (0700): a lock per tree, so that root's commands on one tree take turns
WAIT_DEADLINE = 600  # seconds root's command waits for that lock where nobody is at a terminal to see it wait
CLONE_NEWPID = 0x20000000  # <linux/sched.h>
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
TAIL = 4096  # how much of uv's stderr is kept to read its last words
MAX_ROUNDS = 1000  # of kill_descendants: each finds only what the processes killed in the last one forked first


def own_install_user(config: "Config") -> str:
    """The install-user to suggest for CONFIG's tree: its group's name and `-install` (the default of `share init`:
    trees of different groups never share one)."""
    group = config.group or "uvshare"
    if group.isdigit():
        import grp

        try:
            group = grp.getgrgid(int(group)).gr_name
        except KeyError:
            group = f"uvshare{group}"
    return f"{'uvshare' if group == 'root' else group}-install"


def install_account(config: "Config") -> "tuple[str, int, str]":
    """The config's install-user (name, uid, home): the member account that runs uv on the shared tree for root;
    ConfigError, saying how to set one up, when there is none fit for it."""
    from uvshare.errors import ConfigError, invoked_as

    name, gid = config.install_user, config.gid
    where = config.origins.get("install-user", config.files[0])
    if name is None or gid is None:
        raise ConfigError(
            f"{where}: root does not run uv on the shared tree itself (what members put there could steer it); "
            f'name the member account it runs as: add install-user = "{own_install_user(config)}" to {where} and run '
            f"'{invoked_as()} share setup' as root, which creates the account"
        )
    import pwd

    from uvshare.safefs import in_group

    try:
        user = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(
            f"{where}: key 'install-user': there is no user '{name}'; run '{invoked_as()} share setup' as root, which "
            f"creates it, or name an existing member of group '{config.group}'"
        ) from None
    # A member, or the account uvshare made for this group: root's run gives it nothing the group does not have.
    # Any other account (a service's, with processes of its own) would gain the group's rights through root's runs.
    if user.pw_uid == 0 or not in_group(user, gid):
        why = "is root" if user.pw_uid == 0 else f"is not a member of group '{config.group}'"
        raise ConfigError(
            f"{where}: key 'install-user': '{name}' {why}; name a member account that is not root, or a name no "
            f"account has yet ('{invoked_as()} share setup' creates it, in a group of its own)"
        )
    if user.pw_shell not in NO_LOGIN:
        raise ConfigError(
            f"{where}: key 'install-user': '{name}' can log in (shell {user.pw_shell}): whoever is logged in as it "
            f"could reach root's runs (same uid), so it must be an account nobody uses; name a system "
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


def tree_label(config: "Config") -> str:
    """The tree a config describes, as an admin knows it: its config file and the dirs' common prefix."""
    dirs = sorted(config.dirs.values())
    try:
        prefix = os.path.commonpath(dirs) if dirs else ""
    except ValueError:
        prefix = ""
    where = config.files[-1] if config.files else "(no config file)"
    return f"{where} ({prefix})" if prefix and prefix != "/" else where


def lock_name(config: "Config") -> str:
    """The name of the tree's lock in LOCK_DIR: one per set of shared dirs, so two trees never wait for each other."""
    import hashlib

    key = "\0".join(f"{k}={v}" for k, v in sorted(config.dirs.items()))
    return f"tree-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"


def hold_lock(config: "Config", lock_dir: str = LOCK_DIR) -> "int | None":
    """An exclusive lock on the tree CONFIG describes that only root can take, held until the fd closes (or None
    where LOCK_DIR cannot have one). Waiting says so, naming the tree; nobody at a terminal waits WAIT_DEADLINE at most
    (UvshareError then)."""
    import fcntl
    import stat
    import time

    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(lock_dir, 0o700)
        dfd = os.open(lock_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(dfd)
        if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
            return None
        fd = os.open(lock_name(config), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    tree = tree_label(config)
    at_terminal = os.isatty(0)
    until = "" if at_terminal else f" (at most {WAIT_DEADLINE} s: nobody is at a terminal)"
    waiting = f"uvshare: waiting for another of root's uv commands on the tree of {tree} to finish{until}\n"
    write_all(2, waiting.encode())
    if at_terminal:  # root sees the line and may press ^C
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd
    deadline = time.monotonic() + WAIT_DEADLINE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                from uvshare.errors import UvshareError

                raise UvshareError(
                    f"root's uv command on the tree of {tree} waited {WAIT_DEADLINE} s for another one to finish "
                    f"(it holds {lock_dir}/{lock_name(config)}); see what runs as the install-user "
                    f"(ps -u {config.install_user}) and run this again when it is done"
                ) from None
            time.sleep(0.2)


def libc_call(name: str, *args: int) -> int:
    """Call libc's NAME (a system call Python 3.11's os lacks): 0, or the errno it failed with."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) == 0:
        return 0
    return ctypes.get_errno() or -1


def new_pid_namespace() -> "int | None":
    """Make this process's next child the first process (PID 1) of a new PID namespace: when it exits, the kernel
    kills everything left in the namespace. An fd of our own namespace, to return to with leave_pid_namespace; None
    where the kernel refuses (no CAP_SYS_ADMIN: a chroot-isolated or Docker build, a pod)."""
    try:
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    if libc_call("unshare", CLONE_NEWPID) != 0:
        os.close(own)
        return None
    return own


def leave_pid_namespace(own: int) -> None:
    """Children made from now on are born in our own PID namespace again (OWN: see new_pid_namespace)."""
    libc_call("setns", own, CLONE_NEWPID)
    os.close(own)


def exit_code(raw: int) -> int:
    """A wait status as a shell shows it: the exit status, or 128 + the signal that ended the process."""
    status = os.waitstatus_to_exitcode(raw)
    return status if status >= 0 else 128 - status


FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")  # the terminal's signals root's command passes on to uv


def start_uv(
    account: "tuple[str, int, str]",
    config: "Config",
    command: "tuple[str, Sequence[str], dict[str, str]]",
    pipes: "tuple[int, int]",
) -> "NoReturn":
    """In a child of root's: become ACCOUNT (see the module's doc) and execute COMMAND (uv's path, its arguments, its
    environment), its stdout and stderr going to the write ends PIPES. Never returns."""
    path, args, env = command
    out_w, err_w = pipes
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        umask = 0o022 if config.kind == "curated" else config.umask  # a curated tree is the install-user's alone
        become(account, config.gid if config.gid is not None else -1, umask, env)
        from uvshare.finduv import ENV_DEPTH, mark_exec

        mark_exec(path, env, int(env.get(ENV_DEPTH, "1")))  # this pid's: uv leading back to uvshare is seen at once
        try:
            os.execve(path, [path, *args], env)
        except OSError as e:
            from uvshare.errors import UvshareError

            raise UvshareError(
                f"cannot run {path} as {account[0]} (the install-user, which runs uv on the shared tree for root): "
                f"{e.strerror}; install uv where every member can run it (e.g. /usr/local/bin) and point the 'uv' "
                "setting there"
            ) from None
    except BaseException as e:  # one line on stderr, whatever it is: a child never unwinds into uvshare
        from uvshare.errors import say

        say("error", str(e))
    finally:
        os._exit(2)


def be_init(start: "Callable[[], NoReturn]") -> "NoReturn":
    """As PID 1 of the run's PID namespace (root's, so nothing of the install-user can signal or ptrace it): START
    uv in a child, pass the terminal's signals on to it, reap whatever ends meanwhile, and exit as uv did — the
    kernel then kills all that is left in the namespace."""
    import signal

    try:
        child: list[int] = []

        def forward(signum: int, _frame: object) -> None:
            for pid in child:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
                    os.kill(pid, signal.SIGCONT)

        for name in FORWARDED:
            signal.signal(getattr(signal, name), forward)
        pid = os.fork()
        if pid == 0:
            for name in FORWARDED:
                signal.signal(getattr(signal, name), signal.SIG_DFL)
            start()
        child.append(pid)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # root's pipe ends too: the relay ends when uv's side closes
        while True:
            done, raw = os.wait()  # an orphan of the run comes here too: reaped
            if done == pid:
                os._exit(exit_code(raw))
    except BaseException:
        os._exit(2)


def run_as(
    account: "tuple[str, int, str]", config: "Config", path: str, args: "Sequence[str]", env: dict[str, str]
) -> "tuple[int, bytes]":
    """Run the real uv as ACCOUNT (see the module's doc), root relaying its output and passing on the terminal's
    signals; uv's exit status (or 128 + the signal that ended it) and the tail of its stderr."""
    import signal

    lock = hold_lock(config)
    if lock is None:
        write_all(
            2,
            f"uvshare: warning: no lock in {LOCK_DIR} (cannot make it root's alone): another of root's commands on "
            f"the tree of {tree_label(config)} may run at the same time\n".encode(),
        )
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    own_ns = new_pid_namespace()
    if own_ns is None:  # no namespace of its own: what the run leaves behind is found as root's descendants
        libc_call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def start() -> "NoReturn":
        start_uv(account, config, (path, args, env), (out_w, err_w))

    pid = os.fork()
    if pid == 0:  # never returns
        if own_ns is not None:
            be_init(start)
        start()
    if own_ns is not None:
        leave_pid_namespace(own_ns)
    os.close(out_w)
    os.close(err_w)

    sent: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        """The terminal's signal to uv (woken, should something have stopped it); a second one ends it (and, through
        its init, all the run started)."""
        sent.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL if len(sent) > 1 else signum)
            if own_ns is None:
                os.kill(pid, signal.SIGCONT)

    for name in FORWARDED:
        signal.signal(getattr(signal, name), forward)
    status, tail = relay(pid, {out_r: 1, err_r: 2}, None if own_ns is not None else kill_descendants)
    if lock is not None:
        os.close(lock)
    return status, tail


def descendants(known: "dict[int, int]") -> "tuple[list[int], bool]":
    """The processes below this one not yet in KNOWN (pid -> a pidfd of it), each opened as a pidfd into KNOWN and
    checked to be still a child of this process or of one in KNOWN after it was opened (so no reused pid is taken);
    and whether /proc listed any such process at all (one that ended or moved on before it could be opened — a
    process that forks and exits at once, changing its pid all the time — counts: there may be more to find)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(name)] = parent_of(int(name))
    found: list[int] = []
    listed = False
    changed = True
    while changed:  # down the tree from here, one generation per round
        changed = False
        for pid, ppid in parents.items():
            if pid in known or not (ppid == me or ppid in known):
                continue
            listed = True
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                still = parent_of(pid) == ppid
            except (OSError, ValueError, IndexError):
                still = False
            if not still:
                os.close(fd)
                continue
            known[pid] = fd
            found.append(pid)
            changed = True
    return found, listed


def parent_of(pid: int) -> int:
    """The parent pid of PID, from /proc/PID/stat (after the command name, which may hold anything)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def kill_descendants() -> None:
    """Kill every process below root's own (where no PID namespace of its own holds the run: root is their
    subreaper, so whatever the run left behind is down here), each through a pidfd as soon as it is found, round
    after round until a round finds none; and reap the orphans that came to us. A killed process can neither fork
    nor be woken (a stopped one could: a process of the same uid may send it SIGCONT), and whatever it forked before
    is ours by then, found by the next round. Nothing outside is ever signalled."""
    import signal

    known: dict[int, int] = {}
    try:
        for _ in range(MAX_ROUNDS):
            reap(known)
            found, listed = descendants(known)
            if not listed:  # (one listed but gone before it was opened may have forked first: look again)
                break
            for pid in found:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(known[pid], signal.SIGKILL)
        else:
            write_all(
                2,
                f"uvshare: warning: the install-user's run still started new processes after {MAX_ROUNDS} rounds of "
                "killing them; some may be left: see 'ps -u' the install-user\n".encode(),
            )
    finally:
        for fd in known.values():
            os.close(fd)
    reap()


def reap(known: "dict[int, int] | None" = None, wanted: int = 0) -> "int | None":
    """Reap every child of ours that has ended — as the run's subreaper, its orphans come to us: left unreaped, a
    process that forks and exits all the time would fill the machine's pid space with zombies —, forgetting each in
    KNOWN (pid -> a pidfd of it: closed); the raw wait status of WANTED, if it was among them."""
    status = None
    while True:
        try:
            done, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if not done:
            return status
        if done == wanted:
            status = raw
        if known is not None and done in known:
            os.close(known.pop(done))


def relay(pid: int, pipes: "dict[int, int]", after: "Callable[[], None] | None") -> "tuple[int, bytes]":
    """Copy what comes down PIPES (read fd -> the fd to write it to), shown harmless, until each is closed; once the
    child PID has exited, call AFTER (what ends what the run left behind: a process holding a pipe would keep it
    open). PID's status and stderr's tail."""
    import select
    import signal
    import time

    status: int | None = None
    deadline = 0.0  # once uv has ended: what is still in the pipes gets a second, then they are closed
    tail = b""
    open_fds = dict(pipes)
    shown = {fd: Shown() for fd in pipes}
    while open_fds and (status is None or time.monotonic() < deadline):
        ready, _, _ = select.select(list(open_fds), [], [], 0.2)
        for fd in ready:
            data = os.read(fd, 65536)
            to = open_fds[fd]
            write_all(to, shown[fd].feed(data, final=not data))
            if not data:
                os.close(fd)
                del open_fds[fd]
                continue
            if to == 2:
                tail = (tail + data)[-TAIL:]
        if status is None:
            raw = reap(wanted=pid)  # (and the run's orphans, which come to us where we are its subreaper)
            if raw is not None:
                status = exit_code(raw)
                for name in FORWARDED:  # no pid of ours to pass them to any more
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
                if after is not None:
                    after()  # nothing the install-user started outlives root's command
                deadline = time.monotonic() + 1.0
    for fd, to in open_fds.items():  # held by someone uv handed them to: not root's to wait for
        write_all(to, shown[fd].feed(b"", final=True))
        os.close(fd)
    if open_fds:
        write_all(2, b"uvshare: warning: uv's output pipes were still held after it ended; stopped reading them\n")
    if status is None:
        status = exit_code(os.waitpid(pid, 0)[1])
        if after is not None:
            after()
    return status, tail


# What a terminal acts on: C0 controls but tab, newline and carriage return; DEL; C1 controls (U+0080-009F, in UTF-8
# C2 80-9F); and any byte that is not part of valid UTF-8 (a lone 0x9B is CSI to a terminal in an 8-bit mode).
_SHOWN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\udc80-\udcff]"


def _show(match: "re.Match[str]") -> str:
    char = ord(match.group())
    if char >= 0xDC80:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{char - 0xDC00:02x}"
    if char >= 0x80:
        return f"\\xc2\\x{char:02x}"
    return f"\\x{char:02x}"


class Shown:
    """One stream of the install-user's output as root is shown it: the bytes a terminal would act on (escape
    sequences: titles, cursor moves, the clipboard) written as `\\xNN` instead, across reads (a UTF-8 sequence split
    between two writes is judged whole) and whatever the destination (a log read later on a terminal too)."""

    def __init__(self) -> None:
        import codecs
        import re

        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.pattern = re.compile(_SHOWN)

    def feed(self, data: bytes, final: bool = False) -> bytes:
        """The harmless form of DATA, the stream's next bytes (an incomplete UTF-8 sequence at its end is kept for
        the next; FINAL: the stream ends here)."""
        text = self.decoder.decode(data, final)
        return self.pattern.sub(_show, text).encode("utf-8", "surrogateescape")


def write_all(fd: int, data: bytes) -> None:
    """Write DATA to FD; a closed or broken one (`| head`) drops the rest quietly: uv's work goes on."""
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def run_child(path: str, args: "Sequence[str]", env: dict[str, str]) -> "tuple[int, bytes]":
    """Run the real uv as a child of a member's uvshare (see last_tools): its exit status (or 128 + the signal that
    ended it) and the tail of its stderr, which is passed on as it comes."""
    import signal
    import subprocess

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
    """The shared tool dir, when ARGS (a `tool uninstall …`) take the last tools out of it and members (group GID)
    cannot write the dir above it (root's, so that no member can rename a shared dir). uv 0.6 then removes the tool
    dir itself, fails to, and says so with exit status 2 after uninstalling everything: see settle_last_tools."""
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
