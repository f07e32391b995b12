"""An admin tool that never lies and never breaks everyone (issue 15): init checks before it writes, every fix printed
is right to follow, and outsiders are told first what they are."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from tests.support.harness import GROUP, RUN_ID, Sandbox, group_gid
from tests.support.wheels import tool_install_args, wheels_dir


def test_init_writes_nothing_until_everything_is_checked(box1: Sandbox) -> None:
    """A typo in init's group or uv leaves no config (and an earlier one untouched), so no uv call of anyone breaks;
    --dry-run says what it would write and make, and makes nothing."""
    box = box1
    box.config.unlink()
    no_group, no_uv = "nosuchgroup" + RUN_ID, str(box.root / "no" / "uv")
    bad_group = box.init_args()
    bad_group[bad_group.index("--group") + 1] = no_group
    for args, named in ((bad_group, no_group), (box.init_args("--uv", no_uv), no_uv)):
        result = box.run("root", *args)
        assert result.returncode == 2 and "Traceback" not in str(result), str(result)
        assert named in result.stderr and not box.config.exists(), str(result)
        assert not box.shared.exists(), "init made dirs before it knew the config was good"
    box.ok("root", *box.init_args())
    before = box.config.read_bytes()
    wrong = box.init_args()
    wrong[wrong.index("--group") + 1] = "nosuchgroup" + RUN_ID
    assert box.run("root", *wrong, "--force").returncode == 2
    assert box.config.read_bytes() == before
    assert box.ok("alice", "uvshare", "python", "list", "--only-installed").returncode == 0

    fresh = box.root / "fresh"
    dry = box.ok("root", *box.init_args("--dry-run", prefix=fresh / "uv", config=fresh / "config.toml"))
    assert "would write" in dry.stdout and f"would create {fresh}/uv/python" in dry.stdout, dry.stdout
    assert "install-user = " in dry.stdout and not fresh.exists(), dry.stdout


def test_a_config_that_is_a_dir_is_called_one(box1: Sandbox) -> None:
    """UVSHARE_CONFIG naming a directory: root is told it is a directory, not asked to chown /tmp or /opt."""
    for path in ("/tmp", "/opt", str(box1.root)):
        result = box1.run("root", "uvshare", "--version", env={"UVSHARE_CONFIG": path})
        assert result.returncode == 2 and f"{path}: is a directory, not a config file" in result.stderr, str(result)
        assert "chown" not in result.stderr and "chmod" not in result.stderr, str(result)


def test_root_is_never_told_to_chown_a_system_dir_or_a_members_dir(box1: Sandbox) -> None:
    """A config root will not read: in a world-writable system dir (/var/tmp), and in a dir a member owns. The
    message names the path at fault; the fix moves the config, and never changes that dir's owner or mode."""
    box = box1
    loose = Path("/var/tmp") / f"uvshare-{uuid.uuid4().hex}.toml"
    loose.write_text(box.config.read_text())
    try:
        result = box.run("root", "uvshare", "--version", env={"UVSHARE_CONFIG": str(loose)})
    finally:
        loose.unlink()
    assert result.returncode == 2 and "/var/tmp (" in result.stderr, str(result)
    assert "move the config file into a dir only root can write" in result.stderr, str(result)
    assert "chown root /var/tmp" not in result.stderr and "chmod go-w /var/tmp" not in result.stderr, str(result)

    mine = box.home(box.users["alice"]) / "uvshare"
    box.ok("alice", "mkdir", mine)
    box.ok("alice", "cp", box.config, mine / "config.toml")
    theirs = box.run("root", "uvshare", "--version", env={"UVSHARE_CONFIG": str(mine / "config.toml")})
    assert theirs.returncode == 2 and "move the config file" in theirs.stderr, str(theirs)
    assert f"chown root {mine}" not in theirs.stderr, str(theirs)


def test_a_file_in_the_way_is_named_and_never_to_be_removed(box1: Sandbox) -> None:
    """`--prefix /etc/passwd/uv`: every line names /etc/passwd as what is in the way, and none says to remove it."""
    box = box1
    before = os.stat("/etc/passwd")
    result = box.run("root", *box.init_args(prefix="/etc/passwd/uv", config=box.root / "init.toml"))
    assert result.returncode != 0 and "Traceback" not in str(result), str(result)
    out = result.stdout + result.stderr
    assert "/etc/passwd is not a directory" in out, out
    assert "remove it" not in out and "rm " not in out, out
    after = os.stat("/etc/passwd")
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_size) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
        before.st_size,
    )


