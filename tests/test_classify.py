"""Unit tests: which command lines may skip `uv python install`, and which command words change shared dirs."""

from __future__ import annotations

import pytest

from uvshare.shim import CHANGES, command_words
from uvshare.skip import bin_link_name, install_requests


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["python", "install", "3.11"], (["3.11"], False)),
        (["python", "install", "3.10", "3.11.7", "cpython@3.12"], (["3.10", "3.11.7", "cpython@3.12"], False)),
        (["-q", "python", "install", "3.11"], (["3.11"], True)),
        (["python", "install", "--quiet", "3.11"], (["3.11"], True)),
        (["python", "install", "-qq", "3.11"], (["3.11"], True)),
        (["-v", "python", "install", "3.11"], (["3.11"], False)),
        (["--color", "never", "python", "install", "3.11"], (["3.11"], False)),
        (["python", "install", "--color=always", "3.11", "--no-progress", "--offline"], (["3.11"], False)),
        (["python", "install", "3.13t", ">=3.11"], (["3.13t", ">=3.11"], False)),
    ],
)
def test_skippable(args: list[str], expected: tuple[list[str], bool]) -> None:
    assert install_requests(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["python", "install"],  # no request: uv picks from .python-version files
        ["python", "install", "--reinstall", "3.11"],
        ["python", "install", "-r", "3.11"],
        ["python", "install", "--force", "3.11"],
        ["python", "install", "-f", "3.11"],
        ["python", "install", "--upgrade", "3.11"],
        ["python", "install", "-U", "3.11"],
        ["python", "install", "--default", "3.11"],
        ["python", "install", "-i", "/mine", "3.11"],
        ["python", "install", "--install-dir=/mine", "3.11"],
        ["python", "install", "--no-bin", "3.11"],
        ["python", "install", "--compile-bytecode", "3.11"],
        ["python", "install", "--mirror", "file:///m", "3.11"],
        ["python", "install", "--python-downloads-json-url", "/d.json", "3.11"],
        ["python", "install", "--preview", "3.11"],
        ["python", "install", "--some-future-flag", "3.11"],
        ["python", "install", "--", "3.11"],
        ["python", "install", "", "3.11"],
        ["python", "install", "--color"],
        ["--cache-dir", "/c", "python", "install", "3.11"],
        ["python", "find", "3.11"],
        ["python", "uninstall", "3.11"],
        ["tool", "install", "ruff"],
        ["install", "python", "3.11"],
        [],
    ],
)
def test_not_skippable(args: list[str]) -> None:
    assert install_requests(args) is None


@pytest.mark.parametrize(
    ("key", "link"),
    [
        ("cpython-3.11.7-linux-x86_64-gnu", "python3.11"),
        ("cpython-3.13.0+freethreaded-linux-x86_64-gnu", "python3.13t"),
        ("cpython-3.14.0rc1-linux-x86_64-gnu", "python3.14"),
        ("pypy-3.10.14-linux-x86_64-gnu", None),
        ("graalpy-24.1.0-linux-x86_64-gnu", None),
        ("cpython-3-linux-x86_64-gnu", None),
    ],
)
def test_bin_link_name(key: str, link: str | None) -> None:
    assert bin_link_name(key) == link


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["python", "install", "3.12"], ("python", "install")),
        (["--cache-dir", "/x", "tool", "install", "ruff"], ("tool", "install")),
        (["-q", "--color", "never", "python", "uninstall", "3.10"], ("python", "uninstall")),
        (["--color=never", "tool", "upgrade", "ruff"], ("tool", "upgrade")),
        (["python", "install", "-i", "/mine", "3.12"], ("python", "install")),
        (["run", "--python", "3.10", "x.py"], ("run", "3.10")),  # not a changing command either way
    ],
)
def test_command_words(args: list[str], words: tuple[str, ...]) -> None:
    assert command_words(args) == words


def test_changing_commands_name_a_shared_dir() -> None:
    assert set(CHANGES.values()) == {"python-install-dir", "tool-dir"}
