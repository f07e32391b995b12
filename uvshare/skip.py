"""Skip `uv python install X` when X is already installed in the shared dir: no lock taken, nothing written.

uv itself takes the install dir's lock and rewrites files even for an installed version, so the same command fails
for anyone who cannot write that install (another owner, a read-only mount). Only plain requests with harmless
flags are ever skipped; everything else goes to uv unchanged.
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


def find_installed(
    uv: "Callable[[], str]", request: str, install_dir: str, environ: "Mapping[str, str]"
) -> "str | None":
    """The managed install inside INSTALL_DIR that satisfies REQUEST (its dir name), or None.

    Plain requests (`3.12`, `3.12.1`, `cpython@3.12`) are answered from the install dir's names, without starting uv;
    anything else, or any doubt, is asked of `uv python find`.
    """
    decided, key = match_install_dir(request, install_dir)
    if decided:
        return key
    status, out = run_uv(uv(), ["python", "find", *FIND_FLAGS, request], environ)
    if status != 0 or not out:
        return None
    root = os.path.realpath(install_dir)
    found = os.path.realpath(out)
    if not found.startswith(root + os.sep):
        return None
    return found[len(root) + 1 :].split(os.sep)[0]


def plain_request(request: str) -> "tuple[int, ...] | None":
    """(3, 12) for `3.12` or `cpython@3.12`, (3, 12, 1) for `3.12.1`; None for any other kind of request."""
    text = request[len("cpython@") :] if request.startswith("cpython@") else request
    parts = text.split(".")
    if len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() and p == str(int(p)) for p in parts):
        return None
    return tuple(int(p) for p in parts)


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


def match_install_dir(request: str, install_dir: str) -> "tuple[bool, str | None]":
    """Answer a plain REQUEST from INSTALL_DIR's entries: (True, key) installed, (True, None) not installed, or
    (False, None) when only uv can tell (another kind of request, a variant, prerelease or odd entry of that minor).
    """
    wanted = plain_request(request)
    suffix = platform_suffix()
    if wanted is None or suffix is None:
        return False, None
    prefix = f"cpython-{wanted[0]}.{wanted[1]}."
    best: tuple[int, str] | None = None
    doubt = False
    try:
        entries = [e for e in os.scandir(install_dir) if e.name.startswith(prefix)]
    except OSError:
        return False, None
    for entry in entries:
        patch = entry.name[len(prefix) : -len(suffix)] if entry.name.endswith(suffix) else ""
        executable = f"{install_dir}/{entry.name}/bin/python{wanted[0]}.{wanted[1]}"
        clean = (
            patch.isascii()
            and patch.isdigit()
            and entry.is_dir(follow_symlinks=False)
            and os.access(executable, os.X_OK)
        )
        if not clean:
            doubt = True  # a variant (+freethreaded), prerelease, other platform or half-made install: ask uv
        elif (len(wanted) == 2 or int(patch) == wanted[2]) and (best is None or int(patch) > best[0]):
            best = (int(patch), entry.name)
    if best is not None:
        return True, best[1]
    return (not doubt), None


def installed(
    uv: "Callable[[], str]", requests: "Sequence[str]", environ: "Mapping[str, str]"
) -> "list[tuple[str, str]] | None":
    """(version, install path) for each request when every one is installed in the install dir, else None."""
    if any(environ.get(var) for var in DECISIVE_ENV):
        return None
    install_dir = environ.get("UV_PYTHON_INSTALL_DIR") or default_install_dir(environ)
    links = bin_dir(environ)
    makes_links: bool | None = None
    found = []
    for request in requests:
        key = find_installed(uv, request, install_dir, environ)
        link = key and bin_link_name(key)
        if not key or not link:
            return None
        if not os.path.lexists(os.path.join(links, link)):
            # uv would make the missing link: let it, unless this uv does not make links by default.
            if makes_links is None:
                version = uv_version(uv(), environ)
                makes_links = version is None or version >= BIN_LINKS_SINCE or bool(environ.get("UV_PREVIEW"))
            if makes_links:
                return None
        found.append((key.split("-")[1], os.path.join(install_dir, key)))
    return found
