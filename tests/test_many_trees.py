"""Many trees on one machine, run as one: doctor and repair over every tree (for cron), uv's version and help for a
user in several trees, a warning when the tree in effect is not the one whose project dir the work is in, and
doctor's advice for a user's own link to a tree's config. Real uv, real users, a real group; the trees dir is named by
UVSHARE_TREES_DIR (/etc is not the tests' to write)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.harness import GROUP, INSTALLER, Sandbox, toml_value


def tree_text(prefix: Path, **extra: object) -> str:
    """The config of a tree of the test group below PREFIX, with the EXTRA keys (`project_dir` for project-dir)."""
    keys: dict[str, object] = {
        "group": GROUP,
        "install-user": INSTALLER,
        "python-install-dir": prefix / "python",
        "python-bin-dir": prefix / "bin",
        "tool-dir": prefix / "tools",
        "tool-bin-dir": prefix / "tool-bin",
        "cache-dir": prefix / "cache",
        **{k.replace("_", "-"): v for k, v in extra.items()},
    }
    return "".join(f"{k} = {toml_value(str(v))}\n" for k, v in keys.items())


def two_trees(box: Sandbox, **extra: object) -> tuple[Path, dict[str, str | None]]:
    """A trees dir with proja (below the box's shared tree) and projb, both of the test group (so each member is in
    both), each set up by root; the EXTRA keys in both (a `{name}` in a value is the tree's name). The trees dir and
    the environment with no tree chosen (no UVSHARE_CONFIG)."""
    tree_dir = box.root / "etc" / "trees"
    tree_dir.mkdir()
    for name in ("proja", "projb"):
        keys = {k: str(v).replace("{name}", name) for k, v in extra.items()}
        (tree_dir / f"{name}.toml").write_text(tree_text(prefix(box, name), **keys))
        box.ok("root", "uvshare", "share", "setup", env={"UVSHARE_CONFIG": str(tree_dir / f"{name}.toml")})
    return tree_dir, {"UVSHARE_TREES_DIR": str(tree_dir), "UVSHARE_CONFIG": None}


def prefix(box: Sandbox, name: str) -> Path:
    """Where the tree NAME keeps its shared dirs."""
    return box.shared if name == "proja" else box.root / name / "uv"


def test_doctor_and_repair_over_every_tree(box1: Sandbox) -> None:
    """`share doctor --all-trees` checks every tree of the machine, one report each under a line naming it and one
    verdict per tree, with one exit status for cron: 1 while one tree has a problem, 0 once `share repair
    --all-trees` has repaired them all, 2 when a tree's config cannot be used — whose fix names the file to edit (and
    repair still repairs the others). --json gives the same per tree."""
    box = box1
    tree_dir, env = two_trees(box)
    stray = prefix(box, "projb") / "tools" / "stray"
    box.ok("alice", "mkdir", stray)
    box.ok("alice", "chmod", "0755", stray)  # (the default ACL made it shared: a chmod takes that back)
    doctor = box.run("root", "uvshare", "share", "doctor", "--all-trees", env=env)
    assert doctor.returncode == 1, str(doctor)
    proja, projb = (f"== {name} ({tree_dir / name}.toml)\n" for name in ("proja", "projb"))
    assert doctor.stdout.startswith(proja) and projb in doctor.stdout, str(doctor)
    a_part, b_part = doctor.stdout.split(projb)
    assert a_part.endswith("\nproja: healthy\n") and str(stray) not in a_part, str(doctor)
    assert str(stray) in b_part and re.search(r"\nprojb: \d+ problems? found\n", b_part), str(doctor)
    assert doctor.stdout.endswith("\n1 of 2 trees not healthy: projb\n"), str(doctor)

    repair = box.ok("root", "uvshare", "share", "repair", "--all-trees", env=env)
    assert repair.stdout.startswith(proja) and projb in repair.stdout, str(repair)
    assert repair.stdout.endswith("all 2 trees repaired\n"), str(repair)
    again = box.ok("root", "uvshare", "share", "doctor", "--all-trees", "-q", env=env)
    assert "✗" not in again.stdout and "==" not in again.stdout and "healthy" not in again.stdout, str(again)  # (-q)
    report = json.loads(box.ok("root", "uvshare", "share", "doctor", "--all-trees", "--json", env=env).stdout)
    assert report["healthy"] is True and [t["tree"] for t in report["trees"]] == ["proja", "projb"], report
    assert report["trees"][1]["config"] == str(tree_dir / "projb.toml")

    broken = tree_dir / "projc.toml"
    broken.write_text(tree_text(box.root / "projc" / "uv", pyhton_install_dir="/x"))
    doctor = box.run("root", "uvshare", "share", "doctor", "--all-trees", "-q", env=env)
    assert doctor.returncode == 2, str(doctor)
    assert f"\n== projc ({broken})\n✗ config: {broken}: unknown key 'pyhton-install-dir'" in doctor.stdout
    assert f"fix: edit {broken} as the message says, then run doctor again\n" in doctor.stdout, str(doctor)
    assert doctor.stdout.endswith("\n1 of 3 trees not healthy: projc\n"), str(doctor)
    repair = box.run("root", "uvshare", "share", "repair", "--all-trees", env=env)
    assert repair.returncode == 2 and repair.stdout.count("repair: fixed 0 entries in ") == 2, str(repair)


def test_doctor_over_every_tree_without_trees_is_one_error(box1: Sandbox) -> None:
    """No tree at all: one error line naming where it looked, exit 2."""
    box = box1
    empty = box.root / "etc" / "no-trees"
    result = box.run("root", "uvshare", "share", "doctor", "--all-trees", env={"UVSHARE_TREES_DIR": str(empty)})
    assert result.returncode == 2, str(result)
    assert result.stderr.startswith("uvshare: error: no tree on this machine (searched /etc/uvshare/config.toml and ")
    assert str(empty) in result.stderr and result.stderr.count("\n") == 1, str(result)


def test_version_and_help_answer_a_user_in_two_trees(box1: Sandbox) -> None:
    """uv known only from the trees' configs (`uv = …`, none on PATH): a member of both trees, and root, get `uv
    --version` and `uv help` answered, without choosing a tree; a command that needs one still asks which. Trees
    that name different uv binaries: the first tree's answers, and one warning says so."""
    box = box1
    tree_dir, env = two_trees(box, uv=box.uv)
    env["PATH"] = f"{box.bin_dir}:/usr/bin:/bin"  # (no uv there)
    for user in ("alice", "root"):
        version = box.ok(user, "uvshare", "--version", env=env)
        assert version.stdout.startswith("uv ") and version.stderr == "", str(version)
        assert "Usage: uv" in box.ok(user, "uvshare", "help", env=env).stdout
    needs = box.run("alice", "uvshare", "cache", "dir", env=env)
    assert needs.returncode == 2 and "you are in the groups of 2" in needs.stderr, str(needs)
    other = box.root / "other-uv"
    other.mkdir()
    (other / "uv").symlink_to(box.uv)
    (tree_dir / "projb.toml").write_text(tree_text(prefix(box, "projb"), uv=other / "uv"))
    version = box.ok("alice", "uvshare", "--version", env=env)
    assert version.stdout.startswith("uv "), str(version)
    assert version.stderr == (
        f"uvshare: warning: your trees name different uv binaries (proja: {box.uv}; projb: {other / 'uv'}): this is "
        "proja's; load one's module ('module load uvshare/proja') or set UVSHARE_CONFIG to say which\n"
    ), str(version)


def test_the_tree_in_effect_is_named_in_another_trees_project_dir(box1: Sandbox) -> None:
    """Working in projb's team project dir with proja's module loaded (UVSHARE_CONFIG), uv uses proja's cache, as
    the user chose — and one warning says whose project dir this is and how to switch. None with projb's module, in
    proja's own project dir, outside every project dir, or for `--version`."""
    box = box1
    work = box.root / "work"
    tree_dir, env = two_trees(box, project_dir=work / "{name}")
    configs = {name: str(tree_dir / f"{name}.toml") for name in ("proja", "projb")}
    for name in configs:
        box.ok("alice", "mkdir", work / name / "app")
    in_b = box.ok(
        "alice", "uvshare", "cache", "dir", cwd=work / "projb" / "app", env={**env, "UVSHARE_CONFIG": configs["proja"]}
    )
    assert in_b.stdout.strip() == str(prefix(box, "proja") / "cache"), str(in_b)
    assert in_b.stderr == (
        f"uvshare: warning: this is {work / 'projb'}, the team project dir of the tree projb ({configs['projb']}), but "
        f"the tree in effect is {configs['proja']} (UVSHARE_CONFIG): uv works here with its cache, Pythons and tools, "
        f"not projb's; load projb's module ('module load uvshare/projb') or set UVSHARE_CONFIG={configs['projb']}\n"
    ), str(in_b)
    quiet = [
        (work / "projb" / "app", "projb", ("cache", "dir")),
        (work / "proja" / "app", "proja", ("cache", "dir")),
        (box.home(box.users["alice"]), "proja", ("cache", "dir")),
        (work / "projb" / "app", "proja", ("--version",)),
    ]
    for cwd, module, args in quiet:
        result = box.ok("alice", "uvshare", *args, cwd=cwd, env={**env, "UVSHARE_CONFIG": configs[module]})
        assert result.stderr == "", str(result)


def test_doctor_advice_for_a_users_own_link_to_a_trees_config(box1: Sandbox) -> None:
    """A user's own default config linked to a tree's config (as the docs suggest) is a tree root knows: doctor does
    not tell her to move it to the trees dir, where it already is. A copy of it is hers alone, which root does not
    read: for that one, doctor still says so."""
    box = box1
    tree_dir, env = two_trees(box, project_dir=box.root / "work" / "{name}")
    mine = box.home(box.users["alice"]) / ".config" / "uvshare" / "config.toml"
    box.ok("alice", "mkdir", "-p", mine.parent)
    box.ok("alice", "ln", "-s", tree_dir / "proja.toml", mine)
    env["XDG_CONFIG_DIRS"] = str(box.root / "no-xdg")
    doctor = box.run("alice", "uvshare", "share", "doctor", env=env)
    assert f"✓ config: {mine} sets group" in doctor.stdout, str(doctor)
    assert "move it to" not in doctor.stdout and "only with UVSHARE_CONFIG set" not in doctor.stdout, str(doctor)
    mine.unlink()
    box.ok("alice", "cp", tree_dir / "proja.toml", mine)
    doctor = box.run("alice", "uvshare", "share", "doctor", env=env)
    assert f"fix: move it to {tree_dir}/NAME.toml" in doctor.stdout, str(doctor)
