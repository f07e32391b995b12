"""Skip `uv python install X` when X is already installed in the shared dir: no lock taken, nothing written.

uv itself takes the install dir's lock and rewrites files even for an installed version, so the same command fails
for anyone who cannot write that install (another owner, a read-only mount). Only plain requests with harmless
flags are ever skipped; everything else goes to uv unchanged.

How it decides, in order:
1. From names, without starting anything: uv's own `python install` decides "installed" from the install dir's
   entry names alone; uvshare also wants what that install would leave behind (the interpreter, its `lib/pythonX.Y`
   and the `pythonX.Y` link in the bin dir pointing at it), so a half-made or planted entry is never "installed".
   No install dir at all: not installed, and no uv runs before the tree is prepared.
2. When names cannot tell (a range, a variant, a prerelease, an odd entry): members ask `uv python find` — after the
   tree is prepared. Root never does: `find` runs the candidate interpreters, which members can write; root lets
   uv's own `python install` decide, which runs nothing.
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

# uv flags that change nothing about what `python install` does (output, network, cache use only).
HARMLESS_FLAGS = frozenset(
    {"-q", "--quiet", "-v", "--verbose", "--no-progress", "--offline", "--native-tls", "-n", "--no-cache"}
)
HARMLESS_WITH_VALUE = frozenset({"--color"})
# Environment that changes what `python install` would do: with any of these set, uv decides.
DECISIVE_ENV = ("UV_PYTHON", "UV_PYTHON_INSTALL_BIN", "UV_PYTHON_INSTALL_REGISTRY", "UV_COMPILE_BYTECODE")
# Flags for `uv python find` that keep venvs (--system), project and config files out and never download.
FIND_FLAGS = (
    "--system",
    "--no-config",
    "--no-project",
    "--python-preference",
    "only-managed",
    "--no-python-downloads",
)
BIN_LINKS_SINCE = (0, 8, 0)  # uv makes `pythonX.Y` in the Python bin dir by default from 0.8.0 on

INSTALLED, MISSING, UNSURE = "installed", "missing", "unsure"


def install_requests(args: "Sequence[str]") -> "tuple[list[str], bool] | None":
    """The version requests of a `python install` that asks for nothing but them, and whether it is quiet.

    None when uv must run: another command, an unknown or decisive flag (`--reinstall`, `--force`, `--default`,
    `-i`, `--no-bin`, a mirror or downloads URL, …), or no request at all.
    """
    words: list[str] = []
    quiet = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("-") and len(arg) > 1:
            name, eq, _ = arg.partition("=")
            if name in HARMLESS_FLAGS and not eq:
                quiet = quiet or name in ("-q", "--quiet")
            elif arg[1] != "-" and set(arg[1:]) <= {"q", "v"}:  # -qq, -vv, -qv
                quiet = quiet or "q" in arg
            elif name in HARMLESS_WITH_VALUE:
                if not eq:
                    if i >= len(args):
                        return None
                    i += 1
            else:
                return None
        elif not arg:
            return None
        else:
            words.append(arg)
    if len(words) < 3 or words[:2] != ["python", "install"]:
        return None
    return words[2:], quiet


def default_install_dir(environ: "Mapping[str, str]") -> str:
    """uv's Python install dir when UV_PYTHON_INSTALL_DIR is not set."""
    data = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "uv", "python")


def install_dir(environ: "Mapping[str, str]") -> str:
    """The Python install dir uv will use."""
    return environ.get("UV_PYTHON_INSTALL_DIR") or default_install_dir(environ)


def bin_dir(environ: "Mapping[str, str]") -> str:
    """The dir uv links `pythonX.Y` into, by uv's own order of settings."""
    for var in ("UV_PYTHON_BIN_DIR", "XDG_BIN_HOME"):
        if environ.get(var):
            return environ[var]
    if environ.get("XDG_DATA_HOME"):
        return os.path.join(environ["XDG_DATA_HOME"], "..", "bin")
    return os.path.join(os.path.expanduser("~"), ".local", "bin")


