"""Unit tests of uvshare.trees: which tree a call is for (pure decisions over real files in a temporary dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.harness import need_root
from uvshare import places, trees
from uvshare.errors import UvshareError

OTHER_GID = 4242424  # a group the test process is not in


@pytest.fixture
def tree_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty trees dir, named by UVSHARE_TREES_DIR; the caller seen as a user (uid 1000) in its own groups."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(trees, "_loaded", {})
    directory = tmp_path / "trees"
    directory.mkdir()
    return directory


def write_tree(tree_dir: Path, name: str, gid: int, project: Path | None = None) -> Path:
    prefix = tree_dir.parent / name
    text = f"group = {gid}\npython-install-dir = '{prefix}/python'\ncache-dir = '{prefix}/cache'\n"
    if project is not None:
        text += f"project-dir = '{project}'\n"
    path = tree_dir / f"{name}.toml"
    path.write_text(text)
    return path


def env(tree_dir: Path) -> dict[str, str]:
    return {trees.ENV_TREES: str(tree_dir)}


def test_tree_files_are_the_toml_files_by_name(tree_dir: Path) -> None:
    for name in ("b.toml", "a.toml", ".hidden.toml", "notes.txt", "c.toml~"):
        (tree_dir / name).write_text("")
    assert [os.path.basename(p) for p in trees.tree_files(str(tree_dir))] == ["a.toml", "b.toml"]
    assert trees.tree_files(str(tree_dir / "missing")) == []


@pytest.mark.parametrize(
    ("groups", "needs", "expected"),
    [
        (("mine", "other"), True, "mine"),  # the only tree of the caller's groups
        (("other", "other"), True, None),  # in none: no tree
        (("mine", "mine"), False, None),  # several, but nothing needs a tree
        (("mine", "mine"), True, "error"),  # several: every choice said
    ],
)
def test_choice_by_membership(tree_dir: Path, groups: tuple[str, str], needs: bool, expected: str | None) -> None:
    for name, kind in zip(("a", "b"), groups):
        write_tree(tree_dir, name, os.getegid() if kind == "mine" else OTHER_GID)
    if expected == "error":
        with pytest.raises(UvshareError) as e:
            trees.choose(env(tree_dir), needs_tree=True)
        message = str(e.value)
        assert "you are in the groups of 2: a (group " in message and f"config {tree_dir}/b.toml)" in message
        assert "module load uvshare/a" in message
        return
    chosen = trees.choose(env(tree_dir), needs_tree=needs)
    assert (chosen.files[0] if chosen else None) == (str(tree_dir / "a.toml") if expected else None)


def test_the_project_dir_decides(tree_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a tree's project dir (the current dir, however the shell got there), that tree: also for an outsider, who
    is then refused by the shim in its words. A path named in the arguments or a variable decides nothing."""
    project = tmp_path / "work"
    (project / "app").mkdir(parents=True)
    (tmp_path / "link").symlink_to(project / "app")
    write_tree(tree_dir, "a", os.getegid())
    write_tree(tree_dir, "b", OTHER_GID, project)
    outside = trees.choose({**env(tree_dir), "VIRTUAL_ENV": f"{project}/app/.venv"}, needs_tree=True)
    assert outside is not None and outside.files[0].endswith("a.toml")
    for here in (project / "app", tmp_path / "link", project):
        monkeypatch.chdir(here)
        chosen = trees.choose(env(tree_dir), needs_tree=True)
        assert chosen is not None and chosen.project_dir == str(project), here


def test_cwd_in_walks_the_kernels_dotdot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The current dir is compared by identity, dir by dir up through the kernel's own `..`: through a symlink or
    after the dir was renamed it is the same place; a sibling or a dir above is not."""
    project = tmp_path / "proj"
    (project / "app" / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to(project / "app")
    monkeypatch.chdir(tmp_path / "link" / "deep")
    assert places.cwd_in([str(project)]) == str(project)
    (tmp_path / "proj").rename(tmp_path / "renamed")  # the place, not its name, counts
    assert places.cwd_in([str(tmp_path / "renamed")]) == str(tmp_path / "renamed")
    monkeypatch.chdir(tmp_path)
    assert places.cwd_in([str(tmp_path / "renamed")]) is None
    assert places.cwd_in([str(tmp_path / "missing")]) is None


def test_found_venvs_are_the_active_one_and_those_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The venvs uv picks up by itself: VIRTUAL_ENV's and a `.venv` in the current dir or above it."""
    for venv in (tmp_path / ".venv", tmp_path / "a" / ".venv", tmp_path / "active"):
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (tmp_path / "a" / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a" / "b")
    found = places.found_venvs({"VIRTUAL_ENV": str(tmp_path / "active")})
    assert found == [str(tmp_path / "active"), str(tmp_path / "a" / ".venv"), str(tmp_path / ".venv")]


@pytest.mark.parametrize(
    ("args", "program", "expected"),
    [
        ([], "uv", True),
        (["--version"], "uv", True),
        (["-q", "self", "update"], "uv", True),
        (["--color", "never", "help", "sync"], "uv", True),
        (["--version"], "uvx", True),
        (["help"], "uvx", False),  # a tool called help
        (["--preview-features", "help", "sync"], "uv", False),  # a value, then the command: sync
        (["--unknown-option", "help", "sync"], "uv", False),  # an option uvshare does not know may take a value
        (["sync"], "uv", False),
    ],
)
def test_informational(args: list[str], program: str, expected: bool) -> None:
    from uvshare.shim import informational

    assert informational(args, program) is expected


def test_a_broken_tree_is_skipped_and_said(tree_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A retired project's config (its group deleted) or a broken one stops nobody: warned about, left out."""
    write_tree(tree_dir, "a", os.getegid())
    (tree_dir / "retired.toml").write_text("group = 'no-such-group-anymore'\n")
    (tree_dir / "broken.toml").write_text("group = \n")
    chosen = trees.choose(env(tree_dir), needs_tree=True)
    assert chosen is not None and chosen.files[0].endswith("a.toml")
    err = capsys.readouterr().err
    assert f"{tree_dir}/retired.toml: key 'group': unknown group 'no-such-group-anymore'" in err
    assert f"the tree of {tree_dir}/broken.toml is left out until its config is mended" in err


def test_an_interpreter_members_could_replace_counts(tmp_path: Path) -> None:
    """An interpreter root owns, in a dir others may write (they could rename another file into its place), is one
    members can write; one in root's own dirs is not."""
    need_root()  # (root's own dirs are root's)
    mine = tmp_path / "mine" / "bin"
    mine.mkdir(parents=True)
    python = mine / "python3"
    python.write_text("")
    python.chmod(0o755)
    assert places.members_can_write(str(python), {}) is None
    mine.chmod(0o777)
    assert places.members_can_write(str(python), {}) == f"in {mine}, which others besides root can write"
    mine.chmod(0o755)
    python.chmod(0o775)
    assert places.members_can_write(str(python), {}) == "which others besides root can write"


def test_a_sticky_dir_of_roots_is_no_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root's current dir below a sticky dir of root's that its group may write (`/tmp` is 1777, group root): members
    may add entries there, not rename or remove root's, so only root's own dirs below count."""
    need_root()
    sticky = tmp_path / "sticky"
    (sticky / "mine").mkdir(parents=True)
    sticky.chmod(0o1777)
    (sticky / "mine").chmod(0o700)
    monkeypatch.chdir(sticky / "mine")
    assert places.member_writes({0}) is None
    (sticky / "mine").chmod(0o770)
    assert places.member_writes({0}) == "the group 'root'"
