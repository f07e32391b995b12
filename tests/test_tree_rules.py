"""Unit tests: which entries are uv's temporary ones, and which files are uv's own locks (by where they lie)."""

from __future__ import annotations

import pytest

from uvshare.admin.tree import is_temporary, uv_lock


@pytest.mark.parametrize(
    ("name", "temporary"),
    [
        (".tmpAbC123", True),  # the tempfile crate's: `.tmp` and six letters or digits
        (".tmpzDCxDu", True),
        (".tmp", False),
        (".tmpAbC12", False),
        (".tmpAbC1234", False),
        (".tmpAbC-12", False),
        ("tmpAbC123x", False),
        (".tmpAbCé12", False),
        (".temp", False),  # the Python install dir's scratch dir: uvshare's to keep shared
    ],
)
def test_temporary_names(name: str, temporary: bool) -> None:
    assert is_temporary(name) is temporary


@pytest.mark.parametrize(
    ("key", "path", "lock"),
    [
        ("python-install-dir", ".lock", True),
        ("tool-dir", ".lock", True),
        ("cache-dir", ".lock", True),
        ("python-bin-dir", ".lock", False),
        ("tool-dir", "ruff/.lock", True),  # a tool env's own (uv pip install into it)
        ("tool-dir", "httpie/lib/python3.12/site-packages/setuptools/_vendor/.lock", False),
        ("cache-dir", "wheels-v8/index/87f7b4ddb57a15a7/hello-a/1.0-py3-none-any.lock", True),
        ("cache-dir", "environments-v2/7fe2c1040d4a8780/5d3a4e76b7820756.lock", True),
        ("cache-dir", "sdists-v11/index/87f7b4ddb57a15a7/pkg/1.0/.lock", True),
        ("cache-dir", "simple-v16/index/87f7b4ddb57a15a7/pkg.lock", True),
        ("cache-dir", "archive-v0/TPV_l5xAYWegynGQ/.lock", True),  # a cached environment's own
        ("cache-dir", "archive-v0/TPV_l5xAYWegynGQ/setuptools/_vendor/.lock", False),
        ("cache-dir", "archive-v0/TPV_l5xAYWegynGQ/lib/python3.12/site-packages/pkg.lock", False),
        ("cache-dir", "stray.lock", False),
        ("cache-dir", "somewhere-else/x.lock", False),
        ("python-install-dir", "cpython-3.12.1-linux-x86_64-gnu/lib/python3.12/x/.lock", False),
    ],
)
def test_uv_locks_by_where_they_lie(key: str, path: str, lock: bool) -> None:
    assert uv_lock(key, path.split("/")) is lock
