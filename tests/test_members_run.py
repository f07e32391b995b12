"""An install members cannot run fails loudly: `share launcher`, `share init` and `share doctor` check that the
group's members can run the launcher, the interpreter it names and uvshare's code.

The story from the field: uvshare installed by root under a dir only root may enter (`uv tool install .` as root puts
it in /root, 0700), its launcher first on PATH as `uv`, a plain uv further down PATH. A member's /bin/sh (dash) gets
`Permission denied` on the launcher's interpreter and goes on to the plain uv: a private install, exit 0, unnoticed.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.harness import SYSTEM_PYTHON, Sandbox


def private_install(box: Sandbox) -> Path:
    """A venv in a dir only root may enter, uvshare importable in it (the tests' installed uvshare, through a .pth, as
    an install there would have it); its python."""
    private = box.root / "root-home"
    private.mkdir(mode=0o700)
    venv = private / "venv"
    box.ok("root", box.uv, "venv", "--python", SYSTEM_PYTHON, venv)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (installed,) = (box.bin_dir.parent / "lib").glob("python3*/site-packages")
    (site / "uvshare.pth").write_text(f"{installed}\n")
    return venv / "bin" / "python"


def one_error(result: object, *needles: str) -> None:
    """RESULT failed with exit status 2 and one `uvshare: error:` line holding each of NEEDLES."""
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert result.returncode == 2 and len(lines) == 1, str(result)  # type: ignore[attr-defined]
    assert lines[0].startswith("uvshare: error: members of group"), str(result)
    for needle in needles:
        assert needle in lines[0], str(result)


def test_a_launcher_members_cannot_run_fails_launcher_init_and_doctor(box1: Sandbox) -> None:
    """The launcher, init and doctor each fail with one line naming the dir at fault, where a member's shell would
    silently run the plain uv further down PATH; the same launcher on an interpreter members can run passes."""
    box = box1
    python = private_install(box)
    private = python.parents[2]
    front = box.root / "front"
    plain = box.root / "plain"
    for d in (front, plain):
        d.mkdir(mode=0o755)
    (plain / "uv").symlink_to(box.uv)  # the distribution's uv, later on PATH
    at_fault = f"{private} (owner root, group root, mode 0700"

    refused = box.run("root", python, "-m", "uvshare", "share", "launcher", front / "uv")
    one_error(refused, at_fault, "/opt/uvshare")
    assert not (front / "uv").exists(), "a launcher members cannot run was written"

    # the launcher as an install without the check leaves it, and what a member's sh then does
    installed = Path(box.bin_dir.parent / "lib").glob("python3*/site-packages")
    (front / "uv").write_text(
        f"#!{python} -IS\nimport sys\nsys.path[:0] = {[str(p) for p in installed]!r}\n"
        "from uvshare.shim import main\nsys.exit(main())\n"
    )
    (front / "uv").chmod(0o755)
    path = {"PATH": f"{front}:{plain}:/usr/bin:/bin"}
    falls = box.run("alice", "sh", "-c", "uv --version", env=path)
    real = box.ok("root", box.uv, "--version").stdout
    assert falls.returncode == 0 and falls.stdout == real, str(falls)  # the plain uv answered, silently

    doctor = box.run("root", front / "uv", "share", "doctor", env=path)
    assert doctor.returncode == 1, str(doctor)
    (line,) = [x for x in doctor.stdout.splitlines() if x.startswith("✗ members:")]
    assert at_fault in line and "/opt/uvshare" in line, str(doctor)

    config = box.root / "etc" / "other.toml"
    init = box.run("root", front / "uv", "share", *box.init_args(config=config)[2:], env=path)
    one_error(init, at_fault)
    assert not config.exists(), "init wrote a config members cannot use"

    fine = box.ok("root", "uvshare", "share", "launcher", "--force", front / "uv")
    assert f"wrote {front / 'uv'}" in fine.stdout, str(fine)
    healthy = box.run("root", front / "uv", "share", "doctor", env=path)
    assert f"✓ members: can run {front / 'uv'}: it ran as the install-user" in healthy.stdout, str(healthy)
    assert box.ok("alice", "sh", "-c", "uv share --version", env=path).stdout.startswith("uvshare ")
