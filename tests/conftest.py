"""Fixtures: real users and group, the real uv (several versions), a local Python mirror, installed uvshare."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import harness
from tests.support.harness import NEWEST, Sandbox

# The multi-user suite runs against each of these uv versions (PyPI `uv` package; "newest" = the test extra's).
UV_VERSIONS = os.environ.get("UVSHARE_TEST_UV_VERSIONS", f"{NEWEST},0.6.14").split(",")
# The version in the original report, whose lock files come out 0644; its Python installs verify built-in checksums,
# so it cannot install from the local mirror: it runs the tool tests only.
OLDEST_FOR_TOOLS = "0.4.20"


@pytest.fixture(scope="session")
def users() -> dict[str, harness.User]:
    """The test group, three members and one outsider; removed at the end."""
    harness.need_root()
    try:
        yield harness.create_users()
    finally:  # after a failure too
        harness.remove_users()


@pytest.fixture(scope="session", autouse=True)
def run_dir() -> Iterator[None]:
    """This run's own dir below BASE (venv, trees, wheel), removed at the end however the run went."""
    yield
    if os.geteuid() == 0 and not os.environ.get("UVSHARE_TEST_KEEP"):
        shutil.rmtree(harness.RUN_BASE, ignore_errors=True)


@pytest.fixture(scope="session")
def mirror() -> str:
    """A local mirror of CPython builds for `uv python install` (no network)."""
    harness.need_root()
    from tests.support.pymirror import build_mirror

    return str(build_mirror(harness.BASE / "mirror"))


@pytest.fixture(scope="session")
def newest_uv() -> Path:
    """The newest real uv, where every test user can run it."""
    harness.need_root()
    return harness.install_uv(NEWEST)


@pytest.fixture(scope="session")
def uvshare_bin(newest_uv: Path) -> Path:
    """The bin dir of a venv (reachable by every user) with this checkout installed."""
    return harness.install_uvshare(newest_uv)


@pytest.fixture(scope="session")
def uvshare_wheel(newest_uv: Path) -> Path:
    """A wheel of this checkout, built once per session (uv build, in an isolated build environment)."""
    return build_wheel(newest_uv, harness.REPO, harness.RUN_BASE / "wheel")


def build_wheel(uv: Path, source: Path, out: Path) -> Path:
    """A wheel of SOURCE in OUT (emptied first), built by uv in an isolated build environment, readable by all."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "UV_CACHE_DIR": str(harness.BASE / "install-cache")}
    harness.run_root(uv, "build", "--quiet", "--wheel", "--out-dir", out, source, env=env)
    harness.make_public(out)
    (wheel,) = out.glob("uvshare-*.whl")
    return wheel


@pytest.fixture(scope="session")
def newer_uvshare_wheel(newest_uv: Path) -> Path:
    """A wheel of this checkout that says it is uvshare 99.0.0: what an upgrade brings."""
    tree = harness.RUN_BASE / "newer-src"
    shutil.rmtree(tree, ignore_errors=True)
    files = subprocess.run(["git", "ls-files"], cwd=harness.REPO, capture_output=True, text=True, check=True)
    for name in files.stdout.split():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        if (harness.REPO / name).is_file():
            shutil.copy2(harness.REPO / name, tree / name)
    init = tree / "uvshare" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "99.0.0"', init.read_text()))
    return build_wheel(newest_uv, tree, harness.RUN_BASE / "newer-wheel")


@pytest.fixture(scope="session", params=UV_VERSIONS)
def uv_bin(request: pytest.FixtureRequest) -> Path:
    """Each real uv version the multi-user suite runs against."""
    harness.need_root()
    return harness.install_uv(request.param)


@contextlib.contextmanager
def _sandbox(
    request: pytest.FixtureRequest, users: dict[str, harness.User], mirror: str, uvshare_bin: Path, uv: Path
) -> Iterator[Sandbox]:
    """A fresh shared tree below BASE/runs for one test; removed afterwards (unless UVSHARE_TEST_KEEP is set)."""
    runs = harness.public_dir(harness.RUN_BASE / "runs")
    name = re.sub(r"[^\w.-]+", "_", request.node.name)[:48]
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=runs))
    root.chmod(0o755)
    box = Sandbox(root, uvshare_bin, uv, mirror, users)
    box.write_config()
    try:
        yield box
    finally:
        # a test that bind-mounts part of its tree read-only may have failed before unmounting it
        for line in reversed(Path("/proc/self/mounts").read_text().split("\n")):
            fields = line.split()
            if len(fields) > 1 and fields[1].startswith(str(box.root)):
                subprocess.run(["umount", "-l", fields[1]], check=False)
        if not os.environ.get("UVSHARE_TEST_KEEP"):  # set it to look at a failed test's tree afterwards
            shutil.rmtree(box.root, ignore_errors=True)


@pytest.fixture
def box(
    request: pytest.FixtureRequest, users: dict[str, harness.User], mirror: str, uvshare_bin: Path, uv_bin: Path
) -> Iterator[Sandbox]:
    """A fresh shared tree and config, run against each uv version."""
    with _sandbox(request, users, mirror, uvshare_bin, uv_bin) as sandbox:
        yield sandbox


@pytest.fixture(params=[*UV_VERSIONS, OLDEST_FOR_TOOLS])
def tool_box(
    request: pytest.FixtureRequest, users: dict[str, harness.User], mirror: str, uvshare_bin: Path
) -> Iterator[Sandbox]:
    """A fresh shared tree and config for tool tests, run against each uv version and uv 0.4.20 as well."""
    with _sandbox(request, users, mirror, uvshare_bin, harness.install_uv(request.param)) as sandbox:
        yield sandbox


@pytest.fixture
def box1(
    request: pytest.FixtureRequest, users: dict[str, harness.User], mirror: str, uvshare_bin: Path, newest_uv: Path
) -> Iterator[Sandbox]:
    """A fresh shared tree and config, with the newest uv only."""
    with _sandbox(request, users, mirror, uvshare_bin, newest_uv) as sandbox:
        yield sandbox


@pytest.fixture
def no_protected_hardlinks() -> Iterator[None]:
    """fs.protected_hardlinks off for the test, so a member can hard-link a file they do not own (an attack)."""
    with harness.protected_hardlinks_off():
        yield