def run_uv(uv: str, args: "Sequence[str]", environ: "Mapping[str, str]") -> tuple[int, str]:
    """Run uv with ARGS; its exit status and its stdout (stderr discarded)."""
    import subprocess

    try:
        done = subprocess.run(
            [uv, *args],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError:
        return 127, ""
    return done.returncode, done.stdout.decode("utf-8", "surrogateescape").strip()


def uv_version(uv: str, environ: "Mapping[str, str]") -> "tuple[int, ...] | None":
    """The version of the uv at UV, from `uv --version` ("uv 0.13.9 (…)"); None when it cannot be read."""
    status, out = run_uv(uv, ["--version"], environ)
    parts = out.split()
    if status != 0 or len(parts) < 2:
        return None
    try:
        return tuple(int(p) for p in parts[1].split("+")[0].split("."))
    except ValueError:
        return None


def bin_link_name(key: str) -> "str | None":
    """The bin link uv makes for the install dir named KEY (`cpython-3.13.0+freethreaded-…` -> `python3.13t`)."""
    impl, _, rest = key.partition("-")
    version = rest.partition("-")[0]
    if impl != "cpython":
        return None
    release, _, variant = version.partition("+")
    numbers = release.split(".")
    if len(numbers) < 2:
        return None
    return f"python{numbers[0]}.{numbers[1]}{'t' if 'freethreaded' in variant else ''}"


def platform_suffix() -> "str | None":
    """`-linux-x86_64-gnu`: how uv names this machine's default CPython builds; None where unsure."""
    if not sys.platform.startswith("linux"):
        return None
    arch = os.uname().machine
    if arch not in ("x86_64", "aarch64"):
        return None
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    return f"-linux-{arch}-gnu" if libc.startswith("glibc") else None


def plain_request(request: str, suffix: str = "") -> "tuple[int, ...] | None":
    """(3, 12) for `3.12` or `cpython@3.12`, (3, 12, 1) for `3.12.1` or the full key; None for anything else."""
    text = request
    if text.startswith("cpython@"):
        text = text[len("cpython@") :]
    elif suffix and text.startswith("cpython-") and text.endswith(suffix):  # `cpython-3.12.1-linux-x86_64-gnu`
        text = text[len("cpython-") : -len(suffix)]
        if text.count(".") != 2:
            return None
    parts = text.split(".")
    if len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() and p == str(int(p)) for p in parts):
        return None
    return tuple(int(p) for p in parts)


def complete_install(install_dir: str, name: str, minor: str) -> bool:
    """Whether INSTALL_DIR/NAME is what uv's install leaves: a real dir with bin/pythonX.Y (a regular executable
    file, not a link) and lib/pythonX.Y holding the `_sysconfigdata_*.py` uv's own install needs (and patches).
    Nothing is run."""
    import stat

    root = f"{install_dir}/{name}"
    try:
        top = os.lstat(root)
        exe = os.lstat(f"{root}/bin/python{minor}")
        lib = os.lstat(f"{root}/lib/python{minor}")
    except OSError:
        return False
    if not (
        stat.S_ISDIR(top.st_mode)
        and stat.S_ISREG(exe.st_mode)
        and bool(exe.st_mode & 0o111)
        and stat.S_ISDIR(lib.st_mode)
    ):
        return False
    try:
        with os.scandir(f"{root}/lib/python{minor}") as entries:
            return any(e.name.startswith("_sysconfigdata_") and e.name.endswith(".py") for e in entries)
    except OSError:
        return False


