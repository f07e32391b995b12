"""Real users, a real group, the real uv and an installed uvshare, for tests that run them as subprocesses.

Everything the test users must reach lives under BASE (world-readable); root's home is private on these machines,
so uvshare is installed into a venv there on Debian's /usr/bin/python3.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What every run may share (built once, content-addressed or per version): the Python mirror, uv binaries, a cache.
BASE = Path(os.environ.get("UVSHARE_TEST_BASE", "/var/tmp/uvshare-tests"))
# Everything else is this run's own, so that two runs can share a machine: users, group, venv, trees.
RUN_ID = os.environ.get("UVSHARE_TEST_RUN_ID") or secrets.token_hex(3)
RUN_BASE = BASE / f"run-{RUN_ID}"
PREFIX = f"ut{RUN_ID}"  # useradd's names: at most 32 characters, a lowercase letter first
GROUP = f"{PREFIX}-share"
LOGICAL = ("alice", "bob", "carol", "dave")  # the names tests use; dave is outside the group
MEMBERS = tuple(f"{PREFIX}-{n}" for n in LOGICAL[:3])
OUTSIDER = f"{PREFIX}-dave"
PRIMARY = f"{PREFIX}-erin"  # a member whose primary group is the shared group (tests' logical name: erin)
INSTALLER = f"{PREFIX}-inst"  # the config's install-user: root's uv commands on the shared tree run as it
INSTALLER_GID0 = f"{PREFIX}-inst0"  # one in gid 0 (OpenShift), made by `share setup` in the test that needs it
SYSTEM_PYTHON = "/usr/bin/python3"
NEWEST = "newest"


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by every test run on this machine (for what runs share: BASE, sysctls)."""
    public_dir(BASE)
    fd = os.open(BASE / f".{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def network_env() -> dict[str, str]:
    """This machine's settings for reaching the package index (CA bundles, proxies, index URLs), to pass on."""
    prefixes = (
        "SSL_CERT_",
        "REQUESTS_CA_",
        "PIP_",
        "UV_INDEX",
        "UV_DEFAULT_INDEX",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    )
    return {k: v for k, v in os.environ.items() if k.startswith(prefixes)}


def need_root() -> None:
    """Multi-user tests need root: skipped elsewhere, but under CI=true a skip is a failure."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("the multi-user tests must run as root under CI (they create users and a group)")
    pytest.skip("needs root (creates users and a group)")


def run_root(*cmd: str | os.PathLike[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a set-up command as root, failing loudly with its output."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done


def public_dir(path: Path) -> Path:
    """Make PATH (and parents under BASE) a directory every test user can enter and read."""
    path.mkdir(parents=True, exist_ok=True)
    for p in [path, *path.parents]:
        if p == BASE.parent:
            break
        p.chmod(0o755)
    return path


def shared_tmp() -> Path:
    """A world-writable sticky dir for every test user's temporary files, as /tmp is on most machines (not on these:
    their /tmp is root's 0755, and uv 0.6 makes temporary dirs there when it copies into a venv)."""
    tmp = BASE / "tmp"
    if not tmp.is_dir():
        public_dir(BASE)
        tmp.mkdir(exist_ok=True)
    if stat.S_IMODE(tmp.stat().st_mode) != 0o1777:
        tmp.chmod(0o1777)
    return tmp


def make_public(tree: Path) -> None:
    """Let every user read TREE and run what is executable in it."""
    for p in (tree, *tree.rglob("*")):
        if not p.is_symlink():
            mode = p.stat().st_mode
            p.chmod(mode | (0o555 if p.is_dir() or mode & 0o100 else 0o444))
    public_dir(tree)


def install_uv(version: str) -> Path:
    """The real uv (and uvx) of VERSION (the PyPI package; NEWEST: the one the test extras installed), where users
    can run it; shared by every run on the machine, installed under a machine-wide lock."""
    with machine_lock("install-uv"):
        if version == NEWEST:
            import uv

            source = Path(uv.find_uv_bin())
            out = subprocess.run([source, "--version"], capture_output=True, text=True, check=True).stdout
            target = public_dir(BASE / f"uv-{out.split()[1]}" / "bin")
            for name in ("uv", "uvx"):
                if not (target / name).exists() and (source.parent / name).exists():
                    shutil.copy2(source.parent / name, target / f".{name}.tmp")
                    (target / f".{name}.tmp").rename(target / name)
            return target / "uv"
        target = BASE / f"uv-{version}"
        binary = target / "bin" / "uv"
        if not binary.exists():
            tmp = BASE / f".uv-{version}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            run_root(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", tmp, f"uv=={version}")
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
        make_public(target)
        return binary


