"""A team's project dir (`project-dir`): what one member makes there with uv (`.venv`, `uv.lock`, `uv add`) the others
can change — through uvshare or with plain uv —, outsiders are refused clearly, root's uv never works there, and
doctor and repair cover it. The real uv (newest and 0.6.14), real users and group, a local wheel index."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import harness
from tests.support.harness import GROUP, Sandbox, group_gid, not_shared
from tests.support.wheels import make_wheel

PYPROJECT = """[project]
name = "app"
version = "0.1"
requires-python = ">=3.8"
dependencies = ["hello-a"]

[tool.uv]
package = false
no-index = true
find-links = ["{wheels}"]
"""


def team_box(box: Sandbox, **keys: object) -> tuple[Path, Path]:
    """BOX with a project dir in its config, set up by root; the project dir and a dir of local wheels."""
    project_dir = box.root / "proj" / "work"
    box.write_config(project_dir=str(project_dir), **keys)
    box.ok("root", "uvshare", "share", "setup")
    wheels = box.root / "wheels"
    for name, version in (("hello-a", "1.0"), ("six", "1.16.0"), ("attrs", "23.1.0")):
        make_wheel(wheels, name, version)
    wheels.chmod(0o755)
    return project_dir, wheels


def start_project(box: Sandbox, user: str, app: Path, wheels: Path, umask: int = 0o022) -> None:
    """USER makes the project APP as with an editor (their own umask): a dir and its pyproject.toml."""
    text = PYPROJECT.format(wheels=wheels)
    box.ok(user, "sh", "-c", 'mkdir "$1" && cat > "$1/pyproject.toml"', "sh", app, input=text, umask=umask)


def run_app(box: Sandbox, user: str, app: Path, *modules: str) -> None:
    """USER imports MODULES with the project's venv."""
    box.ok(user, app / ".venv" / "bin" / "python", "-c", f"import {', '.join(modules)}", cwd=app)


@pytest.mark.parametrize("first", ["uvshare", "plain uv, umask 022"])
def test_team_project_venv_stays_the_teams(box: Sandbox, first: str) -> None:
    """alice makes the project's venv (`uv sync`, through uvshare or with plain uv and umask 022); bob adds a
    dependency and syncs; alice removes it; carol (a member too) `uv pip install`s into the venv; all of them run it.
    Through uvshare everything in the project dir and the whole shared tree stays group-writable."""
    project_dir, wheels = team_box(box)
    st = project_dir.stat()
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (group_gid(), 0o2770), oct(st.st_mode)
    app = project_dir / "app"
    start_project(box, "alice", app, wheels)
    if first == "uvshare":
        box.ok("alice", "uvshare", "sync", "--python", harness.SYSTEM_PYTHON, cwd=app, umask=0o022)
    else:
        box.ok(
            "alice",
            box.uv,
            "sync",
            "--python",
            harness.SYSTEM_PYTHON,
            cwd=app,
            umask=0o022,
            env={"UVSHARE_CONFIG": None},
        )
    run_app(box, "bob", app, "hello_a")
    box.ok("bob", "uvshare", "add", "six", cwd=app, umask=0o022)
    box.ok("bob", "uvshare", "sync", cwd=app, umask=0o022)
    run_app(box, "alice", app, "hello_a", "six")
    box.ok("alice", "uvshare", "remove", "six", cwd=app, umask=0o022)
    box.ok(
        "carol",
        "uvshare",
        "pip",
        "install",
        "--python",
        app / ".venv",
        "--no-index",
        "--find-links",
        wheels,
        "attrs",
        cwd=app,
        umask=0o022,
    )
    run_app(box, "bob", app, "hello_a", "attrs")
    box.ok("bob", "uvshare", "sync", cwd=app, umask=0o022)  # takes attrs out again: a file carol made
    if first == "uvshare":
        wrong = not_shared(project_dir, group_gid()) + box.not_shared()
        assert not wrong, wrong[:5]
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert f"project-dir {project_dir}" in doctor.stdout or str(project_dir) in doctor.stdout, str(doctor)


# Plain uv (not through uvshare) in the team project dir, by the maker's umask and whether the project has a [tool.uv]
# table of its own (which hides the project dir's uv.toml from uv): whether doctor, with no repair, finds the venv the
# team's — and it must then be: the other members import from it, add to it, reinstall and uninstall what alice's uv
# put there. Where it is not (umask 077 and the member's own cache), doctor must say so.
PLAIN_UV = {
    "umask 022, [tool.uv]": (0o022, True, True),
    "umask 022, no [tool.uv]": (0o022, False, True),
    "umask 077, no [tool.uv]": (0o077, False, True),
    "umask 077, [tool.uv]": (0o077, True, False),
}


