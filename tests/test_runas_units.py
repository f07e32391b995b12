"""Pieces of uvshare.runas: what reaches root's terminal (or log) from the install-user's uv, the tree's lock, and
what root's command ends when the run is over (only its own descendants)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uvshare.config import Config
from uvshare.errors import UvshareError
from uvshare.runas import Shown, hold_lock, kill_descendants, lock_name, normal_name, relay


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
    assert Shown().feed(raw, final=True) == shown  # (a whole stream)


# A C1 CSI (U+009B) in UTF-8 is C2 9B: a member's code writes it in two pieces, each harmless on its own.
SPLIT_CSI = [b"red: \xc2", b"\x9b31m", b"!\n"]


def test_a_control_split_across_reads_is_still_shown_harmless() -> None:
    shown = Shown()
    out = b"".join(shown.feed(piece) for piece in SPLIT_CSI) + shown.feed(b"", final=True)
    assert out == b"red: \\xc2\\x9b31m!\n"


@pytest.mark.parametrize(
    ("pieces", "shown"),
    [
        ([b"\xc2"], b"\\xc2"),  # a lead byte at the very end: whatever root prints next cannot complete it
        ([b"\x9b31m"], b"\\x9b31m"),  # a bare C1 byte (CSI to a terminal in an 8-bit mode)
        ([b"caf\xc3", b"\xa9\n"], "caf\u00e9\n".encode()),  # UTF-8 split across reads passes whole
        ([b"\xe2\x82", b"\xac"], "\u20ac".encode()),
    ],
)
def test_what_is_held_back_between_reads(pieces: list[bytes], shown: bytes) -> None:
    stream = Shown()
    assert b"".join(stream.feed(p) for p in pieces) + stream.feed(b"", final=True) == shown


def test_the_relay_filters_split_controls_into_a_pipe(tmp_path: Path) -> None:
    """The relay itself, writing to a file (root's `| tee log`, not a terminal): the split C1 arrives harmless."""
    data_r, data_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  # the child: writes the pieces one by one
        os.close(data_r)
        os.close(err_r)
        for piece in SPLIT_CSI:
            os.write(data_w, piece)
            time.sleep(0.05)
        os._exit(0)
    os.close(data_w)
    os.close(err_w)
    out = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        status, _tail = relay(pid, {data_r: out, err_r: out}, None)
    finally:
        os.close(out)
    assert status == 0
    assert (tmp_path / "log").read_bytes() == b"red: \\xc2\\x9b31m!\n"


def tree(prefix: str) -> Config:
    """A config of a tree below PREFIX (only what the lock looks at)."""
    dirs = {"python-install-dir": f"{prefix}/python", "tool-dir": f"{prefix}/tools"}
    return Config({"install-user": "inst", **dirs}, dict.fromkeys(dirs, f"{prefix}.toml"), (f"{prefix}.toml",))


def test_each_tree_has_a_lock_of_its_own() -> None:
    assert lock_name(tree("/opt/a")) != lock_name(tree("/opt/b"))
    assert lock_name(tree("/opt/a")) == lock_name(tree("/opt/a"))


@pytest.mark.skipif(os.geteuid() != 0, reason="the lock is root's alone")
def test_nobody_at_a_terminal_waits_for_a_deadline_and_is_told_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Another of root's commands holds tree A's lock: tree B's is taken at once; A's, with stdin not a terminal,
    waits the deadline, then one error line names the tree."""
    locks = str(tmp_path / "locks")
    monkeypatch.setattr("uvshare.runas.WAIT_DEADLINE", 1)
    held = hold_lock(tree("/opt/a"), locks)
    assert held is not None
    other = hold_lock(tree("/opt/b"), locks)
    assert other is not None
    os.close(other)
    stdin = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    try:
        with pytest.raises(UvshareError, match=r"/opt/a\.toml"):
            hold_lock(tree("/opt/a"), locks)
    finally:
        os.dup2(stdin, 0)
        os.close(stdin)
        os.close(null)
        os.close(held)
    assert "waiting for another of root's uv commands on the tree of /opt/a.toml (/opt/a)" in capfd.readouterr().err


def test_only_our_own_descendants_are_ended() -> None:
    """What a child left behind (a daemon: double fork, setsid) is ended; a process this test started that is not
    below the ending process (a sibling) lives on. kill_descendants runs in a child of its own: a subreaper."""
    from uvshare.runas import PR_SET_CHILD_SUBREAPER, libc_call

    outsider = subprocess.Popen(["sleep", "60"])
    marks_r, marks_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  # the ending process
        try:
            libc_call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            daemon = (
                "import os,time\nif os.fork()==0:\n os.setsid()\n if os.fork()==0:\n"
                f"  os.write({marks_w}, str(os.getpid()).encode()+b'\\n'); time.sleep(60)\n"
            )
            subprocess.run([sys.executable, "-c", daemon], pass_fds=(marks_w,), check=True)
            time.sleep(0.3)
            kill_descendants()
        finally:
            os._exit(0)
    os.close(marks_w)
    os.waitpid(pid, 0)
    with os.fdopen(marks_r) as f:
        left = int(f.read().split()[0])
    try:
        assert not Path(f"/proc/{left}").exists() or b"Z" in Path(f"/proc/{left}/stat").read_bytes().split()[2]
        assert outsider.poll() is None
    finally:
        outsider.send_signal(signal.SIGKILL)
        outsider.wait()


@pytest.mark.parametrize(("name", "dir_name"), [("Hello_A", "hello-a"), ("a..b__c", "a-b-c"), ("ruff", "ruff")])
def test_tool_names_as_uv_names_their_dirs(name: str, dir_name: str) -> None:
    assert normal_name(name) == dir_name


def test_setup_denies_the_install_user_every_scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job left with cron or at would run outside root's command, as the install-user, when root's next one does:
    setup adds the account to each installed scheduler's deny file (made where missing, appended where present), and
    then no scheduler takes its jobs; one not installed is left alone; an allow file naming it is root's to mend."""
    from uvshare.admin import setup

    cron, at, batch = tmp_path / "crontab", tmp_path / "at", tmp_path / "batch"
    cron.touch()
    at.touch()
    (tmp_path / "at.deny").write_text("guest")  # Debian's at ships one: kept, its last line ended
    schedulers = (
        (str(cron), str(tmp_path / "cron.allow"), str(tmp_path / "cron.deny"), True),
        (str(at), str(tmp_path / "at.allow"), str(tmp_path / "at.deny"), True),
        (str(batch), str(tmp_path / "batch.allow"), str(tmp_path / "batch.deny"), True),  # not installed
    )
    monkeypatch.setattr(setup, "SCHEDULERS", schedulers)
    assert setup.scheduling_open("inst") == [str(cron), str(at)]
    assert len(setup.deny_scheduling("inst")) == 2
    assert setup.scheduling_open("inst") == []
    assert (tmp_path / "cron.deny").read_text() == "inst\n"
    assert (tmp_path / "at.deny").read_text() == "guest\ninst\n"
    assert not (tmp_path / "batch.deny").exists()
    assert setup.deny_scheduling("inst") == []  # again: nothing to do
    (tmp_path / "cron.allow").write_text("inst\n")
    with pytest.raises(UvshareError, match=r"cron\.allow"):
        setup.deny_scheduling("inst")
