"""A curated tree (`kind = "curated"`): only root's commands on it write it (run as the install-user), and everyone
else runs what is in it, beside Pythons and tools of their own.

No one but the install-user (and root) may write anything in it: the kernel then keeps every member's Python and
tool as root installed it, so a member's venv on a curated Python runs nothing another member put there, and root may
run it too. uv has one Python install dir; the caller's is their own, and the curated Pythons reach uv the other way
it finds interpreters: on PATH (each install's own `bin/`, which every uv version searches; `share setup --profile`
puts the tree's bin dirs on login shells' PATH for `python3.12` and the tools' commands).

Imported only for a curated tree's calls.
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from uvshare.config import Config

CLOSED = frozenset({"cache-dir"})  # the install-user's own cache: nobody else's business (0700)
LOCKED = frozenset({"python-install-dir", "tool-dir"})  # uv takes a `.lock` there; made 0666 by uv 0.9.15 on


def version_key(name: str) -> "tuple[int, ...]":
    """The version in an install dir's name (`cpython-3.12.1-linux-x86_64-gnu` -> (3, 12, 1)), for ordering."""
    parts = name.split("-")
    digits = []
    for piece in (parts[1] if len(parts) > 1 else "").split("."):
        number = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        digits.append(int(number) if number else -1)
    return tuple(digits)


def python_bin_dirs(install_dir: str) -> list[str]:
    """The `bin/` of every Python installed in INSTALL_DIR (real dirs, not uv's minor-version links), newest first."""
    try:
        with os.scandir(install_dir) as scan:
            names = [e.name for e in scan if not e.name.startswith(".") and "-" in e.name and not e.is_symlink()]
    except OSError:
        return []
    found = [n for n in names if os.path.isdir(os.path.join(install_dir, n, "bin"))]
    return [os.path.join(install_dir, n, "bin") for n in sorted(found, key=version_key, reverse=True)]


def with_pythons(path: str, install_dir: str) -> str:
    """PATH with the curated Pythons' bin dirs in front (those not already on it): uv finds them there, after any
    install of the caller's own (uv prefers its managed installs) and before the system's."""
    entries = path.split(os.pathsep) if path else []
    ahead = [d for d in python_bin_dirs(install_dir) if d not in entries]
    return os.pathsep.join([*ahead, *entries])


def install_uid(config: "Config") -> "int | None":
    """The uid of the config's install-user, or None when there is no such account."""
    if config.install_user is None:
        return None
    import pwd

    try:
        return pwd.getpwnam(config.install_user).pw_uid
    except KeyError:
        return int(config.install_user) if config.install_user.isdigit() else None


def open_to_others(install_dir: str, owners: "tuple[int, ...]") -> "str | None":
    """(Root) Why someone but OWNERS could change a Python in INSTALL_DIR, or None: the dir, an install in it or a
    dir above it that others can write (see `share repair`, which makes the whole tree so; doctor walks it)."""
    from uvshare.places import written_by_others

    tops = [install_dir, *(os.path.dirname(d) for d in python_bin_dirs(install_dir))]
    for path in tops:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_uid not in owners or st.st_mode & 0o022:
            return f"{path} can be written by others than root and the install-user"
    here = os.path.dirname(install_dir)
    while here not in ("/", ""):
        if written_by_others(here):
            return f"{here}, above it, can be written by others than root"
        here = os.path.dirname(here)
    return None


def unsafe_to_root(config: "Config") -> "str | None":
    """(Root) Why root's own uv must not use the curated Pythons of CONFIG, or None."""
    where = config.dirs.get("python-install-dir")
    if where is None:
        return "it names no python-install-dir"
    uid = install_uid(config)
    return open_to_others(where, (0,) if uid is None else (0, uid))