@pytest.mark.parametrize("case", PLAIN_UV)
def test_plain_uv_in_the_team_dir_needs_no_repair(box: Sandbox, case: str) -> None:
    """alice's plain `uv sync` leaves a venv whose files uv copied and hard-linked from her own cache (0644 under
    umask 022, 0600 under 077) or, through the project dir's uv.toml, from the shared cache. Where doctor calls it
    healthy, bob imports from it and adds to it, carol reinstalls and uninstalls alice's package (with plain uv, in
    their own umask); where it cannot be (077, the uv.toml hidden by [tool.uv]) doctor names the files bob cannot
    read (it called the tree healthy before)."""
    umask, tool_uv, usable = PLAIN_UV[case]
    project_dir, wheels = team_box(box)
    written = (project_dir / "uv.toml").read_text()  # as docs/clusters.md shows it
    assert f'cache-dir = "{box.shared / "cache"}"\nlink-mode = "copy"\n' in written, written
    app = project_dir / "app"
    text = PYPROJECT.format(wheels=wheels)
    index: list[str | Path] = []
    if not tool_uv:
        text = text[: text.index("[tool.uv]")]
        index = ["--no-index", "--find-links", wheels]
    box.ok("alice", "sh", "-c", 'mkdir "$1" && cat > "$1/pyproject.toml"', "sh", app, input=text, umask=umask)
    plain = {"UVSHARE_CONFIG": None}
    box.ok("alice", box.uv, "sync", *index, "--python", harness.SYSTEM_PYTHON, cwd=app, umask=umask, env=plain)
    doctor = box.run("root", "uvshare", "share", "doctor")
    if not usable:
        assert doctor.returncode == 1 and "are not readable by the group" in doctor.stdout, str(doctor)
        imported = box.run("bob", app / ".venv" / "bin" / "python", "-c", "import hello_a", cwd=app)
        assert imported.returncode != 0 and "Permission denied" in imported.stderr, str(imported)
        repair = box.run("root", "uvshare", "share", "repair")  # it never widens who may read a file: it says so
        assert repair.returncode == 1 and "are not readable by the group" in repair.stdout, str(repair)
        assert box.run("bob", app / ".venv" / "bin" / "python", "-c", "import hello_a", cwd=app).returncode != 0
        return
    assert doctor.returncode == 0 and "✗" not in doctor.stdout, str(doctor)
    run_app(box, "bob", app, "hello_a")
    box.ok("bob", box.uv, "add", *index, "six", cwd=app, umask=umask, env=plain)
    box.ok("carol", box.uv, "sync", *index, "--reinstall", cwd=app, umask=umask, env=plain)
    box.ok("carol", box.uv, "remove", *index, "hello-a", cwd=app, umask=umask, env=plain)
    run_app(box, "alice", app, "six")
    leftover = list((app / ".venv" / "lib").glob("python3*/site-packages/hello_a*"))
    assert not leftover, leftover
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 0 and "✗" not in doctor.stdout, str(doctor)


def test_setup_writes_the_uv_toml_only_where_none_is(box1: Sandbox) -> None:
    """setup's uv.toml is the team's (group-owned, 0664): alice puts her own in its place, and setup leaves it (doctor
    says so); once it is gone doctor says what is missing and setup writes it again; a project dir that is itself a
    project gets none (a uv.toml beside its pyproject.toml would hide its [tool.uv] table)."""
    box = box1
    project_dir = box.root / "proj" / "work"
    box.write_config(project_dir=str(project_dir))
    box.ok("root", "uvshare", "share", "setup")
    uv_toml = project_dir / "uv.toml"
    st = uv_toml.stat()
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (group_gid(), 0o664), oct(st.st_mode)
    assert "uses the shared cache" in box.ok("root", "uvshare", "share", "doctor").stdout
    box.ok("alice", "sh", "-c", 'rm "$1" && echo "# the team\'s" > "$1"', "sh", uv_toml)
    box.ok("root", "uvshare", "share", "setup")
    assert uv_toml.read_text() == "# the team's\n"
    assert f"{uv_toml} is the team's own" in box.ok("root", "uvshare", "share", "doctor").stdout
    box.ok("bob", "rm", uv_toml)
    assert f"no {uv_toml}" in box.ok("alice", "uvshare", "share", "doctor").stdout
    box.ok("root", "uvshare", "share", "setup")
    assert "cache-dir = " in uv_toml.read_text()
    box.ok("alice", "rm", uv_toml)
    box.ok("alice", "sh", "-c", 'echo "[project]" > "$1/pyproject.toml"', "sh", project_dir)
    box.ok("root", "uvshare", "share", "setup")
    assert not uv_toml.exists()
    assert f"{project_dir} is itself a project" in box.ok("root", "uvshare", "share", "doctor").stdout


