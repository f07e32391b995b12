"""Pure pieces of uvshare.runas: what reaches root's terminal from the install-user's uv, and whose a process is."""

from __future__ import annotations

import os

import pytest

from uvshare.runas import harmless, is_theirs, normal_name


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"Installed 1 executable: ruff\n", b"Installed 1 executable: ruff\n"),
        (b"tab\there\r\n", b"tab\there\r\n"),
        (b"\x1b]0;pwned\x07", b"\\x1b]0;pwned\\x07"),  # a window title
        (b"\x1b]52;c;ZXZpbA==\x07", b"\\x1b]52;c;ZXZpbA==\\x07"),  # the clipboard (OSC 52)
        (b"\x1b[2J\x1b[H$ ", b"\\x1b[2J\\x1b[H$ "),  # a cleared screen and a fake prompt
        ("\u009b31m".encode(), b"\\xc2\\x9b31m"),  # a C1 CSI, in UTF-8
        ("caf\u00e9 \u00a0".encode(), "caf\u00e9 \u00a0".encode()),  # other UTF-8 passes
        (b"\x7f\x00", b"\\x7f\\x00"),
    ],
)
def test_only_harmless_bytes_reach_roots_terminal(raw: bytes, shown: bytes) -> None:
    assert harmless(raw) == shown


def test_a_process_is_judged_by_its_real_effective_and_saved_uid() -> None:
    me = str(os.getpid())
    assert is_theirs(me, os.getuid())
    assert not is_theirs(me, os.getuid() + 12345)


@pytest.mark.parametrize(("name", "dir_name"), [("Hello_A", "hello-a"), ("a..b__c", "a-b-c"), ("ruff", "ruff")])
def test_tool_names_as_uv_names_their_dirs(name: str, dir_name: str) -> None:
    assert normal_name(name) == dir_name
