"""Several shared trees on one machine (an HPC site's project groups): one config per tree in a trees dir, and which
tree a call is for when nothing else says so.

Read only when no config file is in effect (no UVSHARE_CONFIG, no /etc/uvshare/config.toml, no XDG file): a site
with one tree never pays for it. The tree is, in order: the one whose project dir the call works in (the current
dir, as the kernel knows it), the only one of the caller's groups, or none for a caller in
none of them. A caller in several, with nothing to tell them apart, is told the choices: never a silent pick.
"""

import os

from uvshare.config import ENV_TREES, TREES_DIR  # (UVSHARE_TREES_DIR: another trees dir, for tests or a site's own)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from uvshare.config import Config


_loaded: "dict[str, list[tuple[str, Config]]]" = {}  # trees dir -> its trees, read once per call


def trees_dir(environ: "Mapping[str, str]") -> str:
    """The dir that holds one config file per tree."""
    return environ.get(ENV_TREES) or TREES_DIR


def tree_files(directory: str) -> list[str]:
    """The tree configs in DIRECTORY (`NAME.toml`, not hidden), by name; none when it does not exist."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        from uvshare.config import config_error

        raise config_error(f"{directory}: cannot list the shared trees' configs: {e.strerror}") from None
    return [os.path.join(directory, n) for n in sorted(names) if n.endswith(".toml") and not n.startswith(".")]


def load_trees(environ: "Mapping[str, str]") -> "list[tuple[str, Config]]":
    """Every tree of the trees dir: (name, config), read as any config is (as root: trusted first)."""
    directory = trees_dir(environ)
    if directory not in _loaded:
        from uvshare.config import ENV_CONFIG, load
        from uvshare.errors import UvshareError

        trees = []
        for path in tree_files(directory):
            try:
                config = load({ENV_CONFIG: path})
            except UvshareError as e:  # one retired or broken tree does not stop everybody's uv: said, and skipped
                from uvshare.errors import say

                say("warning", f"{e}; the tree of {path} is left out until its config is mended")
                continue
            if config is not None:
                trees.append((os.path.basename(path)[: -len(".toml")], config))
        _loaded[directory] = trees
    return _loaded[directory]


def is_member(config: "Config") -> bool:
    """Whether the caller is root or has the tree's group in this process."""
    from uvshare.config import membership

    return os.geteuid() == 0 or (config.gid is not None and membership(config.gid) == "member")


def choose(environ: "Mapping[str, str]", *, needs_tree: bool) -> "Config | None":
    """The tree this call is for (see the module's doc), None for none; UvshareError when the caller is in several
    trees' groups, nothing tells them apart, and the call NEEDS_TREE."""
    trees = load_trees(environ)
    if not trees:
        return None
    found = project_tree(environ)
    if found is not None:
        return found[1]  # an outsider's too: they are then told whose it is
    mine = [(name, config) for name, config in trees if is_member(config)]
    if len(mine) == 1:
        return mine[0][1]
    if not mine or not needs_tree:
        return None
    from uvshare.errors import UvshareError, escape

    choices = "; ".join(f"{name} ({describe(config)})" for name, config in mine)
    first = mine[0][0]
    whose = f"this machine has {len(mine)}" if os.geteuid() == 0 else f"you are in the groups of {len(mine)}"
    raise UvshareError(
        f"this command needs a shared uv tree, and {whose}: {choices}; nothing says "
        f"which: load one's module ('module load uvshare/{escape(first)}'), set UVSHARE_CONFIG to its config, or "
        "run it in its project dir"
    )


def project_tree(environ: "Mapping[str, str]") -> "tuple[str, Config] | None":
    """The tree (name, config) whose project dir the current dir is, or lies below; None for none."""
    projects = {config.project_dir: (name, config) for name, config in load_trees(environ) if config.project_dir}
    if not projects:
        return None
    from uvshare.places import cwd_in

    hit = cwd_in(list(projects))
    return None if hit is None else projects[hit]