def test_plain_uv_in_a_setgid_group_dir_fails(box: Sandbox) -> None:
    """The issue's reproduction, without uvshare: a setgid group dir made by hand (the known workaround), alice's
    plain `uv sync` with umask 022, and bob's `uv add` and `uv pip install` fail with Permission denied."""
    project_dir = box.root / "proj" / "work"
    project_dir.mkdir(parents=True)
    os.chown(project_dir, 0, group_gid())
    project_dir.chmod(0o2770)
    wheels = box.root / "wheels"
    make_wheel(wheels, "hello-a", "1.0")
    make_wheel(wheels, "six", "1.16.0")
    wheels.chmod(0o755)
    app = project_dir / "app"
    start_project(box, "alice", app, wheels)
    plain = {"UVSHARE_CONFIG": None}
    box.ok("alice", box.uv, "sync", "--python", harness.SYSTEM_PYTHON, cwd=app, umask=0o022, env=plain)
    add = box.run("bob", box.uv, "add", "six", cwd=app, umask=0o002, env=plain)
    assert add.returncode != 0 and "Permission denied" in add.stderr, str(add)
    pip = box.run(
        "bob",
        box.uv,
        "pip",
        "install",
        "--python",
        ".venv",
        "six",
        "--no-index",
        "--find-links",
        wheels,
        cwd=app,
        umask=0o002,
        env=plain,
    )
    assert pip.returncode != 0 and "Permission denied" in pip.stderr, str(pip)


def test_umask_where_the_project_dir_has_no_default_acl(box: Sandbox) -> None:
    """A project dir that held files before setup gets no default ACL until repair has walked it (nor does a
    filesystem without ACLs keep one): there a member's uv through uvshare runs with the config's umask, so that
    the venv made with umask 022 typed before is still the team's — the shared dirs having theirs changes nothing."""
    project_dir = box.root / "proj" / "work"
    project_dir.mkdir(parents=True)
    (project_dir / "README").write_text("the team's\n")
    project_dir.chmod(0o755)
    _, wheels = team_box(box)
    box.ok("root", "chown", "-R", f"root:{GROUP}", project_dir)
    box.ok("root", "chmod", "2770", project_dir)
    box.ok("root", "chmod", "0660", project_dir / "README")
    app = project_dir / "app"
    start_project(box, "alice", app, wheels, umask=0o002)  # (an editor's file: uvshare cannot reach it)
    box.ok("alice", "uvshare", "sync", "--python", harness.SYSTEM_PYTHON, cwd=app, umask=0o022)
    wrong = not_shared(app, group_gid())
    assert not wrong, wrong[:5]
    box.ok("bob", "uvshare", "add", "six", cwd=app, umask=0o022)
    run_app(box, "carol", app, "hello_a", "six")


def test_outsider_is_refused_clearly(box: Sandbox) -> None:
    """dave, outside the group, asking uv to work in the team's project: the kernel refuses him (the dir is closed);
    nothing of his lands in the project; started there (an ACL let him in), one line naming the dir, the group and
    the fix; exit 2."""
    project_dir, wheels = team_box(box)
    app = project_dir / "app"
    start_project(box, "alice", app, wheels)
    box.ok("alice", "uvshare", "sync", "--python", harness.SYSTEM_PYTHON, cwd=app)
    dave = box.users["dave"].name
    before = sorted(p.name for p in app.iterdir())
    for args in (
        ["sync", "--directory", str(app)],
        ["run", "--project", str(app), "python", "-c", "pass"],
        ["pip", "install", "--python", str(app / ".venv"), "six"],
        [f"--directory={app}", "add", "six"],
    ):
        result = box.run("dave", "uvshare", *args)
        assert result.returncode != 0, str(result)
        assert sorted(p.name for p in app.iterdir()) == before, str(result)
    subprocess.run(["setfacl", "-m", f"u:{dave}:rx", str(project_dir), str(app)], check=True)
    result = box.run("dave", "uvshare", "sync", cwd=app)
    assert result.returncode == 2, str(result)
    assert result.stderr.startswith("uvshare: error: "), str(result)
    assert f"team project dir {project_dir}, which only members of group '{GROUP}' may use" in result.stderr
    assert f"usermod -aG {GROUP} {dave}" in result.stderr and result.stderr.count("\n") == 1, str(result)


# alice's interpreter: it records who ran it, and fails (uv then installs nothing anywhere: were it to run as root and
# hand over to the system Python, a failing test would install into the system's site-packages)
FAKE = "#!/bin/sh\nid -u >> {marker}\nexit 1\n"


