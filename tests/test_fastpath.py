"""Differential test: the skip path's own answer for plain requests agrees with `uv python find` (the real uv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import Sandbox
from uvshare.skip import FIND_FLAGS, INSTALLED, UNSURE, answer_from_names, platform_suffix

REQUESTS = [
    "3.11",
    "3.11.7",
    "3.11.6",
    "cpython@3.11",
    "cpython@3.11.7",
    "3.12",
    "3.12.1",
    "3.10",
    "3.10.13",
    "3.13",
    "3.13.0",
    "3.13t",
    ">=3.11",
    "3",
    "cpython",
    "pypy@3.10",
    "3.9",
    "cpython@3.12.1",
    "3.011",
    "cpython-3.11.7-linux-x86_64-gnu",
    "cpython-3.12.1-linux-x86_64-gnu",
    "cpython-3.10.13-linux-x86_64-gnu",
]


def uv_find(box: Sandbox, request: str) -> str | None:
    """The install dir name uv's own `python find` picks for REQUEST, or None."""
    result = box.run(
        "root",
        box.uv,
        "python",
        "find",
        *FIND_FLAGS,
        request,
        env={"UV_PYTHON_INSTALL_DIR": str(box.shared / "python"), "UVSHARE_CONFIG": ""},
    )
    if result.returncode != 0:
        return None
    found = Path(result.stdout.strip()).resolve()
    root = (box.shared / "python").resolve()
    return found.relative_to(root).parts[0] if root in found.parents else None


def test_fast_answers_agree_with_uv_find(box: Sandbox) -> None:
    assert platform_suffix() == "-linux-x86_64-gnu"  # the machine these tests run on: the fast path is in use
    python_dir = box.shared / "python"
    box.ok("root", "uvshare", "python", "install", "3.11", "3.12", "3.10")
    # a removed install (its minor-version link may dangle), a half-extracted one in .temp, another platform's key,
    # an empty leftover dir and a freethreaded variant that is not really there
    box.ok("root", "uvshare", "python", "uninstall", "3.10")
    (python_dir / ".temp" / "cpython-3.13.0-linux-x86_64-gnu" / "bin").mkdir(parents=True)
    (python_dir / ".temp" / "cpython-3.13.0-linux-x86_64-gnu" / "bin" / "python3.13").write_text("")
    other = python_dir / "cpython-3.13.0-linux-aarch64-gnu" / "bin"
    other.mkdir(parents=True)
    (other / "python3.13").write_text("#!/bin/sh\n")
    (other / "python3.13").chmod(0o755)
    (python_dir / "cpython-3.10.13-linux-x86_64-gnu").mkdir()
    (python_dir / "cpython-3.13.0+freethreaded-linux-x86_64-gnu").mkdir()

    decided = 0
    env = {"UV_PYTHON_INSTALL_DIR": str(python_dir)}
    for request in REQUESTS:
        state, names = answer_from_names([request], env)
        if state == UNSURE:
            continue
        decided += 1
        assert (names[0] if state == INSTALLED else None) == uv_find(box, request), request
    assert decided >= 8  # the fast path answered most plain requests itself


@pytest.mark.parametrize("request_text", ["3.12", "3.12.1", "cpython@3.12"])
def test_skip_path_answers_without_uv(box1: Sandbox, request_text: str) -> None:
    """With the fast answer, the skip works even when uv cannot run at all (here: a uv that always fails)."""
    box1.ok("root", "uvshare", "python", "install", "3.12")
    broken = box1.root / "broken-uv"
    broken.write_text("#!/bin/sh\nexit 99\n")
    broken.chmod(0o755)
    result = box1.ok("alice", "uvshare", "python", "install", request_text, env={"UVSHARE_UV": str(broken)})
    assert "Python 3.12.1 is already installed" in result.stderr