def prepare(config: "Config", uid: int, dirs: "Mapping[str, str]") -> None:
    """(Root, before its command on the tree) Make the missing dirs of DIRS, and take empty or root's ones for the
    install-user UID: its, mode 0755 (the cache 0700), no setgid, no default ACL; the dirs above them root's 0755.
    UvshareError, naming the dir and the fix, for one others can write: it is not curated (yet)."""
    import stat

    from uvshare.errors import UvshareError
    from uvshare.safefs import DirSpec, open_dir

    gid = config.gid if config.gid is not None else 0
    above = DirSpec(0o755, 0, None)
    for key, path in dirs.items():
        mode = 0o700 if key in CLOSED else 0o755
        made: list[str] = []
        fd = open_dir(path, DirSpec(mode, gid, None, parents=above), made)
        try:
            st = os.fstat(fd)
            if st.st_uid == 0 and (made or stat.S_IMODE(st.st_mode) & 0o022 == 0):
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            elif st.st_uid not in (0, uid) or st.st_mode & 0o022:
                from uvshare.errors import invoked_as

                raise UvshareError(
                    f"{path} is a curated tree's {key} (config {config.files[-1]}), but others than root and the "
                    f"install-user can write it (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}); run "
                    f"'{invoked_as()} share repair' as root, which makes the whole tree the install-user's"
                )
            if key in LOCKED:
                own_lock(fd, path, uid, gid)
        finally:
            os.close(fd)


def own_lock(dfd: int, path: str, uid: int, gid: int) -> None:
    """The `.lock` in the open dir DFD (PATH), the install-user UID's and 0644: uv never chmods an existing lock, and
    makes a new one open to all (whoever can open it can hold it, and keep root's next install waiting)."""
    import contextlib
    import stat

    from uvshare.safefs import O_NODE, make_file

    with contextlib.suppress(FileExistsError):
        make_file(dfd, ".lock", 0o644, gid)
    fd = os.open(".lock", O_NODE, dir_fd=dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            from uvshare.errors import UvshareError

            raise UvshareError(f"{path}/.lock is not a file: remove it (uv makes its lock there)")
        if st.st_uid != uid or st.st_mode & 0o022:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o644)
    finally:
        os.close(fd)


def own_tool_dir(environ: "Mapping[str, str]") -> str:
    """uv's tool dir for a caller who sets none through uvshare: UV_TOOL_DIR, else the XDG data dir's."""
    if environ.get("UV_TOOL_DIR"):
        return environ["UV_TOOL_DIR"]
    data = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "uv", "tools")


def refuse_removal(words: "tuple[str, ...]", args: "Sequence[str]", config: "Config", env: "Mapping[str, str]") -> None:
    """UvshareError when a caller's `python uninstall` or `tool uninstall` names only what the curated tree holds (and
    they have none of their own): uv would say nothing is installed; the tree is root's to change, said so."""
    if any(a.split("=")[0] in ("-i", "--install-dir") for a in args):
        return  # a dir of the caller's own
    names = [a for a in args[args.index("uninstall") + 1 :] if not a.startswith("-")]
    if not names:
        return
    from uvshare.errors import UvshareError, invoked_as

    whose = (
        f"only root changes it ('sudo {invoked_as()} {' '.join(args)}' runs it as the install-user "
        f"{config.install_user}); uninstalling Pythons and tools of your own works as usual"
    )
    if words == ("python", "uninstall") and "python-install-dir" in config.dirs:
        from uvshare.skip import INSTALLED, answer_from_names

        curated = {**env, "UV_PYTHON_INSTALL_DIR": config.dirs["python-install-dir"]}
        for name in names:
            if answer_from_names([name], curated)[0] == INSTALLED and answer_from_names([name], env)[0] != INSTALLED:
                raise UvshareError(
                    f"Python {name} is the curated tree's ({config.dirs['python-install-dir']}), not yours: {whose}"
                )
    elif words == ("tool", "uninstall") and "tool-dir" in config.dirs:
        from uvshare.runas import normal_name, tool_names

        theirs, mine = tool_names(config.dirs["tool-dir"]), tool_names(own_tool_dir(env))
        for name in names:
            if normal_name(name) in theirs and normal_name(name) not in mine:
                where = config.dirs["tool-dir"]
                raise UvshareError(f"the tool {name} is the curated tree's ({where}), not yours: {whose}")