SHARED_FAKE = "cpython-3.12.99-linux-x86_64-gnu"  # an install alice makes up in a Python dir


def plant(box: Sandbox, marker: Path, *paths: Path) -> None:
    """alice puts her interpreter (FAKE, recording into MARKER) at each of PATHS, making the dirs on the way."""
    for path in paths:
        script = 'mkdir -p "$(dirname "$1")" && rm -f "$1" && cat > "$1" && chmod +x "$1"'
        box.ok("alice", "sh", "-c", script, "sh", path, input=FAKE.format(marker=marker))


def plant_venv(box: Sandbox, marker: Path, venv: Path) -> None:
    """alice makes VENV a venv whose interpreter is hers."""
    plant(box, marker, venv / "bin" / "python")
    box.ok("alice", "sh", "-c", 'printf "home = /usr/bin\\n" > "$1"', "sh", venv / "pyvenv.cfg")


def planted(box: Sandbox) -> tuple[Path, Path, Path, Path]:
    """alice's project, whose venv's python she made a script that records who runs it; the project dir, the
    project, the record and a dir of root's own."""
    project_dir, wheels = team_box(box)
    app = project_dir / "app"
    start_project(box, "alice", app, wheels)
    box.ok("alice", "uvshare", "sync", "--python", harness.SYSTEM_PYTHON, cwd=app)
    marker = box.root / "ran"
    plant(box, marker, app / ".venv" / "bin" / "python")
    out = box.root / "root-out"
    out.mkdir()
    return project_dir, app, marker, out


def ran_as_root(marker: Path) -> bool:
    return marker.exists() and "0" in marker.read_text().split()


def refused(box: Sandbox, marker: Path, *args: str | Path, **kwargs: object) -> str:
    """Run root's uvshare ARGS: nothing of alice's ran as root, and it stopped with one error line; that line."""
    result = box.run("root", "uvshare", *args, **kwargs)  # type: ignore[arg-type]
    assert not ran_as_root(marker), f"root ran alice's python: {result}"
    assert result.returncode == 2 and result.stderr.startswith("uvshare: error: "), str(result)
    assert result.stderr.count("\n") == 1 and " root" in result.stderr, str(result)
    return result.stderr


# Each way root's uv would pick up the project by itself: (arguments, environment, current dir below the project dir,
# what the refusal names: the project dir, the venv found there, or the member who could change the current dir)
ROOT_SPELLINGS = {
    "cwd": (["sync"], {}, "app", "project"),
    "cwd in the venv": (["pip", "list"], {}, "app/.venv", "project"),
    "bind mount": (["sync"], {}, "mnt", "project"),
    "cwd through a link to it": (["sync"], {}, "link", "project"),
    "--preview-features help": (["--preview-features", "help", "sync"], {}, "app", "project"),
    "--preview-features self": (["--preview-features", "self", "pip", "list"], {}, "app", "project"),
    "an option uvshare does not know": (["--unknown-option", "help", "sync"], {}, "app", "project"),
    # a tree command on a dir of root's own runs as root, not as the install-user
    "python find, root's own install dir": (
        ["python", "find"],
        {"UV_PYTHON_INSTALL_DIR": "{home}/py"},
        "app",
        "project",
    ),
    # the venv uv picks up: the active one, or one found upward from a dir of alice's that a link in the project led to
    "VIRTUAL_ENV": (["pip", "list"], {"VIRTUAL_ENV": "{app}/.venv"}, None, "venv"),
    "a project subdir linked to alice's own dir": (["sync"], {}, "app2", "member"),
}
# What root names itself is root's choice, as with plain uv (the reviews' spellings of a path into the project): the
# README's trust model must say so for each, so that nobody counts on uvshare to catch them.
ROOTS_CHOICE = (
    "--python",
    "--project",
    "--directory",
    "`file:` URL",
    "--find-links",
    "--index",
    "--with",
    "UV_PROJECT_ENVIRONMENT",
    "UV_CONFIG_FILE",
    "UV_INDEX",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "--env-file",
    "`uv.toml`",
    "`[tool.uv]`",
    "`.python-version`",
    "inline metadata",
    "wrapper or link",
    "FUSE mount",
)
EVIL_PYPROJECT = (
    '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    '[project]\nname = "evil"\nversion = "7.0"\n'
)
EVIL_BACKEND = 'import os\nopen("{marker}", "a").write("%d\\n" % os.getuid())\nraise SystemExit(1)\n'
# alice's package whose build backend records who built it (as a dir, an sdist in a find-links dir, a simple index),
# a link to / in the project, a project of hers elsewhere linked into the project dir, a link to root's dir VICTIM
EVIL = r"""
set -e
app=$1
mkdir -p "$app/evil" "$app/idx" "$app/simple/evil"
printf '%s' "$2" > "$app/evil/pyproject.toml"
printf '%s' "$3" > "$app/evil/backend.py"
cd "$app" && tar czf idx/evil-7.0.tar.gz --transform 's,^evil,evil-7.0,' evil/pyproject.toml evil/backend.py
cp idx/evil-7.0.tar.gz simple/evil/
printf '<html><body><a href="evil-7.0.tar.gz">evil-7.0.tar.gz</a></body></html>' > simple/evil/index.html
ln -s / "$app/lnk"
mkdir "$4/app2" && cp -a "$app/.venv" "$app/pyproject.toml" "$4/app2/" && ln -s "$4/app2" "$app/../app2"
ln -s "$5" "$app/vendor"
"""


