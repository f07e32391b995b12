"""Login shells and the environment members need: `share setup --profile` for bash, zsh and fish, the lines for images
and JupyterHub, and UVSHARE_CONFIG wherever the config is not at a place uvshare reads by default.

The login shells are real (`su -l -s SHELL USER`), so they read the machine's own startup files; the tests never write
those. Each command that must see the profiles runs in a mount namespace of its own whose /etc is an overlay: the
machine's /etc below, the test's own dir on top. What `setup --profile` writes to /etc/profile.d, /etc/zsh/zprofile
and /etc/fish/conf.d lands in the test's dir, and the shells started in such a namespace read it there, beside
everything else of the real /etc; nothing outside the namespace sees it, and it is gone with the test's tree.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.harness import GROUP, PREFIX, Result, Sandbox, run_root
from tests.support.wheels import tool_install_args, wheels_dir

SHELLS = {"bash": "/bin/bash", "zsh": "/usr/bin/zsh", "fish": "/usr/bin/fish"}
REAL = ("/etc/profile.d/uvshare.sh", "/etc/zsh/zprofile", "/etc/fish/conf.d/uvshare.fish", "/etc/uvshare")
OVERLAY = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"'
DOCKERFILE = "for a Dockerfile (which runs no profile), after USER, so root's steps never have it: "
JUPYTERHUB = "for JupyterHub (spawners run no profile), in jupyterhub_config.py: "


@dataclass
class Etc:
    """The machine's /etc with the test's own dir over it, in a mount namespace made for each command."""

    upper: Path  # what was written to /etc in these namespaces

    @classmethod
    def below(cls, root: Path) -> Etc:
        for name in ("etc-upper", "etc-work"):
            (root / name).mkdir(mode=0o755)
        return cls(root / "etc-upper")

    def wrap(self, *cmd: str | os.PathLike[str]) -> list[str]:
        work = self.upper.parent / "etc-work"
        namespace = ["unshare", "--mount", "--propagation", "private", "--"]
        return [*namespace, "sh", "-c", OVERLAY, "sh", str(self.upper), str(work), *(str(c) for c in cmd)]

    def login(self, box: Sandbox, user: str, shell: str, command: str) -> Result:
        """COMMAND in USER's real login shell SHELL (started by root, as `su -` does; its environment is su's)."""
        name = box.users[user].name
        return box.run("root", *self.wrap("su", "-l", "-s", SHELLS[shell], name, "-c", command))


def need_shells() -> None:
    """bash, zsh and fish come from Debian packages: skipped where missing, but under CI=true a skip is a failure."""
    missing = [name for name, path in SHELLS.items() if shutil.which(path) is None]
    if not missing:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the login-shell tests need {', '.join(missing)} (.ci/run installs them)")
    pytest.skip(f"needs {', '.join(missing)}")


def real_files() -> dict[str, bytes | None]:
    """What the machine's own files the profiles could go to hold: the tests must leave them as they are."""
    state: dict[str, bytes | None] = {}
    for name in REAL:
        path = Path(name)
        state[name] = path.read_bytes() if path.is_file() else (b"<dir>" if path.exists() else None)
    return state