def warn_other_tree(environ: "Mapping[str, str]", config: "Config") -> None:
    """(A config in effect: a module's, a user's own, the default) One warning when the current dir is the project
    dir of another tree: uv would work there with CONFIG's cache, Pythons and tools, not that tree's. On every call
    of a machine with trees: only each tree's project-dir is read (no group lookup, no checks), and nothing is said
    about a broken tree's config here."""
    from uvshare.config import ENV_CONFIG, PROJECT_KEY, normal_path, read_file, resolved

    projects: dict[str, str] = {}  # project dir -> the tree's config
    for path in tree_files(trees_dir(environ)):
        try:
            project = (read_file(path) or {}).get(PROJECT_KEY)
        except Exception as e:  # (a ConfigError: uvshare.errors is imported only when there is one, as now)
            from uvshare.errors import UvshareError

            if not isinstance(e, UvshareError):
                raise
            continue
        if isinstance(project, str) and project.startswith("/"):
            projects.setdefault(normal_path(project), path)
    projects.pop(config.project_dir or "", None)
    if not projects:
        return
    from uvshare.places import cwd_in

    hit = cwd_in(list(projects))
    if hit is None or resolved(projects[hit]) in {resolved(f) for f in config.files}:
        return
    from uvshare.errors import escape, say

    path = projects[hit]
    name = os.path.basename(path)[: -len(".toml")]
    loaded = config.files[-1] + (f" ({ENV_CONFIG})" if environ.get(ENV_CONFIG) else "")
    say(
        "warning",
        f"this is {hit}, the team project dir of the tree {name} ({path}), but the tree in effect is {loaded}: uv "
        f"works here with its cache, Pythons and tools, not {name}'s; load {name}'s module ('module load "
        f"uvshare/{escape(name)}') or set {ENV_CONFIG}={path}",
    )


def describe(config: "Config") -> str:
    """`group proja, /proj/a/uv, config /etc/uvshare/trees/proja.toml`: a tree as a user knows it."""
    dirs = list(config.dirs.values())
    where = os.path.commonpath(dirs) if dirs else ""
    parts = [f"group {config.group}", where, f"config {config.files[0]}"]
    return ", ".join(p for p in parts if p)


def all_tops(environ: "Mapping[str, str]") -> "tuple[list[str], list[str]]":
    """Every tree's shared dirs and project dir: what root's uv keeps away from, whichever tree (if any) the call is
    for."""
    dirs: list[str] = []
    projects: list[str] = []
    for _name, config in load_trees(environ):
        if config.kind != "curated":  # (nobody but root and its install-user can write a curated tree)
            dirs += config.dirs.values()
        if config.project_dir:
            projects.append(config.project_dir)
    return dirs, projects


def all_gids(environ: "Mapping[str, str]") -> "set[int]":
    """Every tree's group: whose members root's uv keeps away from (see uvshare.places.member_writes)."""
    return {config.gid for _name, config in load_trees(environ) if config.gid is not None}


def program_of(environ: "Mapping[str, str]", program: str) -> "tuple[str | None, str | None]":
    """The uv (or uvx, PROGRAM) that the caller's trees name (every tree's, for a caller in none), and the config that
    names it: for a call that needs no tree (`uv --version`, `uv help`) where nothing says which. When they name
    different ones, the first tree's answers, and a warning says so."""
    trees = load_trees(environ)
    mine = [(name, config) for name, config in trees if is_member(config)] or trees
    named = [(name, getattr(config, program), config.files[0]) for name, config in mine if getattr(config, program)]
    if not named:
        return None, None
    name, path, where = named[0]
    others = sorted({f"{n}: {p}" for n, p, _ in named if p != path})
    if others:
        from uvshare.errors import say

        say(
            "warning",
            f"your trees name different {program} binaries ({name}: {path}; {'; '.join(others)}): this is {name}'s; "
            f"load one's module ('module load uvshare/{name}') or set UVSHARE_CONFIG to say which",
        )
    return path, where
