"""Where a uv call works — its current dir, the paths among its arguments and in uv's environment — and whether any of
them lands in given dirs (a team's project dir, the shared tree), however it is spelt.

Used for root (whose uv must never work on what members can write), for outsiders (told clearly that a team's project
dir is closed to them) and to pick a tree by its project dir. Never on the path of a call without project dirs or
trees. A place lands in a dir when the dir is one of its ancestors, compared by device and inode after every symlink
is resolved: a symlink, `..`, a relative path (from the current dir or from `--directory`), a bind mount of the dir,
a path not made yet below one of them are all the same place.
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

# Variables besides uv's own (every UV_* one counts) that tell uv, or the Python it queries, where to look.
PLACE_VARS = ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONSTARTUP")
# Options and variables that change the dir relative paths start from.
BASE_OPTIONS = ("--directory", "--project")
BASE_VARS = ("UV_WORKING_DIR", "UV_WORKING_DIRECTORY", "UV_PROJECT")


def pieces(text: str) -> "list[str]":
    """What in TEXT (an argument or a variable's value) may name a path: itself, an option's value (`--opt=VALUE`,
    `-pVALUE`, `-p=VALUE`), each entry of a list (`:` or blanks between), and the path of each `file://` URL (`pkg @
    file:///x`, `git+file:///x`)."""
    found = [text]
    if text.startswith("-"):
        value = text.partition("=")[2]
        found.append(value)
        if not text.startswith("--") and len(text) > 2:
            found.append(text[2:].lstrip("="))
    for part in text.replace(":", " ").split() if (":" in text or " " in text) else ():
        found.append(part)
    for chunk in text.split("file://")[1:]:
        rest = chunk.split()[0] if chunk.strip() else ""
        found.append(rest[len("localhost") :] if rest.startswith("localhost/") else rest)
    return [p for p in found if p and "://" not in p]


def places(args: "Sequence[str]", environ: "Mapping[str, str]") -> "list[str]":
    """Every place the call ARGS with ENVIRON may work in, as absolute paths: see the module's doc."""
    try:
        cwd = os.getcwd()
    except OSError:  # a removed current dir is in no project
        cwd = "/"
    words = [p for arg in args for p in pieces(arg)]
    texts = [p for var, value in environ.items() if var.startswith("UV_") or var in PLACE_VARS for p in pieces(value)]
    bases = [cwd]
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in BASE_OPTIONS:
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            bases.append(os.path.join(cwd, value))
    bases += [os.path.join(cwd, environ[var]) for var in BASE_VARS if environ.get(var)]
    found = [cwd, *bases]
    for piece in (*words, *texts):
        if piece.startswith("/"):
            found.append(piece)
        else:
            found += [os.path.join(base, piece) for base in bases]
    return list(dict.fromkeys(found))


def identities(dirs: "Iterable[str]") -> "dict[tuple[int, int], str]":
    """Each existing dir of DIRS by (device, inode)."""
    known = {}
    for path in dirs:
        try:
            st = os.stat(path)
        except OSError:
            continue
        known[(st.st_dev, st.st_ino)] = path
    return known


def landing(place: str, known: "Mapping[tuple[int, int], str]") -> "str | None":
    """The dir of KNOWN (see identities) that PLACE lies in, or None: PLACE resolved as far as it exists, then each
    ancestor compared by device and inode (one the caller cannot stat is passed over)."""
    here = os.path.realpath(place)
    while True:
        try:
            st = os.stat(here)
        except OSError:
            pass
        else:
            hit = known.get((st.st_dev, st.st_ino))
            if hit is not None:
                return hit
        if here == "/":
            return None
        here = os.path.dirname(here)


def lands_in(where: "Sequence[str]", dirs: "Sequence[str]") -> "str | None":
    """The first of DIRS that one of the places WHERE lands in, or None. A dir not made yet is compared as text."""
    if not dirs:
        return None
    from uvshare.shim import in_tree, tree_tops

    known = identities(dirs)
    for place in where:
        hit = landing(place, known) if known else None
        if hit is not None:
            return hit
    for top in dirs:
        if not os.path.lexists(top) and any(in_tree(place, tree_tops([top])) for place in where):
            return top
    return None