@pytest.mark.parametrize("how", ROOT_SPELLINGS)
def test_root_will_not_run_uv_in_a_team_project(box1: Sandbox, how: str) -> None:
    """A member controls what uv reads and runs in the project: its `.venv/bin/python` (which uv runs to query it),
    its build backend, its uv.toml. Root's uv started in the project (the kernel's current dir, however the shell got
    there), or picking up a venv that runs alice's interpreter, is refused before anything runs (each ran alice's
    python as root before the fence)."""
    box = box1
    project_dir, app, marker, out = planted(box)
    box.ok(
        "alice", "sh", "-c", 'cat > "$1"', "sh", app / "uv.toml", input=f'[pip]\npython = "{app}/.venv/bin/python"\n'
    )
    (out / "link").symlink_to(app)
    (out / "mnt").mkdir()
    marker.touch()
    marker.chmod(0o666)
    victim = out / "victim"
    victim.mkdir()
    evil = (EVIL_PYPROJECT, EVIL_BACKEND.format(marker=marker))
    box.ok("alice", "sh", "-c", EVIL, "sh", app, *evil, box.home(box.users["alice"]), victim)
    args, env, cwd, names = ROOT_SPELLINGS[how]
    fill = {"app": app, "home": box.home(box.users["root"])}
    mounted = how == "bind mount"
    if mounted:
        subprocess.run(["mount", "--bind", str(project_dir), str(out / "mnt")], check=True)
    try:
        starts = {"mnt": out / "mnt" / "app", "link": out / "link"}
        where = starts.get(cwd or "") or (project_dir / cwd if cwd else None)
        # (PWD: the current dir as the shell that cd'd there spells it: through alice's link, for app2)
        env = {"PWD": str(where), **env} if where else env
        line = refused(
            box, marker, *(a.format(**fill) for a in args), env={k: v.format(**fill) for k, v in env.items()}, cwd=where
        )
    finally:
        if mounted:
            subprocess.run(["umount", str(out / "mnt")], check=False)
    named = {"project": f"the team project dir {project_dir}", "venv": "the venv ", "member": "(a member) can"}
    assert named[names] in line, line
    assert not any(victim.iterdir())


def test_what_root_names_itself_is_documented_as_roots_choice() -> None:
    """uvshare does not read uv's arguments, variables or config files to guess where they lead (every review found
    more ways past such a reading): what root names is root's choice, and the trust model says so for each way the
    reviews named a project dir, so that nobody counts on uvshare to catch it."""
    readme = (harness.REPO / "docs" / "trust-model.md").read_text()
    start = readme.index("**What root names itself is root's choice**")
    paragraph = readme[start : readme.index("\n- **", start)]
    missing = [spelling for spelling in ROOTS_CHOICE if spelling not in paragraph]
    assert not missing, missing
    assert "run such commands\n  as a member" in paragraph or "as a member (`runuser" in paragraph


def test_root_may_name_a_project_path_outside_it(box1: Sandbox) -> None:
    """The old fence's false alarms: a program's own arguments naming the project dir (`uv run -- git commit -m
    '…/work'`), a tool pointed at a path there (`uvx ruff check /proj/a/work/app`): root's choice, not refused."""
    box = box1
    project_dir, app, marker, _out = planted(box)
    box.ok("root", "uvshare", "run", "--no-project", "-p", harness.SYSTEM_PYTHON, "--", "true", f"moved {project_dir}")
    box.ok("root", "uvshare", "run", "--no-project", "-p", harness.SYSTEM_PYTHON, "true", str(app))
    assert not ran_as_root(marker)


def test_root_keeps_its_path_and_help_in_a_team_project(box1: Sandbox) -> None:
    """A project venv's bin dir on root's PATH is passed over; help and --version still answer there."""
    box = box1
    _project_dir, app, marker, out = planted(box)
    path = f"{app / '.venv' / 'bin'}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"
    box.ok("root", "uvshare", "venv", "--python", "python3", out / "v", env={"PATH": path})
    assert not ran_as_root(marker)
    assert box.ok("root", "uvshare", "--version", cwd=app).stdout.startswith("uv ")


