"""Installing uvshare from a built wheel with pip, uv tool and pipx: each gives a working `uvshare`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import harness

COMPLETIONS = harness.REPO / "completions"


def check_installed(uvshare: Path, uv: Path) -> None:
    """The installed uvshare: its version, a pass-through identical to uv's, and the packaged completion files."""
    env = {"PATH": f"{uv.parent}:/usr/bin:/bin", "HOME": str(uvshare.parent), "UVSHARE_CONFIG": ""}
    from uvshare import __version__

    version = subprocess.run([uvshare, "share", "--version"], env=env, capture_output=True, text=True, check=True)
    assert version.stdout == f"uvshare {__version__}\n"
    real = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout
    assert subprocess.run([uvshare, "--version"], env=env, capture_output=True, text=True, check=True).stdout == real
    for shell, name in (("bash", "uvshare.bash"), ("zsh", "_uvshare"), ("fish", "uvshare.fish")):
        done = subprocess.run([uvshare, "share", "completion", shell], env=env, capture_output=True, check=True)
        assert done.stdout == (COMPLETIONS / name).read_bytes(), shell


@pytest.fixture
def scratch() -> Path:
    harness.need_root()
    path = Path(harness.public_dir(harness.RUN_BASE / "runs"), f"install-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def install_env(scratch: Path) -> dict[str, str]:
    env = {**os.environ, "UV_CACHE_DIR": str(harness.BASE / "install-cache"), "UVSHARE_CONFIG": ""}
    env.pop("VIRTUAL_ENV", None)
    return env


def test_pip_install_wheel(scratch: Path, uvshare_wheel: Path, newest_uv: Path) -> None:
    venv = scratch / "venv"
    env = install_env(scratch)
    harness.run_root(newest_uv, "venv", "--quiet", "--seed", "--python", harness.SYSTEM_PYTHON, venv, env=env)
    harness.run_root(venv / "bin" / "python", "-m", "pip", "install", "--quiet", uvshare_wheel, env=env)
    check_installed(venv / "bin" / "uvshare", newest_uv)


def test_uv_tool_install_wheel(scratch: Path, uvshare_wheel: Path, newest_uv: Path) -> None:
    env = {**install_env(scratch), "UV_TOOL_DIR": str(scratch / "tools"), "UV_TOOL_BIN_DIR": str(scratch / "bin")}
    harness.run_root(newest_uv, "tool", "install", "--quiet", "--python", harness.SYSTEM_PYTHON, uvshare_wheel, env=env)
    check_installed(scratch / "bin" / "uvshare", newest_uv)


def test_pipx_install_wheel(scratch: Path, uvshare_wheel: Path, newest_uv: Path) -> None:
    env = install_env(scratch)
    tools = scratch / "pipx-venv"
    harness.run_root(newest_uv, "venv", "--quiet", "--seed", "--python", harness.SYSTEM_PYTHON, tools, env=env)
    harness.run_root(tools / "bin" / "python", "-m", "pip", "install", "--quiet", "pipx", env=env)
    pipx_env = {
        **env,
        "PIPX_HOME": str(scratch / "pipx"),
        "PIPX_BIN_DIR": str(scratch / "pipx-bin"),
        "PIPX_MAN_DIR": str(scratch / "pipx-man"),
    }
    harness.run_root(tools / "bin" / "pipx", "install", "--python", harness.SYSTEM_PYTHON, uvshare_wheel, env=pipx_env)
    check_installed(scratch / "pipx-bin" / "uvshare", newest_uv)
