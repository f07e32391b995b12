"""What uvshare hands to uv: argv, exit status, stdin, umask, environment — and uvshare installed as `uv`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.harness import GROUP, Sandbox

# A recording stand-in for uv: writes what it received as JSON, then exits with FAKE_UV_EXIT.
FAKE_UV = """#!/usr/bin/python3
import json, os, sys
record = {
    "argv": [os.fsencode(a).hex() for a in sys.argv[1:]],
    "pid": os.getpid(),
    "umask": os.umask(0),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("UV_", "UVSHARE_"))},
    "stdin": sys.stdin.read() if os.environ.get("FAKE_UV_STDIN") else None,
}
with open(os.environ["FAKE_UV_RECORD"], "w") as f:
    json.dump(record, f)
sys.exit(int(os.environ.get("FAKE_UV_EXIT", "0")))
"""


@pytest.fixture
def fake(box1: Sandbox) -> tuple[Sandbox, Path, Path]:
    """The sandbox, a fake uv (named by UVSHARE_UV) and where it records."""
    fake_uv = box1.root / "fake" / "uv"
    fake_uv.parent.mkdir(mode=0o755)  # root's: root runs only a uv that nobody else can have written
    fake_uv.write_text(FAKE_UV)
    fake_uv.chmod(0o755)
    records = box1.root / "records"
    records.mkdir()
    records.chmod(0o777)  # every test user records there
    record = records / "record.json"
    box1.extra_env.update({"UVSHARE_UV": str(fake_uv), "FAKE_UV_RECORD": str(record)})
    return box1, fake_uv, record


def test_argv_reaches_uv_unchanged(fake: tuple[Sandbox, Path, Path]) -> None:
    box, _, record = fake
    args = [b"run", b"--", b"with space", b"", b"caf\xc3\xa9", b"\xff\xfe not utf-8", b"-q", b"--color=never"]
    env = {k.encode(): v.encode() for k, v in box.env(box.users["root"]).items()}
    done = subprocess.run([b"uvshare", *args], env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(record.read_text())
    assert [bytes.fromhex(a) for a in got["argv"]] == args


def test_exit_status_stdin_and_exec(fake: tuple[Sandbox, Path, Path]) -> None:
    box, _, record = fake
    env = box.env(box.users["alice"], FAKE_UV_EXIT="7", FAKE_UV_STDIN="1")
    who = box.users["alice"]
    proc = subprocess.Popen(
        [
            "setpriv",
            f"--reuid={who.uid}",
            f"--regid={who.gid}",
            "--init-groups",
            "--",
            "uvshare",
            "pip",
            "install",
            "-r",
            "-",
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=box.home(who),
    )
    _, err = proc.communicate("requests==2.0\n", timeout=60)
    assert proc.returncode == 7, err
    got = json.loads(record.read_text())
    assert got["stdin"] == "requests==2.0\n"
    assert got["pid"] == proc.pid  # setpriv execs uvshare, which execs uv: one process, no child left behind


def test_umask_and_environment(fake: tuple[Sandbox, Path, Path]) -> None:
    box, _, record = fake
    box.ok("alice", "uvshare", "--version", umask=0o077)
    got = json.loads(record.read_text())
    assert got["umask"] == 0o002
    assert got["env"]["UV_PYTHON_INSTALL_DIR"] == str(box.shared / "python")
    assert got["env"]["UV_TOOL_BIN_DIR"] == str(box.shared / "tool-bin")
    assert got["env"]["UV_CACHE_DIR"] == str(box.shared / "cache")
    # a UV_* variable already set wins, and that dir is left alone
    own = box.home(box.users["alice"]) / "own-tools"
    box.ok("alice", "uvshare", "--version", env={"UV_TOOL_DIR": str(own)})
    assert json.loads(record.read_text())["env"]["UV_TOOL_DIR"] == str(own)
    assert not own.exists()


def test_outsider_keeps_umask_and_own_cache(fake: tuple[Sandbox, Path, Path]) -> None:
    box, _, record = fake
    box.ok("root", "uvshare", "share", "setup")
    box.ok("dave", "uvshare", "--version", umask=0o022)
    got = json.loads(record.read_text())
    assert got["umask"] == 0o022
    assert "UV_CACHE_DIR" not in got["env"]
    assert got["env"]["UV_PYTHON_INSTALL_DIR"] == str(box.shared / "python")


def test_no_config_is_a_pure_pass_through(fake: tuple[Sandbox, Path, Path]) -> None:
    box, _, record = fake
    box.config.unlink()
    box.ok("alice", "uvshare", "self", "version", env={"UVSHARE_CONFIG": ""}, umask=0o027)
    got = json.loads(record.read_text())
    assert got["umask"] == 0o027
    assert not [
        k for k in got["env"] if k.startswith("UV_") and k not in ("UV_PYTHON_DOWNLOADS_JSON_URL", "UV_NO_PROGRESS")
    ]
    assert not box.shared.exists()


def test_installed_as_uv_ahead_of_the_real_uv(box1: Sandbox) -> None:
    """A symlink and a copy of the launcher named `uv` first on PATH: no recursion, same output as uv."""
    real = subprocess.run([box1.uv, "--version"], capture_output=True, text=True, check=True).stdout
    for how in ("symlink", "copy"):
        alias = box1.root / f"alias-{how}"
        alias.mkdir(mode=0o755)
        if how == "symlink":
            (alias / "uv").symlink_to(box1.bin_dir / "uvshare")
        else:
            (alias / "uv").write_bytes((box1.bin_dir / "uvshare").read_bytes())
            (alias / "uv").chmod(0o755)
        path = f"{alias}:{box1.bin_dir}:{box1.uv.parent}:/usr/bin:/bin"
        for user in ("root", "alice"):
            result = box1.ok(user, "uv", "--version", env={"PATH": path})
            assert result.stdout == real, str(result)
        admin = box1.ok("alice", "uv", "share", "--version", env={"PATH": path})
        assert admin.stdout.startswith("uvshare ")


def test_loop_through_a_wrapper_is_stopped(box1: Sandbox) -> None:
    """A `uv` on PATH that uvshare cannot recognise but which execs uvshare: one clear error, no endless loop."""
    wrapper = box1.root / "wrap" / "uv"
    wrapper.parent.mkdir(mode=0o755)
    wrapper.write_text(f'#!/bin/sh\nexec {box1.bin_dir}/uvs"hare" "$@"\n')  # the name split: not recognisable
    wrapper.chmod(0o755)
    path = f"{wrapper.parent}:{box1.bin_dir}:/usr/bin:/bin"
    box1.ok("root", "uvshare", "share", "setup")  # the shared tree exists, so only the loop is reported
    result = box1.run("alice", "uvshare", "--version", env={"PATH": path}, timeout=30)
    assert result.returncode == 2, str(result)
    assert result.stderr.startswith("uvshare: error: uvshare ran itself") and "set uv =" in result.stderr


def test_uv_not_found_lists_where_it_looked(box1: Sandbox) -> None:
    box1.ok("root", "uvshare", "share", "setup")
    result = box1.run("alice", "uvshare", "--version", env={"PATH": f"{box1.bin_dir}:/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot find the real uv" in result.stderr
    assert "UVSHARE_UV" in result.stderr and str(box1.bin_dir) in result.stderr and "pip install uv" in result.stderr


def test_share_version_and_help(box1: Sandbox) -> None:
    from uvshare import __version__

    assert __version__ in box1.ok("alice", "uvshare", "share", "--version").stdout
    assert "Usage:" in box1.ok("alice", "uvshare", "share", "--help").stdout
    module = box1.ok("alice", box1.bin_dir / "python", "-m", "uvshare", "share", "--version")
    assert __version__ in module.stdout


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("group = ", "invalid TOML"),
        ("grop = '{GROUP}'\n", "did you mean 'group'?"),
        ("group = '{GROUP}'\numask = 2\n", "key 'umask' must be a string"),
        ("group = '{GROUP}'\ncache-dir = 'rel'\n", "must be an absolute path"),
        ("group = 'no-such-group-here'\n", "unknown group 'no-such-group-here'"),
        ("group = '{GROUP}'\numask = '0000'\n", "world-writable"),
        ("uv = '/nonexistent/uv'\n", "/nonexistent/uv does not exist"),
        ("uv = '{root}/etc/config.toml'\n", "config.toml is not executable"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(box1: Sandbox, text: str, needle: str) -> None:
    box1.write_config(text.replace("{root}", str(box1.root)).replace("{GROUP}", GROUP))
    result = box1.run("alice", "uvshare", "--version")
    assert result.returncode == 2, str(result)
    assert result.stderr.startswith(f"uvshare: error: {box1.config}: ") and result.stderr.count("\n") == 1
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_uvshare_config_file(box1: Sandbox) -> None:
    result = box1.run("alice", "uvshare", "--version", env={"UVSHARE_CONFIG": "/nonexistent/config.toml"})
    assert result.returncode == 2 and "/nonexistent/config.toml: no such file" in result.stderr


def test_every_call_does_not_import_plumbum(box1: Sandbox) -> None:
    code = (
        "import sys; from uvshare.shim import run; import uvshare.skip, uvshare.prepare, uvshare.config;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('plumbum', 'platformdirs')))"
    )
    out = box1.ok("alice", box1.bin_dir / "python", "-c", code).stdout.strip()
    assert out == "[]"
