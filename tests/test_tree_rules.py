"""Unit tests: which entries are uv's temporary ones."""

from __future__ import annotations

import pytest

from uvshare.admin.tree import is_temporary


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
