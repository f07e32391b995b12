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
    from collections.abc import Iterable, Iterator, Mapping, Sequence

# Variables besides uv's own (every UV_* one counts) that tell uv, or the Python it queries, where to look.
PLACE_VARS = (
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONSTARTUP",
    "HOME",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_BIN_HOME",
)
# Options and variables that change the dir relative paths start from.
BASE_OPTIONS = ("--directory", "--project")
BASE_VARS = ("UV_WORKING_DIR", "UV_WORKING_DIRECTORY", "UV_PROJECT")
SEPARATORS = ",;=@:"  # between the entries of uv's lists (`a,b`, `name=path`, `pkg @ url`, PATH-like `a:b`)


def ancestors(path: str) -> "Iterator[str]":
    """PATH and every dir above it, up to `/`, as text."""
    while True:
        yield path
        if path in ("/", ""):
            return
        path = os.path.dirname(path)


def option_values(args: "Sequence[str]", names: "Iterable[str]") -> "list[str]":
    """The values ARGS gives the options NAMES (`--name VALUE` or `--name=VALUE`)."""
    values = []
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names:
            values.append(value if eq else (args[i + 1] if i + 1 < len(args) else ""))
    return values


def pieces(text: str) -> "list[str]":
    """What in TEXT (an argument or a variable's value) may name a path, however uv would read it: itself; an
    option's value (`--opt=VALUE`, `-pVALUE`, `-p=VALUE`, `-qpVALUE`); each entry of a list (`a,b`, `a:b`, blanks,
    `name=path`, `pkg @ path`); the path of each `file:` URL, percent-decoded (`file:///x/%41`, `file:/x`,
    `file://localhost/x`, `git+file:///x`)."""
    found = [text]
    if text.startswith("-"):
        found.append(text.partition("=")[2])
        if not text.startswith("--") and "/" in text:
            found.append(text[text.index("/") :])  # a cluster of short options, the last taking a path
    flat = text
    for separator in SEPARATORS:
        flat = flat.replace(separator, " ")
    found += flat.split()
    chunks = text.lower().split("file:")  # (one pass: a long argument of many URLs costs no more than its length)
    offset = len(chunks[0]) + len("file:")
    for chunk in chunks[1:]:
        rest = text[offset : offset + len(chunk)]
        offset += len(chunk) + len("file:")
        for separator in " \t\n,;":
            rest = rest.split(separator, 1)[0]
        rest = "/" + rest.lstrip("/")
        if rest.startswith("/localhost/"):
            rest = rest[len("/localhost") :]
        if "%" in rest:
            from urllib.parse import unquote

            rest = unquote(rest, errors="surrogateescape")
        found += [rest, rest.split("#", 1)[0].split("?", 1)[0]]
    return [p for p in found if p and "://" not in p and "\0" not in p]


def places(args: "Sequence[str]", environ: "Mapping[str, str]") -> "list[str]":
    """Every place the call ARGS with ENVIRON may work in, as absolute paths: see the module's doc. The current dir
    also as the shell spells it (PWD, when it is the same dir): a link on the way there is part of the place."""
    try:
        cwd = os.getcwd()
    except OSError:  # a removed current dir is in no project
        cwd = "/"
    logical = environ.get("PWD", "")
    words = [p for arg in args for p in pieces(arg)]
    texts = [p for var, value in environ.items() if var.startswith("UV_") or var in PLACE_VARS for p in pieces(value)]
    bases = [cwd, *(os.path.join(cwd, value) for value in option_values(args, BASE_OPTIONS))]
    bases += [os.path.join(cwd, environ[var]) for var in BASE_VARS if environ.get(var)]
    found = [cwd, *bases]
    if logical.startswith("/") and logical != cwd and same_dir(logical, cwd):
        found.append(logical)
    for piece in (*words, *texts):
        if piece.startswith("/"):
            found.append(piece)
        else:
            found += [os.path.join(base, piece) for base in bases]
    return list(dict.fromkeys(found))


def same_dir(one: str, other: str) -> bool:
    """Whether the paths ONE and OTHER lead to the same dir."""
    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):
        return False


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
    """The dir of KNOWN (see identities) that PLACE lies in, or None. Compared by device and inode, ancestor by
    ancestor (one the caller cannot stat is passed over), along two ways to read PLACE: as written, its `..` taken
    away as text (as uv does: `P/link/..` is P), each ancestor followed where it leads — so that a link inside a
    fenced dir still counts as inside it; and resolved, as far as it exists — so that a link or bind mount leading
    into one counts too."""
    from uvshare.config import normal_path

    for start in (normal_path(place), os.path.realpath(place)):
        for here in ancestors(start):
            try:
                st = os.stat(here)
            except (OSError, ValueError):
                continue
            hit = known.get((st.st_dev, st.st_ino))
            if hit is not None:
                return hit
    return None


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