def scan_minor(install_dir: str, major: int, minor: int, suffix: str) -> "tuple[dict[int, str], bool] | None":
    """The complete installs of MAJOR.MINOR for this machine in INSTALL_DIR (patch -> dir name), and whether any
    other entry of that minor makes the names unclear (a variant, prerelease, other platform, half-made dir).
    None when INSTALL_DIR does not exist."""
    prefix = f"cpython-{major}.{minor}."
    try:
        names = [e.name for e in os.scandir(install_dir) if e.name.startswith(prefix)]
    except FileNotFoundError:
        return None
    except OSError:
        return {}, True
    clean: dict[int, str] = {}
    doubt = False
    for name in names:
        patch = name[len(prefix) : -len(suffix)] if name.endswith(suffix) else ""
        if patch.isascii() and patch.isdigit() and complete_install(install_dir, name, f"{major}.{minor}"):
            clean[int(patch)] = name
        else:
            doubt = True
    return clean, doubt


def answer_from_names(requests: "Sequence[str]", environ: "Mapping[str, str]") -> "tuple[str, list[str]]":
    """INSTALLED with the install dir names for every request, MISSING when one is not installed, or UNSURE when
    only uv can tell. Reads names and lstats; starts nothing."""
    if any(environ.get(var) for var in DECISIVE_ENV):
        return MISSING, []  # uv decides
    suffix = platform_suffix()
    where = install_dir(environ)
    found = []
    for request in requests:
        wanted = plain_request(request, suffix or "")
        if wanted is None or suffix is None:
            return UNSURE, []
        scanned = scan_minor(where, wanted[0], wanted[1], suffix)
        if scanned is None:
            return MISSING, []  # no install dir: nothing is installed, and no uv need run to know
        clean, doubt = scanned
        patches = [p for p in clean if len(wanted) == 2 or p == wanted[2]]
        if patches:
            found.append(clean[max(patches)])
        elif doubt:
            return UNSURE, []
        else:
            return MISSING, []
    return INSTALLED, found


def answer_from_uv(uv: str, requests: "Sequence[str]", environ: "Mapping[str, str]") -> "list[str] | None":
    """The install dir names `uv python find` gives for each request, when every one lies inside the install dir.

    Only for members, after the tree is prepared: `find` runs the candidate interpreters.
    """
    root = os.path.realpath(install_dir(environ))
    found = []
    for request in requests:
        status, out = run_uv(uv, ["python", "find", *FIND_FLAGS, request], environ)
        path = os.path.realpath(out) if status == 0 and out else ""
        if not path.startswith(root + os.sep):
            return None
        found.append(path[len(root) + 1 :].split(os.sep)[0])
    return found


def links_in_place(names: "Sequence[str]", uv: "Callable[[], str]", environ: "Mapping[str, str]") -> bool:
    """Whether the `pythonX.Y` link uv would make for each install already points at it (or a newer patch of it).

    A link that is missing (where this uv makes links), dangles or points elsewhere is uv's to make: then uv runs.
    """
    where = os.path.realpath(install_dir(environ))
    links = bin_dir(environ)
    makes_links: bool | None = None
    for name in names:
        link = bin_link_name(name)
        if link is None:
            return False
        path = os.path.join(links, link)
        if not os.path.lexists(path):
            if makes_links is None:  # uv before 0.8 makes no links by default: then none is needed
                version = uv_version(uv(), environ)
                makes_links = version is None or version >= BIN_LINKS_SINCE or bool(environ.get("UV_PREVIEW"))
            if makes_links:
                return False
            continue
        target = os.path.realpath(path)
        if not target.startswith(where + os.sep):
            return False
        points_at = target[len(where) + 1 :].split(os.sep)
        if len(points_at) != 3 or points_at[1:] != ["bin", link] or not _same_or_newer(points_at[0], name, where):
            return False
    return True


def _same_or_newer(linked: str, name: str, where: str) -> bool:
    """Whether the install LINKED is NAME, or a complete newer patch of the same minor (uv keeps links at the
    newest)."""
    if linked == name:
        return True
    minor = name.split("-")[1].rsplit(".", 1)
    other = linked.split("-")[1].rsplit(".", 1) if linked.count("-") >= 2 else ["", ""]
    if linked.split("-", 2)[2:] != name.split("-", 2)[2:] or other[0] != minor[0] or not other[1].isdigit():
        return False
    return int(other[1]) > int(minor[1]) and complete_install(where, linked, minor[0])
