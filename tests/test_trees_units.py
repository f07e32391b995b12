"""Unit tests of uvshare.trees: which tree a call is for (pure decisions over real files in a temporary dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
            trees.choose(env(tree_dir), ["python", "install"], needs_tree=True)
        message = str(e.value)
        assert "you are in the groups of 2: a (group " in message and f"config {tree_dir}/b.toml)" in message
        assert "module load uvshare/a" in message
        return
    chosen = trees.choose(env(tree_dir), ["sync"], needs_tree=needs)
    assert (chosen.files[0] if chosen else None) == (str(tree_dir / "a.toml") if expected else None)


def test_the_project_dir_decides(tree_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a tree's project dir (the current dir, an argument, VIRTUAL_ENV), that tree: also for an outsider, who is
    then refused by the shim in its words."""
    project = tmp_path / "work"
    (project / "app").mkdir(parents=True)
    write_tree(tree_dir, "a", os.getegid())
    write_tree(tree_dir, "b", OTHER_GID, project)
    outside = trees.choose(env(tree_dir), ["sync"], needs_tree=True)
    assert outside is not None and outside.files[0].endswith("a.toml")
    for args, extra in (
        (["sync", "--directory", str(project / "app")], {}),
        ([f"--project={project}/app/", "sync"], {}),
        (["pip", "list"], {"VIRTUAL_ENV": f"{project}/app/.venv"}),
    ):
        chosen = trees.choose({**env(tree_dir), **extra}, args, needs_tree=True)
        assert chosen is not None and chosen.project_dir == str(project), args
    monkeypatch.chdir(project / "app")
    chosen = trees.choose(env(tree_dir), ["sync"], needs_tree=True)
    assert chosen is not None and chosen.project_dir == str(project)
    monkeypatch.chdir(tmp_path)
    assert trees.choose(env(tree_dir), ["sync", "--directory", "work/app"], needs_tree=True).project_dir == str(project)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("/x/y", "/x/y"),
        ("--python=/x/y", "/x/y"),
        ("-p/x/y", "/x/y"),
        ("-p=/x/y", "/x/y"),
        ("evil @ file:///x/y", "/x/y"),
        ("git+file:///x/y#egg=e", "/x/y#egg=e"),
        ("file://localhost/x/y", "/x/y"),
        ("/a:/x/y", "/x/y"),  # a PATH-like list
        ("https://example.org/simple /x/y", "/x/y"),  # blanks between, as UV_INDEX has them
    ],
)
def test_pieces_find_paths_however_spelt(text: str, path: str) -> None:
    assert path in places.pieces(text)


def test_places_start_relative_paths_from_the_dirs_uv_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path counts from the current dir and from `--directory`/UV_WORKING_DIR; UV_* values count."""
    monkeypatch.chdir(tmp_path)
    where = places.places(["--directory", "/srv", "venv", "-p", "work/.venv/bin/python"], {"UV_WORKING_DIR": "/w"})
    assert "/srv/work/.venv/bin/python" in where and f"{tmp_path}/work/.venv/bin/python" in where
    assert "/w/work/.venv/bin/python" in where and "/w" in where and str(tmp_path) in where
    assert "/closed/x" in places.places(["--python=/closed/x"], {})  # unseen: a closed dir hides what is below


def test_lands_in_by_identity(tmp_path: Path) -> None:
    """Through a symlink, `..`, or below it a path not made yet: the same dir."""
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (tmp_path / "link").symlink_to(project / "app")
    for place in (f"{tmp_path}/link/new/venv", f"{tmp_path}/other/../proj/app", str(project)):
        assert places.lands_in([place], [str(project)]) == str(project), place
    assert places.lands_in([str(tmp_path), "/usr"], [str(project)]) is None
    assert places.lands_in([f"{tmp_path}/later/x"], [f"{tmp_path}/later"]) == f"{tmp_path}/later"  # not made yet


def test_config_values_skip_comments_and_never_wait_on_a_fifo(tmp_path: Path) -> None:
    """Root's uv.toml is read for every quoted value on a line that is no comment; a FIFO there is not waited on."""
    config = tmp_path / "uv.toml"
    config.write_text(
        "# cache-dir = '/commented'\ncache-dir = \"/opt/uv/cache\"  # 'also a comment?'\n[pip]\npython = '3.12'\n"
    )
    assert places.config_values(str(config)) == ["/opt/uv/cache", "also a comment?", "3.12"]
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    assert places.config_values(str(fifo)) is None  # (no file to vet: refused when named explicitly)
    assert places.config_values(str(tmp_path / "missing.toml")) == []


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


@pytest.mark.parametrize(
    ("args", "program", "expected"),
    [
        (["run", "git", "commit", "-m", "/proj"], "uv", ["run", "git"]),
        (["run", "--with", "x", "-p", "3.12", "python", "a.py"], "uv", ["run", "--with", "x", "-p", "3.12", "python"]),
        (["tool", "run", "ruff", "/proj"], "uv", ["tool", "run", "ruff"]),
        (["--from", "/proj/pkg", "ruff", "/x"], "uvx", ["--from", "/proj/pkg", "ruff"]),
        (["sync", "--directory", "/proj"], "uv", ["sync", "--directory", "/proj"]),
        (["pip", "install", "--", "/proj"], "uv", ["pip", "install"]),
        (
            ["run", "--extra", "gpu", "--project", "/p", "true", "/x"],
            "uv",
            ["run", "--extra", "gpu", "--project", "/p", "true"],
        ),
        (
            ["-q", "run", "--no-project", "git", "commit", "-m", "/proj"],
            "uv",
            ["-q", "run", "--no-project", "git", "commit"],
        ),
    ],
)
def test_uv_part_stops_at_the_program_started(args: list[str], program: str, expected: list[str]) -> None:
    from uvshare.shim import uv_part

    assert list(uv_part(args, program)) == expected


def test_a_broken_tree_is_skipped_and_said(tree_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A retired project's config (its group deleted) or a broken one stops nobody: warned about, left out."""
    write_tree(tree_dir, "a", os.getegid())
    (tree_dir / "retired.toml").write_text("group = 'no-such-group-anymore'\n")
    (tree_dir / "broken.toml").write_text("group = \n")
    chosen = trees.choose(env(tree_dir), ["sync"], needs_tree=True)
    assert chosen is not None and chosen.files[0].endswith("a.toml")
    err = capsys.readouterr().err
    assert f"{tree_dir}/retired.toml: key 'group': unknown group 'no-such-group-anymore'" in err
    assert f"the tree of {tree_dir}/broken.toml is left out until its config is mended" in err