def env_lines(output: str) -> dict[str, str]:
    """PATH and UVSHARE_CONFIG from `env` lines in OUTPUT."""
    pairs = (line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {k: v for k, v in pairs if k in ("PATH", "UVSHARE_CONFIG")}


def printed(output: str, prefix: str) -> str:
    """The line OUTPUT prints after PREFIX."""
    (line,) = [line for line in output.splitlines() if line.startswith(prefix)]
    return line[len(prefix) :]


def test_members_login_shells_find_shared_tools_pythons_and_the_config_roots_none(box1: Sandbox) -> None:
    """`share setup --profile` with its default files, then members' real login shells — bash, zsh and fish — call a
    shared tool and the shared python3.12 by name (Debian 12 has no python3.12 of its own) and have UVSHARE_CONFIG
    naming the test's config, which is at no default place; uvshare itself then works there. Root's login shells get
    none of it; a login shell inside a login shell appends nothing twice; `--no-profile` takes it all back, leaving
    zsh's zprofile as it was."""
    need_shells()
    box = box1
    before = real_files()
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", *tool_install_args(wheels, "hello-a"))
    box.ok("root", "uvshare", "python", "install", "3.12")
    python = box.shared / "bin" / "python3.12"
    assert python.exists()
    etc = Etc.below(box.root)
    setup = box.ok("root", *etc.wrap("uvshare", "share", "setup", "--profile"))
    for written in (
        "/etc/profile.d/uvshare.sh",
        "uvshare's block in /etc/zsh/zprofile",
        "/etc/fish/conf.d/uvshare.fish",
    ):
        assert f"✓ wrote {written} (" in setup.stdout, str(setup)
    assert (etc.upper / "profile.d" / "uvshare.sh").is_file() and (
        etc.upper / "fish" / "conf.d" / "uvshare.fish"
    ).is_file()
    assert (etc.upper / "zsh" / "zprofile").read_text().startswith(Path("/etc/zsh/zprofile").read_text())

    bins = [str(box.shared / "bin"), str(box.shared / "tool-bin")]
    probe = "hello-a; python3.12 -c 'import sys; print(sys.executable)'; env | grep -E '^(PATH|UVSHARE_CONFIG)='"
    uvshare = f"UVSHARE_UV={box.uv} {box.bin_dir / 'uvshare'} tool dir"
    for user, shell in (("alice", "bash"), ("bob", "zsh"), ("carol", "fish")):
        member = etc.login(box, user, shell, f"{probe}; {uvshare}")
        lines = member.stdout.splitlines()
        assert lines[:2] == ["hello-a 1.0", str(python)], f"{shell}: {member}"
        env = env_lines(member.stdout)
        assert env.get("UVSHARE_CONFIG") == str(box.config), f"{shell}: {member}"
        assert env["PATH"].split(":")[-2:] == bins, f"{shell}: {member}"
        assert lines[-1] == str(box.shared / "tools"), f"{shell}: uvshare in the login shell: {member}"
        nested = etc.login(box, user, shell, f"exec {SHELLS[shell]} -l -c 'printenv PATH'")
        assert [nested.stdout.strip().split(":").count(d) for d in bins] == [1, 1], f"{shell}: {nested}"

        root = etc.login(box, "root", shell, probe)
        assert "hello-a 1.0" not in root.stdout and str(python) not in root.stdout, f"{shell}: {root}"
        assert "UVSHARE_CONFIG" not in env_lines(root.stdout) and str(box.shared) not in root.stdout, f"{shell}: {root}"

    removed = box.ok("root", *etc.wrap("uvshare", "share", "setup", "--no-profile"))
    assert "✓ removed uvshare's block from /etc/zsh/zprofile" in removed.stdout, str(removed)
    assert not (etc.upper / "profile.d" / "uvshare.sh").exists()
    assert not (etc.upper / "fish" / "conf.d" / "uvshare.fish").exists()
    assert (etc.upper / "zsh" / "zprofile").read_bytes() == Path("/etc/zsh/zprofile").read_bytes()
    for user, shell in (("alice", "bash"), ("bob", "zsh"), ("carol", "fish")):
        gone = etc.login(box, user, shell, "env | grep -E '^(PATH|UVSHARE_CONFIG)='")
        assert env_lines(gone.stdout).keys() == {"PATH"} and str(box.shared) not in gone.stdout, f"{shell}: {gone}"
    assert real_files() == before


def test_profiles_are_written_once_kept_in_place_and_removed_the_way_they_were_written(box1: Sandbox) -> None:
    """The three files named by their switches: written through a temporary file and a rename, unchanged when run
    again, zsh's block put at the end of a file others own (its text and mode kept) and replaced where it stands
    when the dirs change; `--no-profile` with the same switches removes uvshare's files and block, restoring that
    file byte for byte, and leaves a file uvshare did not write alone (exit 1, saying so)."""
    box = box1
    files = box.root / "profiles"
    files.mkdir(mode=0o755)
    sh, zsh, fish = files / "uvshare.sh", files / "zprofile", files / "uvshare.fish"
    original = "# the admin's own zprofile\nexport EDITOR=vi\n"
    zsh.write_text(original)
    zsh.chmod(0o640)
    switches = ["--profile-file", str(sh), "--zsh-profile-file", str(zsh), "--fish-profile-file", str(fish)]
    first = box.ok("root", "uvshare", "share", "setup", *switches)
    assert all(f"✓ wrote {p}" in first.stdout for p in (sh, f"uvshare's block in {zsh}", fish)), str(first)
    assert zsh.read_text().startswith(original) and oct(zsh.stat().st_mode & 0o777) == oct(0o640)
    stamps = [p.stat().st_mtime_ns for p in (sh, zsh, fish)]
    again = box.ok("root", "uvshare", "share", "setup", *switches)
    assert again.stdout.count("✓ unchanged: ") == 3, str(again)
    assert [p.stat().st_mtime_ns for p in (sh, zsh, fish)] == stamps

    zsh.write_text(zsh.read_text() + "alias ll='ls -l'\n")  # the admin goes on editing it
    box.write_config(tool_bin_dir=str(box.root / "elsewhere" / "tool-bin"))
    box.ok("root", "uvshare", "share", "setup", *switches)
    text = zsh.read_text()
    assert text.count("# >>> uvshare:") == 1 and str(box.root / "elsewhere") in text
    assert text.startswith(original) and text.endswith("# <<< uvshare <<<\nalias ll='ls -l'\n")

    fish.write_text("set -gx EDITOR vi\n")  # somebody else's file where uvshare's was
    removed = box.run("root", "uvshare", "share", "setup", "--no-profile", *switches)
    assert removed.returncode == 1 and f"left {fish} alone: uvshare did not write it" in removed.stdout, str(removed)
    assert not sh.exists() and fish.read_text() == "set -gx EDITOR vi\n"
    assert zsh.read_text() == original + "alias ll='ls -l'\n" and oct(zsh.stat().st_mode & 0o777) == oct(0o640)
    fish.unlink()
    nothing = box.ok("root", "uvshare", "share", "setup", "--no-profile", *switches)
    assert f"✓ no {sh}" in nothing.stdout and f"nothing to remove in {zsh}" in nothing.stdout, str(nothing)


@pytest.mark.parametrize(
    ("where", "named", "carried"),
    [
        ("/etc/uvshare/config.toml", False, False),  # the system config
        ("/etc/xdg/uvshare/config.toml", False, False),  # the XDG site dir
        ("/etc/uvshare/config.toml", True, False),  # a default place, named by UVSHARE_CONFIG as well
        ("tree", True, True),  # the test's own config, elsewhere
        ("own", False, True),  # the admin's own config ($XDG_CONFIG_HOME): read by nobody else by default
    ],
)
def test_printed_lines_carry_the_config_only_when_it_is_not_at_a_default_place(
    box1: Sandbox, where: str, named: bool, carried: bool
) -> None:
    """`share setup --profile-file` prints a Dockerfile ENV line and a JupyterHub line; like the profile, they set
    UVSHARE_CONFIG when (and only when) the config is not where every login reads one by default. The JupyterHub line
    is Python that gives a spawner the hub's PATH with the bin dirs after it."""
    box = box1
    etc = Etc.below(box.root)
    own = box.root / "admin-config"
    env = {"UVSHARE_CONFIG": "", "XDG_CONFIG_HOME": str(own)}
    if where == "tree":
        config = box.config
    elif where == "own":
        config = own / "uvshare" / "config.toml"
    else:
        config = etc.upper / Path(where).relative_to("/etc")
    if config != box.config:
        config.parent.mkdir(parents=True, mode=0o755)
        config.write_bytes(box.config.read_bytes())
        config.chmod(0o644)
    path = box.config if where == "tree" else (config if where == "own" else Path(where))
    if named:
        env["UVSHARE_CONFIG"] = str(path)
    profile = box.root / "uvshare.sh"
    setup = box.ok("root", *etc.wrap("uvshare", "share", "setup", "--profile-file", profile), env=env)

    bins = f"{box.shared / 'bin'}:{box.shared / 'tool-bin'}"
    expected = f' UVSHARE_CONFIG="{path}"' if carried else ""
    assert printed(setup.stdout, DOCKERFILE) == f'ENV PATH="$PATH:{bins}"{expected}', str(setup)
    c = SimpleNamespace(Spawner=SimpleNamespace(environment={"OTHER": "kept"}))
    exec(printed(setup.stdout, JUPYTERHUB), {"c": c})  # noqa: S102  # the line is for a config file, which is Python
    wanted = {"OTHER": "kept", "PATH": f"{os.environ['PATH']}:{bins}"}
    assert c.Spawner.environment == ({**wanted, "UVSHARE_CONFIG": str(path)} if carried else wanted), str(setup)
    assert (f"UVSHARE_CONFIG={path}" in profile.read_text()) == carried
    assert ("UVSHARE_CONFIG" in profile.read_text()) == carried


def test_profiles_need_a_real_file_and_the_zsh_block_both_its_lines(box1: Sandbox) -> None:
    """A symlink where zsh's file is, or a block whose last line is gone: one error line naming the file, and none of
    the profiles written (they are all worked out before any is written)."""
    box = box1
    files = box.root / "profiles"
    files.mkdir(mode=0o755)
    sh, zsh = files / "uvshare.sh", files / "zprofile"
    zsh.symlink_to("/etc/zsh/zprofile")
    switches = ["--profile-file", str(sh), "--zsh-profile-file", str(zsh)]
    linked = box.run("root", "uvshare", "share", "setup", *switches)
    assert linked.returncode == 2 and f"{zsh} is a symlink, not a regular file" in linked.stderr, str(linked)
    assert not sh.exists()
    zsh.unlink()
    zsh.write_text("# >>> uvshare: an old block that lost its end\n")
    cut = box.run("root", "uvshare", "share", "setup", *switches)
    assert cut.returncode == 2 and "mend it by hand" in cut.stderr and cut.stderr.count("\n") == 1, str(cut)
    assert not sh.exists()


def test_members_of_one_tree_get_its_bin_dirs_without_a_module(box1: Sandbox) -> None:
    """A machine of two trees (their configs in the trees dir): `share setup --profile` with one tree's config writes
    profiles for both. In real login shells — bash, zsh, fish — a member of one tree's group alone gets that tree's
    bin dirs on PATH (and no UVSHARE_CONFIG: uvshare picks a member's only tree itself); a member of both gets neither
    (a module picks one); root gets none."""
    need_shells()
    box = box1
    group = f"{PREFIX}-tb"
    run_root("groupadd", group)
    try:
        for user in ("bob", "dave"):
            run_root("usermod", "-aG", group, box.users[user].name)
        tree_dir = box.root / "etc" / "trees"
        tree_dir.mkdir()
        (tree_dir / "proja.toml").write_text(box.config.read_text())
        b = box.root / "projb" / "uv"
        text = box.config.read_text().replace(str(box.shared), str(b)).replace(f'"{GROUP}"', f'"{group}"')
        (tree_dir / "projb.toml").write_text(text)
        etc = Etc.below(box.root)
        env = {"UVSHARE_CONFIG": str(tree_dir / "proja.toml"), "UVSHARE_TREES_DIR": str(tree_dir)}
        setup = box.ok("root", *etc.wrap("uvshare", "share", "setup", "--profile"), env=env)
        a_bins, b_bins = ([str(p / "bin"), str(p / "tool-bin")] for p in (box.shared, b))
        wanted = {"alice": a_bins, "bob": [], "dave": b_bins, "root": []}  # bob: in both groups
        for shell in SHELLS:
            for user, bins in wanted.items():
                login = etc.login(box, user, shell, "env | grep -E '^(PATH|UVSHARE_CONFIG)='")
                got = env_lines(login.stdout)
                assert "UVSHARE_CONFIG" not in got, f"{shell} {user}: {login}"
                tree_dirs = [d for d in got["PATH"].split(":") if d.startswith(str(box.root))]
                assert tree_dirs == bins, f"{shell} {user}: {login}"
        assert "the bin dirs of their tree on PATH, if they are in one tree's group (2 trees)" in setup.stdout
    finally:
        run_root("groupdel", group)