def two_trees(box: Sandbox, project_dir: Path) -> tuple[Path, dict[str, str | None]]:
    """A trees dir with the box's config (with its project dir) and a second tree of the same group; the environment
    with no tree chosen."""
    tree_dir = box.root / "etc" / "trees"
    tree_dir.mkdir()
    (tree_dir / "a.toml").write_text(box.config.read_text())
    text = box.config.read_text().replace(str(box.shared), str(box.root / "opt" / "uv2"))
    (tree_dir / "b.toml").write_text(text.replace(str(project_dir), str(box.root / "proj2" / "work")))
    box.ok("root", "uvshare", "share", "setup", env={"UVSHARE_CONFIG": str(tree_dir / "b.toml")})
    return tree_dir, {"UVSHARE_TREES_DIR": str(tree_dir), "UVSHARE_CONFIG": None}


def test_root_is_kept_out_of_every_trees_project(box1: Sandbox) -> None:
    """With tree b's config in effect (a module loaded), tree a's project dir is still no place for root's uv; with
    no tree chosen, neither is it, and a UV_PYTHON_INSTALL_DIR naming a tree's dirs is still not root's own."""
    box = box1
    project_dir, app, marker, out = planted(box)
    tree_dir, env = two_trees(box, project_dir)
    refused(
        box,
        marker,
        "sync",
        cwd=app,
        env={"UVSHARE_CONFIG": str(tree_dir / "b.toml"), "UVSHARE_TREES_DIR": str(tree_dir)},
    )
    refused(box, marker, "sync", cwd=app, env=env)
    for pydir in (box.shared / "python", app / "pythons"):
        planted_python = pydir / SHARED_FAKE / "bin"
        plant(box, marker, *(planted_python / name for name in ("python", "python3", "python3.12")))
        box.run("root", "uvshare", "venv", out / f"v-{pydir.name}", env={**env, "UV_PYTHON_INSTALL_DIR": str(pydir)})
        assert not ran_as_root(marker), pydir


def test_doctor_and_repair_cover_the_project_dir(box: Sandbox) -> None:
    """A file made in the project without group write (no ACL kept, the maker's umask 022) is a doctor finding;
    repair fixes it; doctor is then healthy."""
    project_dir, wheels = team_box(box, acl=False)
    app = project_dir / "app"
    start_project(box, "alice", app, wheels, umask=0o022)
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 1 and "project-dir" in doctor.stdout and "not group-writable" in doctor.stdout, str(
        doctor
    )
    repair = box.ok("root", "uvshare", "share", "repair")
    assert "project-dir" in repair.stdout, str(repair)
    assert not not_shared(project_dir, group_gid())
    box.ok("root", "uvshare", "share", "doctor")
    box.ok("bob", "uvshare", "sync", "--python", harness.SYSTEM_PYTHON, cwd=app, umask=0o022)


def test_project_dir_must_stay_out_of_the_tree(box: Sandbox) -> None:
    """A project dir holding the shared dirs (members could rename them) is refused, naming the key and the fix."""
    box.write_config(project_dir=str(box.shared.parent))
    result = box.run("alice", "uvshare", "--version")
    assert result.returncode == 2, str(result)
    assert f"key 'project-dir' is {box.shared.parent}, which holds the shared dir" in result.stderr, str(result)
    assert os.path.exists(box.config)


def test_a_group_writable_dir_above_the_tree_is_fenced_too(box1: Sandbox) -> None:
    """The dir above the shared dirs, group-writable (a group's own project root, or as older uvshare made it), with a
    `.venv` alice put there: root's uv with its current dir there is refused."""
    box = box1
    _project_dir, _app, marker, _out = planted(box)
    box.member_writable_prefix()
    plant_venv(box, marker, box.shared / ".venv")
    line = refused(box, marker, "pip", "list", cwd=box.shared)
    assert f"a dir above the shared dirs that others besides root can write {box.shared}" in line, line


def test_roots_ordinary_commands_still_run(box1: Sandbox) -> None:
    """The fence stops nothing of root's own: a venv and an install in its home, help and --version in a project,
    `python list` from the project's parent and in a shared dir (a command on the tree: run as the install-user)."""
    box = box1
    project_dir, app, marker, _out = planted(box)
    home = box.home(box.users["root"])
    wheels = box.root / "wheels"
    box.ok("root", "uvshare", "venv", "--python", harness.SYSTEM_PYTHON, home / "x")
    box.ok("root", "uvshare", "pip", "install", "-p", home / "x", "--no-index", "--find-links", wheels, "hello-a")
    box.ok("root", "uvshare", "--version", cwd=app)
    box.ok("root", "uvshare", "help", "sync", cwd=app)
    box.ok("root", "uvshare", "python", "list", "--only-installed", cwd=project_dir.parent)
    box.ok("root", "uvshare", "python", "list", "--only-installed", cwd=box.shared / "python")
    assert not ran_as_root(marker)