def install_uvshare(uv: Path) -> Path:
    """A venv under BASE on Debian's python with this checkout installed in it (not editable); its bin dir."""
    venv = RUN_BASE / "venv"
    env = {**os.environ, "UV_CACHE_DIR": str(BASE / "install-cache"), "UV_NO_CONFIG": "1"}
    env.pop("VIRTUAL_ENV", None)
    if not (venv / "bin" / "python").exists():
        run_root(uv, "venv", "--quiet", "--python", SYSTEM_PYTHON, venv, env=env)
    run_root(
        uv,
        "pip",
        "install",
        "--quiet",
        "--compile-bytecode",  # users cannot write __pycache__ there: without it every call compiles uvshare again
        "--python",
        venv / "bin" / "python",
        "--reinstall-package",
        "uvshare",
        REPO,
        env=env,
    )
    make_public(venv)
    return venv / "bin"


@dataclass
class User:
    """A principal the tests run commands as: root, a group member or an outsider."""

    name: str
    uid: int
    gid: int
    in_passwd: bool = True  # False: an arbitrary uid (OpenShift style), which has no supplementary groups

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def remove_users() -> None:
    """Remove this run's group and users (each only if it is there)."""
    for name in (*MEMBERS, OUTSIDER, PRIMARY, INSTALLER, INSTALLER_GID0):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            subprocess.run(["userdel", "-f", name], capture_output=True, check=False)
    with contextlib.suppress(KeyError):
        grp.getgrnam(GROUP)
        subprocess.run(["groupdel", GROUP], capture_output=True, check=False)


def create_users() -> dict[str, User]:
    """This run's group, three members and an outsider, by the logical names tests use (and root).

    Users and groups are machine-wide: useradd and groupdel take /etc's own locks, so two runs may do this at once.
    """
    remove_users()
    run_root("groupadd", GROUP)
    for name in MEMBERS:
        run_root("useradd", "--no-create-home", "--shell", "/bin/sh", "--groups", GROUP, name)
    run_root("useradd", "--no-create-home", "--shell", "/bin/sh", OUTSIDER)
    run_root(
        "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
        "--gid", GROUP, INSTALLER,
    )  # fmt: skip
    run_root("useradd", "--no-create-home", "--shell", "/bin/sh", "--gid", GROUP, PRIMARY)
    users = {"root": User("root", 0, 0)}
    for logical, name in (*zip(LOGICAL, (*MEMBERS, OUTSIDER)), ("erin", PRIMARY)):
        pw = pwd.getpwnam(name)
        users[logical] = User(name, pw.pw_uid, pw.pw_gid)
    return users


@contextlib.contextmanager
def protected_hardlinks_off() -> Iterator[None]:
    """fs.protected_hardlinks=0 while inside, so that a member can hard-link a file that is not theirs (an attack).

    A machine-wide lock keeps two runs from interleaving their changes; the original value is kept in a file while
    it is changed, so that a run killed meanwhile is undone by the next one.
    """
    knob = Path("/proc/sys/fs/protected_hardlinks")
    saved = BASE / ".protected_hardlinks.saved"
    with machine_lock("protected-hardlinks"):
        if saved.exists():  # a run died with the knob flipped: put it back first
            knob.write_text(saved.read_text())
            saved.unlink()
        old = knob.read_text().strip()
        saved.write_text(old)
        try:
            knob.write_text("0")
            yield
        finally:
            knob.write_text(old)
            saved.unlink()


def group_gid() -> int:
    """The gid of the test group."""
    return grp.getgrnam(GROUP).gr_gid


@dataclass
class Result:
    """What a command printed and its exit status."""

    returncode: int
    stdout: str
    stderr: str
    cmd: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"$ {' '.join(self.cmd)}\n[exit {self.returncode}]\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


