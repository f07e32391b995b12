"""The README's first line, run as written, as root and as a user: it makes no account in group 0, gives no advice to
change /tmp, and the undo command it prints leaves no account and no config behind.

Each command runs in a mount namespace of its own whose /etc is an overlay (the machine's /etc below, the test's dir
on top: the account useradd makes lands there) and whose /tmp is the test's own world-writable sticky dir (as /tmp is
on most machines), so `/tmp/uvshare-demo` is the test's alone. pip installs offline, through its own environment
variables, from the wheels the image tests use; nothing of the README's line is edited.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import harness
from tests.support.images import download_wheels

MARKER = "install uvshare and set up a shared tree"
# The mounts, then the command: run as root in `unshare --mount` (paths: $1 etc upper, $2 etc work, $3 tmp, $4 cwd).
# The lock files of the machine's useradd runs (other test runs') are taken out of the namespace's /etc: its
# passwd and group are its own.
MOUNTS = (
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && mount --bind "$3" /tmp && cd "$4" '
    "&& rm -f /etc/passwd.lock /etc/shadow.lock /etc/group.lock /etc/gshadow.lock /etc/.pwd.lock "
    '&& shift 4 && exec "$@"'
)


def readme_line() -> str:
    """The README's command on the line ending in `# MARKER`, without that comment (as .ci/run reads it)."""
    for line in (harness.REPO / "README.md").read_text().splitlines():
        if line.endswith(f"# {MARKER}"):
            return re.sub(rf"\s+# {re.escape(MARKER)}$", "", line)
    raise AssertionError(f"README.md has no line ending in '# {MARKER}'")


def fresh_clone(dest: Path) -> None:
    """This checkout's files (tracked and new, as the working tree has them) at DEST, as a clone would have them."""
    listed = subprocess.run(
        ["git", "-C", harness.REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = harness.REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


# Other test runs on this machine add and remove their users and groups in the real /etc meanwhile (their names:
# harness.PREFIX); the namespace's copy of /etc/passwd holds them as they were when it was written.
OTHER_RUNS = re.compile(r"ut[0-9a-f]{6}-")


def accounts(text: str) -> dict[str, tuple[str, str]]:
    """/etc/passwd's lines by name (gid, uid), or /etc/group's (members, gid); other test runs' left out."""
    fields = (line.split(":") for line in text.splitlines())
    return {f[0]: (f[3], f[2]) for f in fields if len(f) > 3 and not OTHER_RUNS.match(f[0])}


@pytest.mark.parametrize("who", ["root", "alice"])
def test_readme_first_line_makes_nothing_in_group_0_and_its_undo_takes_back_what_it_made(
    users: dict[str, harness.User], who: str
) -> None:
    """The first line as WHO, then the undo command it printed: nothing in group 0 meanwhile (no account with gid 0,
    nobody added to a group), no `chmod g-w /tmp`; afterwards no account, no group and no config of uvshare's."""
    user = users[who]
    root = harness.public_dir(harness.RUN_BASE / "first-line" / who)
    shutil.rmtree(root)
    for name in ("etc-upper", "etc-work", "tmp", "clone", "home"):
        (root / name).mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    fresh_clone(root / "clone")
    for path in (root / "clone", root / "home", *(root / "clone").rglob("*")):
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
    wheels = download_wheels(harness.install_uv(harness.NEWEST).parent.parent.name.removeprefix("uv-"))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    as_user = [] if user.is_root else ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]

    def run(command: str) -> subprocess.CompletedProcess[str]:
        mounts = [str(root / n) for n in ("etc-upper", "etc-work", "tmp", "clone")]
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", MOUNTS, "sh", *mounts]
        return subprocess.run(
            [*cmd, *as_user, "sh", "-c", command], env=env, capture_output=True, text=True, timeout=600, check=False
        )

    def etc(name: str) -> dict[str, tuple[str, str]]:
        """The namespace's /etc/NAME: the test's copy where something wrote it, else the machine's."""
        written = root / "etc-upper" / name
        return accounts((written if written.exists() else Path("/etc") / name).read_text())

    before = {name: accounts((Path("/etc") / name).read_text()) for name in ("passwd", "group")}
    first = run(readme_line())
    shown = f"{first.stdout}{first.stderr}"
    assert first.returncode == 0, shown
    assert first.stdout.splitlines()[-1] == "/tmp/uvshare-demo/tree/tools", shown
    assert not re.search(r"chmod \S+ /tmp\b(?!/)", shown), shown  # (nor any other sticky dir of root's)
    made = {name: etc(name).items() - before[name].items() for name in ("passwd", "group")}
    in_group_0 = [name for name, (gid, _) in made["passwd"] if gid == "0"]
    assert not in_group_0, f"accounts in group 0: {in_group_0}\n{shown}"
    widened = [name for name, (_, members) in made["group"] if name in before["group"]]
    assert not widened, f"groups given a member: {widened}\n{shown}"
    if user.is_root:
        assert [name for name, _ in made["passwd"]] == ["uvshare-install"], shown
    (undo,) = [line.removeprefix("undo: ") for line in first.stdout.splitlines() if line.startswith("undo: ")]
    undo = undo.split(" (")[0]
    assert undo == "uvshare share teardown --config /tmp/uvshare-demo/config.toml", shown

    # the undo, as printed, in a shell that has what the first line's shell had (the venv's bin on PATH)
    env["PATH"] = f"/tmp/uvshare-demo/venv/bin:{env['PATH']}"
    undone = run(undo)
    shown = f"{undone.stdout}{undone.stderr}"
    assert undone.returncode == 0, shown
    assert etc("passwd") == before["passwd"] and etc("group") == before["group"], shown
    assert "✓ removed the config /tmp/uvshare-demo/config.toml" in undone.stdout, shown
    assert "'rm -rf /tmp/uvshare-demo/tree' removes it" in undone.stdout, shown
    left = sorted(p.name for p in (root / "tmp" / "uvshare-demo").iterdir())
    assert left == ["tree", "venv"], f"{left}\n{shown}"  # the tree's data and the README's own venv, nothing else