@pytest.mark.parametrize("how", ["group-writable", "a member's", "opened by an ACL"])
def test_a_dir_above_the_tree_others_can_write_is_fenced(box1: Sandbox, how: str) -> None:
    """The dir above the shared dirs and the project dir, writable by others than root — group-writable (a group's own
    `/proj/a`), owned by a member (a PI's), or opened by an ACL entry — with a `.venv` alice put there: root's uv with
    its current dir there is refused, and a bin dir below it on root's PATH is not used; root's commands on the tree
    still run there (as the install-user)."""
    box = box1
    project_dir, app, marker, out = planted(box)
    top = project_dir.parent  # above the project dir (proj/work), made like a group's /proj/a
    if how == "group-writable":
        os.chown(top, 0, group_gid())
        top.chmod(0o2775)
    elif how == "a member's":
        os.chown(top, box.users["alice"].uid, group_gid())
    else:
        subprocess.run(["setfacl", "-m", f"u:{box.users['alice'].name}:rwx", str(top)], check=True)
    try:
        venv = top / ".venv"
        plant_venv(box, marker, venv)
        line = refused(box, marker, "pip", "list", cwd=top)
        assert f"a dir above the shared dirs that others besides root can write {top}" in line, line
        path = f"{venv / 'bin'}:{box.bin_dir}:{box.uv.parent}:/usr/bin:/bin"
        box.ok("alice", "ln", "-s", "python", venv / "bin" / "python3")
        box.ok("root", "uvshare", "venv", "--python", "python3", out / "v", env={"PATH": path})
        assert not ran_as_root(marker)
        box.ok("root", "uvshare", "python", "list", "--only-installed", cwd=box.shared / "python")
        box.ok("root", "uvshare", "python", "list", "--only-installed", cwd=app)
    finally:
        os.chown(top, 0, 0)
        top.chmod(0o755)
        subprocess.run(["setfacl", "-b", str(top)], check=False)


def test_an_outsiders_words_after_the_program_are_the_programs(box1: Sandbox) -> None:
    """An outsider's `uv run` of a program whose own arguments name the project dir (a commit message, a file to
    compare with) is no use of the project: not refused."""
    box = box1
    _project_dir, app, _marker, _out = planted(box)
    box.ok("dave", "uvshare", "run", "--no-project", "-p", harness.SYSTEM_PYTHON, "true", f"moved out of {app}")


@pytest.mark.parametrize("where", ["mine", "mine/src/pkg"])
def test_roots_own_venv_on_a_shared_python_is_refused(box1: Sandbox, where: str) -> None:
    """Root's own project (in its home) whose `.venv` runs a shared Python (as an image build makes it): root's uv
    started there, or in a dir below, or with that venv active, is refused, naming the venv."""
    box = box1
    _project_dir, _app, marker, _out = planted(box)
    mine = box.home(box.users["root"]) / "mine"
    (mine / "src" / "pkg").mkdir(parents=True)
    (mine / "pyproject.toml").write_text('[project]\nname = "m"\nversion = "1"\n')
    shared_python_venv(box, marker, mine / ".venv")
    home = box.home(box.users["root"])
    for cwd, env in ((home / where, {}), (home, {"VIRTUAL_ENV": str(mine / ".venv")})):
        result = box.run("root", "uvshare", "pip", "list", cwd=cwd, env=env)
        assert not ran_as_root(marker), str(result)
        assert result.returncode == 2 and f"the venv {mine / '.venv'} runs" in result.stderr, str(result)


def shared_python_venv(box: Sandbox, marker: Path, venv: Path) -> None:
    """VENV, root's, on a 'shared Python' alice planted (as an image build makes one on a real shared Python)."""
    shared_python = box.shared / "python" / SHARED_FAKE / "bin"
    plant(box, marker, shared_python / "python3.12")
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {shared_python}\n")
    (venv / "bin" / "python").symlink_to(shared_python / "python3.12")