@dataclass
class Sandbox:
    """One test's shared tree, config and homes; runs commands as any test user with a clean environment."""

    root: Path
    bin_dir: Path  # uvshare's venv bin
    uv: Path  # the real uv
    mirror: str  # UV_PYTHON_DOWNLOADS_JSON_URL
    users: dict[str, User]
    config: Path = field(init=False)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = self.root / "etc" / "config.toml"
        public_dir(self.config.parent)

    @property
    def shared(self) -> Path:
        """The shared tree the default config points into (made by root's first uvshare call)."""
        return self.root / "opt" / "uv"

    def write_config(self, text: str | None = None, **keys: object) -> Path:
        """Write the config: TEXT as is, or the default shared config with KEYS changed (None drops a key)."""
        if text is None:
            values: dict[str, object] = {
                "group": GROUP,
                "install-user": INSTALLER,
                "python-install-dir": str(self.shared / "python"),
                "python-bin-dir": str(self.shared / "bin"),
                "python-cache-dir": str(self.shared / "python-cache"),
                "tool-dir": str(self.shared / "tools"),
                "tool-bin-dir": str(self.shared / "tool-bin"),
                "cache-dir": str(self.shared / "cache"),
            }
            values.update({k.replace("_", "-"): v for k, v in keys.items()})
            text = "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items() if v is not None)
        self.config.write_text(text)
        self.config.chmod(0o644)
        return self.config

    def init_args(self, *extra: str, prefix: Path | str | None = None, config: Path | str | None = None) -> list[str]:
        """`uvshare share init` for the test group, below PREFIX (the shared tree), writing CONFIG (the test's)."""
        return [
            "uvshare",
            "share",
            "init",
            "--group",
            GROUP,
            "--prefix",
            str(self.shared if prefix is None else prefix),
            "--config",
            str(self.config if config is None else config),
            "--install-user",
            INSTALLER,
            *extra,
        ]

    def recipe_env(self, home: Path, link_dir: Path, **settings: str) -> dict[str, str]:
        """The environment recipes/image-install.sh runs with in a test: this run's group, install-user, tree and
        config, uvshare's own HOME and the LINK_DIR for its launchers; SETTINGS (PATH, UVSHARE_PROFILE, …) on top."""
        return {
            "UVSHARE_GROUP": GROUP,
            "UVSHARE_INSTALL_USER": INSTALLER,
            "UVSHARE_SHARED": str(self.shared),
            "UVSHARE_HOME": str(home),
            "UVSHARE_CONFIG": str(self.config),
            "UVSHARE_LINK_DIR": str(link_dir),
            **settings,
        }

    def member_writable_prefix(self) -> None:
        """Make the dir above the shared dirs group-owned 2775, as older uvshare made it (and as a group's project
        dir often is): members can then rename a shared dir, the way an attack needs. uvshare makes it root's 0755."""
        os.chown(self.shared, 0, group_gid())
        self.shared.chmod(0o2775)

    def not_shared(self) -> list[str]:
        """Everything in the whole shared tree — Pythons, tools, bin dirs and the cache — that another member could
        not change: not group-owned or not group-writable. (The prefix above them is root's: see
        test_members_cannot_rename_a_shared_dir_or_one_above.)"""
        if not self.shared.exists():
            return []
        return sorted(bad for top in self.shared.iterdir() for bad in not_shared(top, group_gid()))

    def plain_uv_env(self) -> dict[str, str]:
        """The set-up uvshare replaces: uv's own variables pointing into the shared tree, no uvshare config."""
        return {
            "UVSHARE_CONFIG": "",
            "UV_PYTHON_INSTALL_DIR": str(self.shared / "python"),
            "UV_PYTHON_BIN_DIR": str(self.shared / "bin"),
            "UV_TOOL_DIR": str(self.shared / "tools"),
            "UV_TOOL_BIN_DIR": str(self.shared / "tool-bin"),
            "UV_CACHE_DIR": str(self.shared / "cache"),
        }

    def venv_with(
        self, user: str, wheels: Path, package: str, venv: Path | None = None, umask: int | None = None
    ) -> Path:
        """A venv of USER's (in their home unless VENV), on Debian's Python, with PACKAGE from the local WHEELS (or
        sdists), through uvshare; its path."""
        venv = venv or self.home(self.users[user]) / "venv"
        self.ok(user, "uvshare", "venv", "--python", SYSTEM_PYTHON, venv, umask=umask)
        python = venv / "bin" / "python"
        self.ok(
            user,
            "uvshare",
            "pip",
            "install",
            "--python",
            python,
            "--no-index",
            "--find-links",
            wheels,
            package,
            umask=umask,
        )
        return venv

    def home(self, user: User) -> Path:
        """USER's home for this test (created on first use)."""
        home = self.root / "home" / user.name
        if not home.exists():
            public_dir(home.parent)
            home.mkdir()
            os.chown(home, user.uid, user.gid)
            home.chmod(0o700)
        return home

    def env(self, user: User, **extra: str) -> dict[str, str]:
        """The whole environment of a command: nothing inherited from the test runner."""
        env = {
            "PATH": f"{self.bin_dir}:{self.uv.parent}:/usr/bin:/bin",
            "HOME": str(self.home(user)),
            "USER": user.name,
            "LANG": "C.UTF-8",
            "UVSHARE_CONFIG": str(self.config),
            "UV_PYTHON_DOWNLOADS_JSON_URL": self.mirror,
            "UV_NO_PROGRESS": "1",
            "TMPDIR": str(shared_tmp()),
        }
        env.update(self.extra_env)
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def as_user(self, who: User, cmd: list[str]) -> list[str]:
        """CMD as WHO runs it (setpriv drops to their uid, gid and groups)."""
        if who.is_root:
            return cmd
        groups = "--init-groups" if who.in_passwd else "--clear-groups"
        return ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", groups, "--", *cmd]

    def popen(self, user: str, *args: str | os.PathLike[str], **kwargs: object) -> subprocess.Popen[str]:
        """Start ARGS as USER in the background, with the test environment and stdout piped (text)."""
        who = self.users[user]
        return subprocess.Popen(  # type: ignore[call-overload]
            self.as_user(who, [str(a) for a in args]),
            env=self.env(who, **kwargs.pop("env", {})),  # type: ignore[arg-type]
            cwd=self.home(who),
            stdout=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    def run(
        self,
        user: User | str,
        *args: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        input: str | None = None,
        umask: int | None = None,
        timeout: float = 300,
        cwd: Path | None = None,
    ) -> Result:
        """Run ARGS as USER (a name or a User) with the test environment; ARGS[0] is looked up on its PATH."""
        who = self.users[user] if isinstance(user, str) else user
        full_env = self.env(who, **(env or {}))
        cmd = self.as_user(who, [str(a) for a in args])
        if umask is not None:
            cmd = ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *cmd]
        done = subprocess.run(
            cmd,
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or self.home(who),
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr, cmd)

    def ok(self, user: User | str, *args: str | os.PathLike[str], **kwargs: object) -> Result:
        """Run, and fail the test with the whole output unless it exits 0."""
        result = self.run(user, *args, **kwargs)  # type: ignore[arg-type]
        assert result.returncode == 0, str(result)
        return result


