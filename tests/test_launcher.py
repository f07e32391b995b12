"""`uvshare share launcher`: a faster launcher that can stand in front of the real uv under the name uv."""

from __future__ import annotations

import subprocess

from tests.support.harness import Sandbox


def test_fast_launcher_as_uv(box1: Sandbox) -> None:
    box = box1
    fast = box.root / "fast" / "uv"
    fast.parent.mkdir(mode=0o755)
    wrote = box.ok("root", "uvshare", "share", "launcher", fast)
    assert f"wrote {fast}" in wrote.stdout
    text = fast.read_text()
    assert text.startswith(f"#!{box.bin_dir / 'python'} -IS\n") and "from uvshare.shim import main" in text
    assert fast.stat().st_mode & 0o777 == 0o755

    real = subprocess.run([box.uv, "--version"], capture_output=True, text=True, check=True).stdout
    path = f"{fast.parent}:{box.uv.parent}:/usr/bin:/bin"  # the launcher first, the real uv later: no recursion
    for user in ("root", "alice"):
        assert box.ok(user, "uv", "--version", env={"PATH": path}).stdout == real
    assert box.ok("alice", "uv", "share", "--version", env={"PATH": path}).stdout.startswith("uvshare ")
    box.ok("root", "uv", "python", "install", "3.12", env={"PATH": path})
    again = box.ok("alice", "uv", "python", "install", "3.12", env={"PATH": path})
    assert "is already installed at" in again.stderr
    # -I: a caller's PYTHONPATH cannot put other code in front of uvshare's
    evil = box.root / "evil"
    evil.mkdir(mode=0o755)
    (evil / "uvshare").mkdir(mode=0o755)
    (evil / "uvshare" / "__init__.py").write_text("raise SystemExit('hijacked')\n")
    assert box.ok("root", "uv", "--version", env={"PATH": path, "PYTHONPATH": str(evil)}).stdout == real

    # written again over itself is fine; over anything else only with --force
    box.ok("root", "uvshare", "share", "launcher", fast)
    other = box.root / "fast" / "not-uvshare"
    other.write_text("#!/bin/sh\necho keep me\n")
    refused = box.run("root", "uvshare", "share", "launcher", other)
    assert refused.returncode == 2 and "is not a uvshare launcher" in refused.stderr and "--force" in refused.stderr
    assert other.read_text() == "#!/bin/sh\necho keep me\n"
    box.ok("root", "uvshare", "share", "launcher", "--force", other)
    assert "uvshare.shim" in other.read_text()
    assert [p.name for p in fast.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left behind


def test_launcher_into_a_dir_nobody_may_write(box1: Sandbox) -> None:
    locked = box1.root / "locked"
    locked.mkdir(mode=0o755)
    result = box1.run("alice", "uvshare", "share", "launcher", locked / "uv")
    assert result.returncode == 2
    assert result.stderr == (
        f"uvshare: error: cannot write {locked}/uv: {locked} is not yours to write in; run it as root ('sudo uvshare "
        f"share launcher {locked}/uv'), or name a file in a dir of yours\n"
    )