def test_root_with_a_config_without_a_group_gets_no_shared_dir(box1: Sandbox) -> None:
    """A config without `group` loads; root is root all the same: its tree command stops for want of an
    install-user in a group, and no shared dir reaches root's own uv."""
    box = box1
    box.write_config(group=None)
    result = box.run("root", "uvshare", "cache", "dir")
    assert str(box.shared) not in result.stdout, str(result)
    listed = box.run("root", "uvshare", "run", "--no-project", "-p", harness.SYSTEM_PYTHON, "env")
    assert str(box.shared) not in listed.stdout, str(listed)


@pytest.mark.parametrize("whose", ["alice's own dir", "a dir the group may write", "a dir an ACL opens to bob"])
def test_root_will_not_run_uv_where_a_member_can_write(box1: Sandbox, whose: str) -> None:
    """Root started in a dir a member could change (or in one below it): alice could put a project of hers there, or
    move her dir with root's shell inside it there from the project dir. Refused, naming who; in an outsider's own dir
    (dave's: a CI runner's checkout) root's uv runs, as root's choice."""
    box = box1
    _project_dir, _app, marker, _out = planted(box)
    top = box.root / "work-here"
    (top / "sub").mkdir(parents=True)
    top.chmod(0o755)
    if whose == "alice's own dir":
        os.chown(top, box.users["alice"].uid, box.users["alice"].gid)
        expected = f"user {box.users['alice'].name} (a member)"
    elif whose == "a dir the group may write":
        os.chown(top, 0, group_gid())
        top.chmod(0o775)
        expected = f"the group '{GROUP}'"
    else:
        subprocess.run(["setfacl", "-m", f"u:{box.users['bob'].name}:rwx", str(top)], check=True)
        expected = f"user {box.users['bob'].name} (a member)"
    line = refused(box, marker, "venv", "--python", harness.SYSTEM_PYTHON, box.root / "v", cwd=top / "sub")
    assert f"root does not run uv in {top / 'sub'}: {expected} can change" in line, line
    os.chown(top, box.users["dave"].uid, box.users["dave"].gid)
    top.chmod(0o755)
    subprocess.run(["setfacl", "-b", str(top)], check=True)
    box.ok("root", "uvshare", "venv", "--python", harness.SYSTEM_PYTHON, box.root / "v", cwd=top / "sub")
    assert not ran_as_root(marker)


BACKEND_PYPROJECT = """[project]
name = "app"
version = "0.1"
requires-python = ">=3.8"

[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[tool.uv]
no-index = true
"""
# A build backend in the project's own dir: uv imports it, as whoever runs uv, to build the project.
BACKEND = "import os\nopen({marks!r}, 'a').write(str(os.getuid()) + '\\n')\n"


def test_a_member_moves_roots_current_dir_out_of_the_team_project_dir(box1: Sandbox) -> None:
    """The attack review's (the current dir): root's shell is in alice's project in the team project dir, where
    uvshare refuses root's uv. alice renames that dir (hers, in a dir the group writes) out of the project dir, into
    her home on the same filesystem: root's current dir, the same inode, is now outside every fenced dir by the
    kernel's walk, and root's `uv sync` there runs alice's in-tree build backend as root. Root never named the
    member's dir: it is still where its shell went, by its prompt ($PWD) and by what root chose."""
    box = box1
    project_dir, _wheels = team_box(box)
    marks = box.root / "marks"
    marks.touch()
    marks.chmod(0o666)
    app = project_dir / "app"
    box.ok("alice", "sh", "-c", 'mkdir "$1" && cat > "$1/pyproject.toml"', "sh", app, input=BACKEND_PYPROJECT)
    box.ok("alice", "sh", "-c", 'cat > "$1/backend.py"', "sh", app, input=BACKEND.format(marks=str(marks)))
    # the rule as promised: root's uv in the team project dir is refused, and runs nothing
    refused = box.run("root", "uvshare", "sync", "--python", "/usr/bin/python3", cwd=app)
    assert refused.returncode == 2 and "team project dir" in refused.stderr, str(refused)
    assert not marks.read_text()
    # root is in the dir; alice moves it out meanwhile; root runs uv there
    ready, moved = box.root / "root-is-in", box.root / "moved"
    elsewhere = box.home(box.users["alice"]) / "app"
    root_sh = (
        f'cd "{app}" && touch "{ready}" && while [ ! -e "{moved}" ]; do sleep 0.1; done; '
        "exec uvshare sync --python /usr/bin/python3"
    )
    held = box.popen("root", "sh", "-c", root_sh, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if ready.exists():
                break
            time.sleep(0.1)
        box.ok("alice", "mv", app, elsewhere)
        moved.touch()
        out, err = held.communicate(timeout=300)
    finally:
        if held.poll() is None:
            held.kill()  # the test's own
            held.wait()
    ran = {int(u) for u in marks.read_text().split()}
    assert 0 not in ran, f"root ran alice's build backend (uids {ran}): {out}{err}"