def snapshot(tree: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """Every entry below TREE with what a write would change: mode, owner, group, size, mtime (ns), by path."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*dirnames, *filenames):
            st = os.lstat(os.path.join(dirpath, name))
            entries[os.path.join(dirpath, name)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)
    return entries


def fingerprint(path: Path) -> tuple[int, int, int, bytes | list[str]]:
    """Owner, group, mode and content (or listing) of PATH, not following a link."""
    st = path.lstat()
    content: bytes | list[str] = sorted(os.listdir(path)) if path.is_dir() else path.read_bytes()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), content


def not_shared(tree: Path, gid: int) -> list[str]:
    """Entries below TREE, and TREE itself (links aside, none followed), that are not group-owned by GID or not
    group-writable, each with its owner, group and mode."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for path in (dirpath, *(os.path.join(dirpath, n) for n in (*dirnames, *filenames))):
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode) and (st.st_gid != gid or not st.st_mode & 0o020):
                bad.append(f"{path} ({st.st_uid}:{st.st_gid} {stat.S_IMODE(st.st_mode):04o})")
    return sorted(set(bad))


def with_system_read_only(*cmd: str | os.PathLike[str]) -> list[str]:
    """CMD, run (as root) in a mount namespace of its own where / is mounted read-only: for a test that checks that
    uvshare refuses a system dir as a shared dir, so that a regression (or the code before a fix) cannot chmod /etc
    on the machine running the tests. The machine's own mounts are left as they are."""
    script = 'mount -o remount,bind,ro / && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *(str(c) for c in cmd)]


def toml_value(value: object) -> str:
    """VALUE as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