def test_an_outsider_is_told_first_that_they_are_not_a_member(box1: Sandbox) -> None:
    """setup by an outsider: one line, not a member, and what an administrator runs; no talk of x bits."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    result = box.run("dave", "uvshare", "share", "setup")
    assert result.returncode == 2, str(result)
    assert f"is not a member of group '{GROUP}'" in result.stderr and "sudo uvshare share setup" in result.stderr
    assert result.stderr.count("\n") == 1, str(result)


def test_outsiders_hear_what_uv_will_not_say(box1: Sandbox) -> None:
    """An outsider's uvx with a Python that is not in the shared dir is told why uv will fail and what to do; their
    `tool list` names the shared tools it does not list; `share config` tells them the truth about their calls."""
    box = box1
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    alias = box.root / "alias"
    alias.mkdir(mode=0o755)
    (alias / "uvx").symlink_to(box.bin_dir / "uvshare")
    path = {"PATH": f"{alias}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin", "UV_PYTHON_DOWNLOADS": "never"}
    uvx = box.run("dave", "uvx", "--python", "3.13", "--from", "hello-a", "hello-a", env=path)
    assert "Python 3.13 is not installed in the shared dir" in uvx.stderr, str(uvx)
    assert f"members of group '{GROUP}'" in uvx.stderr and "UV_PYTHON_INSTALL_DIR" in uvx.stderr
    listed = box.run("dave", "uvshare", "tool", "list")
    assert "the shared tools (hello-a" in listed.stderr and "not a member" in listed.stderr, str(listed)
    member = box.ok("alice", "uvshare", "tool", "list")
    assert "the shared tools" not in member.stderr
    config = box.ok("dave", "uvshare", "share", "config")
    assert "umask on uv calls: your own (you are not in group" in config.stdout, config.stdout
    bin_line = next(line for line in config.stdout.splitlines() if "UV_PYTHON_BIN_DIR" in line)
    assert "outsiders" in bin_line, bin_line
    assert "no default ACL" not in config.stdout, config.stdout
    assert stat.S_IMODE((box.shared / "cache").stat().st_mode) == 0o2770  # closed to them, as it should be


def test_help_and_output_say_it_plainly(box1: Sandbox) -> None:
    """No plumbum artefacts in the help (`DIR:str`, a default said twice, `.;`), a missing argument said in words,
    init's differences in TOML, and a group given by gid named by its name."""
    box = box1
    texts = [box.ok("root", "uvshare", "share", *args).stdout for args in (("--help",), ("init", "--help"))]
    texts.append(box.ok("root", "uvshare", "share", "repair", "--help").stdout)
    for text in texts:
        assert ":str" not in text and "the default is 60" not in text and ".;" not in text, text
    assert "--timeout SECONDS " in texts[2] and "(default" in texts[2]
    missing = box.run("root", "uvshare", "share", "completion")
    assert missing.returncode == 2 and "needs the shell: bash, zsh or fish" in missing.stderr, str(missing)

    box.config.unlink()
    box.ok("root", *box.init_args())
    differs = box.run("root", *box.init_args("--no-acl"))
    assert differs.returncode == 2 and "  + acl = false" in differs.stdout, str(differs)
    assert "False" not in differs.stdout

    box.write_config(group=group_gid())
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert f"'{GROUP}' is gid" in doctor.stdout, doctor.stdout


def test_counts_read_as_english_and_an_outsiders_repair_is_told_first(box1: Sandbox) -> None:
    """No `1 entries`, `all 0 entries`, `()` or a count without its thousands separator beside one with it; an
    outsider's repair hears first that they are not a member."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    (box.shared / "tools" / "one").write_text("x\n")
    (box.shared / "tools" / "one").chmod(0o644)  # an explicit mode wins over the default ACL: one entry to fix
    outputs = [box.run("root", "uvshare", "share", *args).stdout for args in (("doctor",), ("repair",), ("doctor",))]
    for out in outputs:
        assert " 1 entries" not in out and "all 0 entries" not in out and "()" not in out, out
    assert "2 entries, 1 fixed (not group-writable: 1)" in outputs[1], outputs[1]  # .lock and the file
    assert "nothing inside yet" in outputs[1], outputs[1]  # the bin dirs, empty
    assert "nothing below" in outputs[2] or "all shared right" in outputs[2], outputs[2]
    outsider = box.run("dave", "uvshare", "share", "repair")
    assert outsider.returncode == 2 and f"is not a member of group '{GROUP}'" in outsider.stderr, str(outsider)


def test_a_members_profile_is_root_to_write_and_says_so(box1: Sandbox) -> None:
    """`share setup --profile` as a member: one line naming the dir and the command to run as root; nothing made."""
    box = box1
    box.ok("root", "uvshare", "share", "setup")
    target = box.root / "profile.d"
    target.mkdir(mode=0o755)
    result = box.run("alice", "uvshare", "share", "setup", "--profile-file", target / "uvshare.sh")
    assert result.returncode == 2 and f"{target} is not yours to write in" in result.stderr, str(result)
    assert "run it as root ('sudo uvshare share setup --profile-file" in result.stderr, str(result)
    assert list(target.iterdir()) == []