def open_above(dirs: "Iterable[str]") -> "list[str]":
    """The dirs above DIRS that someone but root can write — a group's own `/proj/a` around `/proj/a/uv` and
    `/proj/a/work`, one a member owns, one an ACL opens, a prefix older uvshare made group-writable: they can put a
    `.venv` or a pyproject.toml there too. A world-writable sticky dir of root's (`/tmp`, `/var/tmp`) is not one: it
    is everybody's scratch space, where root's uv is as careful as without uvshare. Each dir is looked at once."""
    found: list[str] = []
    seen: set[str] = set()
    for path in dirs:
        for here in ancestors(os.path.dirname(os.path.realpath(path))):
            if here in seen or here == "/":
                break
            seen.add(here)
            if written_by_others(here):
                found.append(here)
    return found


def written_by_others(path: str) -> bool:
    """Whether someone but root can add, rename or remove entries in the dir PATH (its owner, its mode, or its
    access ACL); not for a world-writable sticky dir of root's."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return False  # (gone: nothing to fence)
    if st.st_uid != 0 or st.st_mode & 0o022:  # a member's, or others may write (but for everybody's /tmp)
        return st.st_uid != 0 or not (st.st_mode & 0o002 and st.st_mode & stat.S_ISVTX)
    from uvshare import acl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return True  # root cannot look (a root-squashed export): not provably root's alone
    try:
        try:
            entries = acl.read(fd, acl.ACCESS, probe=False)
        except OSError as e:
            return e.errno not in acl.UNSUPPORTED  # no POSIX ACLs there: the mode said it all
        return any(tag in (acl.USER, acl.GROUP) and perm & 0o2 for tag, perm, _ident in entries or ())
    finally:
        os.close(fd)


MAX_UV_CONFIG = 1 << 20  # a uv.toml is a few lines


def named_config_files(args: "Sequence[str]", environ: "Mapping[str, str]") -> "list[str]":
    """The config files root names itself: `--config-file`, UV_CONFIG_FILE."""
    return [environ.get("UV_CONFIG_FILE", ""), *option_values(args, ("--config-file",))]


def venvs(where: "Sequence[str]", environ: "Mapping[str, str]") -> "list[str]":
    """The venvs uv could use for a call that works in the places WHERE: UV_PROJECT_ENVIRONMENT's, VIRTUAL_ENV's,
    each place that is one, and the `.venv` of each place and of every dir above it (uv finds projects upward)."""
    found = [environ.get(var, "") for var in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")]
    seen: set[str] = set()
    for place in where:
        for here in ancestors(place):
            if here in seen:
                break
            seen.add(here)
            found += [here, os.path.join(here, ".venv")]
    return [v for v in dict.fromkeys(found) if v.startswith("/") and os.path.lexists(os.path.join(v, "bin", "python"))]


def uv_config_files(args: "Sequence[str]", environ: "Mapping[str, str]") -> "list[str]":
    """The config files root's uv reads: `--config-file`/UV_CONFIG_FILE; unless UV_NO_CONFIG the user's and the
    system's uv.toml; and the project's own, found from the current dir (and `--directory`/`--project`) upward:
    uv.toml, pyproject.toml, .python-version."""
    files = named_config_files(args, environ)
    if environ.get("UV_NO_CONFIG") not in ("1", "true"):
        home = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME", "/root"), ".config")
        files.append(os.path.join(home, "uv", "uv.toml"))
        system = [d for d in environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if d.startswith("/")]
        files += [os.path.join(d, "uv", "uv.toml") for d in system] + ["/etc/uv/uv.toml"]
    try:
        starts = [os.getcwd()]
    except OSError:
        starts = []
    for start in (*starts, *(os.path.abspath(value) for value in option_values(args, BASE_OPTIONS))):
        for here in ancestors(start):
            files += [os.path.join(here, name) for name in ("uv.toml", "pyproject.toml", ".python-version")]
    return [f for f in dict.fromkeys(files) if f]


def config_values(path: str) -> "list[str] | None":
    """Every quoted string on the lines of the TOML file PATH that are not comments; none when it does not exist or
    cannot be read; None when it is no regular file (a FIFO, `/dev/stdin`: not waited on, and nothing to vet)."""
    try:  # without blocking on a FIFO, reading a device or following the file into anything but a regular file
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return []
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, MAX_UV_CONFIG).decode("utf-8", "surrogateescape")
    except OSError:
        return []
    finally:
        os.close(fd)
    values: list[str] = []
    if os.path.basename(path) == ".python-version":  # one request a line, unquoted
        return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    for line in text.splitlines():
        rest = line.strip()
        while not rest.startswith("#"):
            starts = [i for i in (rest.find('"'), rest.find("'")) if i >= 0]
            if not starts:
                break
            first = min(starts)
            end = rest.find(rest[first], first + 1)
            if end < 0:
                break
            values.append(rest[first + 1 : end])
            rest = rest[end + 1 :]
    return values


def config_landing(
    args: "Sequence[str]", environ: "Mapping[str, str]", dirs: "Sequence[str]"
) -> "tuple[str, str, str] | None":
    """(file, value, dir) for the first value of root's uv config files (see uv_config_files) that lands in one of
    DIRS: an old `cache-dir = "/opt/uv/cache"` (plain uv's way to share a cache) would hand root's uv the shared
    cache; a `python = …` a member's interpreter. (file, "", "") for one named explicitly (`--config-file`,
    UV_CONFIG_FILE) that is no regular file: nothing uvshare could vet."""
    known = identities(dirs)
    explicit = named_config_files(args, environ)
    for path in uv_config_files(args, environ):
        values = config_values(path)
        if values is None:
            if path in explicit:
                return path, "", ""
            continue
        for value in values:
            for piece in pieces(value):
                full = os.path.join(os.path.dirname(path), os.path.expanduser(piece))
                hit = landing(full, known) if known else None
                if hit is not None:
                    return path, value, hit
    return None


# The names uv looks interpreters up by, on PATH.
INTERPRETERS = ("python", "pypy", "graalpy")


def keep_out(  # the fence and what it is made of, each given once by shim.Call.keep_root_out
    args: "Sequence[str]",
    environ: "Mapping[str, str]",
    fenced: "list[str]",
    projects: "list[str]",
    above: "list[str]",
    *,
    path: "str | None",
) -> None:
    """UvshareError, naming what and where, when root's uv (ARGS, ENVIRON) would work on what members can write:
    when a place it works in (see places), or a value of its config files (see config_landing), lands in FENCED (of
    which PROJECTS are team project dirs) or ABOVE them; and, with PATH (root's, outside an image build), when the
    venv it would use (see venvs) runs an interpreter there, or a `python…` link on PATH leads there (an admin's
    convenience `/usr/local/bin/python3.12 -> /opt/uv/python/…`: uv looks interpreters up by name)."""
    from uvshare.errors import UvshareError

    every = [*fenced, *above]
    where = dict.fromkeys(above, "a dir above the shared dirs that others besides root can write")
    where.update(dict.fromkeys(fenced, "the shared dir"))
    where.update(dict.fromkeys(projects, "the team project dir"))
    worked_in = places(args, environ)
    hit = lands_in(worked_in, every)
    if hit is not None:
        raise UvshareError(
            f"root does not run uv in {where[hit]} {hit}: members can write what uv would read and run there (a "
            "project's pyproject.toml and build backend, a venv's or a shared Python's interpreter); run it as a "
            "member ('runuser -u USER -- uv …'), or as root outside it"
        )
    found = config_landing(args, environ, every)
    if found is not None and not found[1]:
        raise UvshareError(
            f"{found[0]}: root's uv config is not a regular file, so uvshare cannot see what it names; give root's "
            "uv a config file (or none)"
        )
    if found is not None:
        file, value, hit = found
        raise UvshareError(
            f"{file} (read by root's uv) names {value}, in {where[hit]} {hit}: root's uv would use what members can "
            "write; take it out of that file (uvshare gives members the shared dirs itself)"
        )
    if path is None:
        return
    known = identities(every)
    for venv in venvs(worked_in, environ):
        python = os.path.realpath(os.path.join(venv, "bin", "python"))
        hit = landing(python, known)
        if hit is not None:
            raise UvshareError(
                f"the venv {venv} runs {python}, in {hit}, which members can write: root's uv would run it as root; "
                "run it as a member ('runuser -u USER -- uv …'), or make root's venv on a Python of root's own"
            )
    for entry in path.split(os.pathsep):
        try:
            with os.scandir(entry or ".") as names:
                links = [e.path for e in names if e.name.startswith(INTERPRETERS) and e.is_symlink()]
        except OSError:
            continue
        for link in links:
            hit = landing(os.path.realpath(link), known)
            if hit is not None:
                raise UvshareError(
                    f"{link} on root's PATH leads into {hit}, which members can write: root's uv would run that "
                    f"interpreter as root when it looks for one by name; remove the link ({link}), or take {entry} off "
                    "root's PATH"
                )
