"""Where a call is, as the kernel says: whether its current dir lies in given dirs (a team's project dir, the shared
tree), and the venv uv would pick up from there by itself.

Two plain rules keep root's uv off what members can write (see `keep_out`), and neither reads uv's arguments,
variables or config files: what root names there is root's choice, as with plain uv (docs/trust-model.md). A
dir is compared by device and inode, and the current dir is walked up through the kernel's own `..` (an fd, never a
path read as text): a symlink on the way there, a bind mount of the dir, a renamed dir are all the same place.
Used for root (with trees), for outsiders (told clearly that a team's project dir is closed to them) and to pick a
tree by the project dir a call works in. Never on the path of a call without project dirs or trees.
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping

MAX_DEPTH = 4096  # dirs above the current dir: deeper than any real tree (PATH_MAX allows ~2,000)


def ancestors(path: str) -> "Iterator[str]":
    """PATH and every dir above it, up to `/`, as text."""
    while True:
        yield path
        if path in ("/", ""):
            return
        path = os.path.dirname(path)


def identities(dirs: "Iterable[str]") -> "dict[tuple[int, int], str]":
    """Each existing dir of DIRS by (device, inode)."""
    known = {}
    for path in dirs:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        known[(st.st_dev, st.st_ino)] = path
    return known


def walk_up() -> "Iterator[tuple[int, os.stat_result]]":
    """The current dir and each dir above it, as the kernel walks `..` from it: an O_PATH fd of each (closed when the
    walk moves on) and its stat. Ends at `/`, or at a dir the caller may not pass (or a removed current dir)."""
    flags = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        fd = os.open(".", flags)
    except OSError:
        return
    try:
        last = None
        for _ in range(MAX_DEPTH):
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == last:  # `/`: its `..` is itself
                return
            yield fd, st
            last = (st.st_dev, st.st_ino)
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
    except OSError:
        return
    finally:
        os.close(fd)


def cwd_in(dirs: "Iterable[str]") -> "str | None":
    """The dir of DIRS that the current dir is, or lies below, or None: the current dir and each dir above it (see
    walk_up) compared with DIRS by device and inode."""
    known = identities(dirs)
    if known:
        for _fd, st in walk_up():
            hit = known.get((st.st_dev, st.st_ino))
            if hit is not None:
                return hit
    return None


def member_writes(groups: "Collection[int]", owners: "tuple[int, ...]" = (0,)) -> "str | None":
    """Who, of the members of GROUPS (every tree's group), could change what lies in the current dir or a dir above
    it — its owner, a group or user its mode or access ACL lets write, everyone —, as `user NAME (a member)`; or
    None. A member can rename a dir of theirs with root inside it (moving root's current dir out of a project dir into
    their home), and put what they like there. A world-writable sticky dir of root's (`/tmp`) is everybody's scratch
    space: only its entries count. OWNERS (root, a curated tree's install-user) are no members here."""
    for fd, st in walk_up():
        if st.st_uid == 0 and st.st_mode & 0o1000:  # sticky: others may add entries, not rename or remove root's
            continue
        if st.st_mode & 0o002:
            return "everyone"
        if st.st_uid not in owners and is_member(st.st_uid, groups):
            return f"user {user_name(st.st_uid)} (a member)"
        if st.st_mode & 0o020 and st.st_gid in groups:
            return f"the group {group_name(st.st_gid)}"
        for tag, perm, ident in access_acl(fd):
            if not perm & 0o2:
                continue
            from uvshare import acl

            if tag == acl.GROUP and ident in groups:
                return f"the group {group_name(ident)}"
            if tag == acl.USER and ident not in owners and is_member(ident, groups):
                return f"user {user_name(ident)} (a member)"
    return None


def access_acl(fd: int) -> "list[tuple[int, int, int]]":
    """The access ACL's entries of the dir open (O_PATH) as FD; none where it has none or the filesystem none."""
    from uvshare import acl

    try:
        dfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        return list(acl.read(dfd, acl.ACCESS, probe=False) or ())
    except OSError:
        return []
    finally:
        os.close(dfd)


def is_member(uid: int, groups: "Collection[int]") -> bool:
    """Whether the user UID is in one of GROUPS (primary, listed in the group database, or the install-user uvshare
    made for it: see safefs.in_group)."""
    import pwd

    from uvshare.safefs import in_group

    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return False
    return any(in_group(user, gid) for gid in groups)


def user_name(uid: int) -> str:
    """UID's name (escaped), or the number."""
    import pwd

    from uvshare.errors import escape

    try:
        return escape(pwd.getpwuid(uid).pw_name)
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """GID's name (escaped), or the number."""
    import grp

    from uvshare.errors import escape

    try:
        return f"'{escape(grp.getgrgid(gid).gr_name)}'"
    except KeyError:
        return str(gid)


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


def written_by_others(path: str, owners: "tuple[int, ...]" = (0,)) -> bool:
    """Whether someone but root (and the other OWNERS: a curated tree's install-user) can add, rename or remove
    entries in the dir PATH (its owner, its mode, or its access ACL); not for a world-writable sticky dir of root's."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return False  # (gone: nothing to fence)
    if st.st_uid not in owners or st.st_mode & 0o022:  # a member's, or others may write (but for everybody's /tmp)
        return st.st_uid not in owners or not (st.st_mode & 0o002 and st.st_mode & stat.S_ISVTX)
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


def found_venvs(environ: "Mapping[str, str]") -> "list[str]":
    """The venvs uv picks up by itself from where it is started: the active one (VIRTUAL_ENV) and a `.venv` in the
    current dir or any dir above it (uv finds projects upward)."""
    try:
        cwd = os.getcwd()  # (the kernel's path)
    except OSError:
        cwd = ""
    found = [environ.get("VIRTUAL_ENV", "")]
    if cwd:
        found += [os.path.join(here, ".venv") for here in ancestors(cwd)]
    return [v for v in dict.fromkeys(found) if v.startswith("/") and os.path.lexists(os.path.join(v, "bin", "python"))]


def members_can_write(
    path: str, known: "Mapping[tuple[int, int], str]", owners: "tuple[int, ...]" = (0,)
) -> "str | None":
    """Why members could change the interpreter PATH (resolved), or None: it lies in a dir of KNOWN (the shared dirs,
    a team project dir, a dir above them others can write), in a dir someone but root can write (they could put
    another file in its place), or someone but root can write it."""
    for here in ancestors(path):
        try:
            st = os.stat(here)
        except (OSError, ValueError):
            continue
        hit = known.get((st.st_dev, st.st_ino))
        if hit is not None:
            return f"in {hit}, which members can write"
    for here in ancestors(os.path.dirname(path)):
        if written_by_others(here, owners):
            return f"in {here}, which others besides root can write"
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if st.st_uid not in owners or st.st_mode & 0o022:
        return "which others besides root can write"
    return None


def keep_out(
    environ: "Mapping[str, str]",
    fenced: "list[str]",
    projects: "list[str]",
    above: "list[str]",
    *,
    groups: "Collection[int] | None",
    owners: "tuple[int, ...]" = (0,),
    roots_alone: bool = False,
) -> None:
    """UvshareError, naming what and where, when root's uv would pick up what members can write by itself: (1) its
    current dir lies in FENCED (of which PROJECTS are team project dirs) or ABOVE them; with GROUPS (every tree's
    group; None in an image build, where no member has touched anything yet) (2) a member of GROUPS could change what
    lies in the current dir or a dir above it (see member_writes), or (3) the venv uv would use from there (see
    found_venvs) runs an interpreter members can write. OWNERS (root, and a curated tree's install-user) are trusted
    with both. ROOTS_ALONE: a command only root may run (on a curated tree): the advice is a dir of root's."""
    from uvshare.errors import UvshareError, escape

    member = "" if roots_alone else "run it as a member ('runuser -u USER -- uv …'), or "

    every = [*fenced, *above]
    hit = cwd_in(every)
    if hit is not None:
        where = (
            "the team project dir"
            if hit in projects
            else "the shared dir"
            if hit in fenced
            else "a dir above the shared dirs that others besides root can write"
        )
        raise UvshareError(
            f"root does not run uv in {where} {hit}: members can write what uv would read and run there (a "
            "project's pyproject.toml and build backend, a venv's or a shared Python's interpreter); "
            f"{member}as root outside it"
        )
    if groups is None:
        return
    writer = member_writes(groups, owners)
    if writer is not None:
        try:
            here = escape(os.getcwd())
        except OSError:
            here = "the current dir"
        raise UvshareError(
            f"root does not run uv in {here}: {writer} can change what uv would read and run there (a project's "
            "pyproject.toml and build backend, its .venv), or move it there; "
            f"{member}as root in a dir only root can write"
        )
    known = identities(every)
    for venv in found_venvs(environ):
        python = os.path.realpath(os.path.join(venv, "bin", "python"))
        why = members_can_write(python, known, owners)
        if why is not None:
            raise UvshareError(
                f"the venv {escape(venv)} runs {escape(python)}, {why}: root's uv would run it as root; run it as a "
                "member ('runuser -u USER -- uv …'), or make root's venv on a Python of root's own"
            )
