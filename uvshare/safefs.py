"""Safe filesystem primitives for root in directories that others can write.

Every path is walked one component at a time with O_NOFOLLOW, from "/". A symlink on the way is followed only in a
directory nobody but root or the caller can write: only they could have made it, or hard-linked it, or moved it
there (a sticky bit is no help — anyone can add a name to /tmp). Every directory on the way must be owned by root,
the caller or a member of the group (an outsider who owns one could swap what lies below). Everything is created
with O_EXCL and O_NOFOLLOW, directories 0700 until they have their group and mode, and every change acts on a file
descriptor checked to be the entry just looked at.

What root runs or reads (uv, uvx, config files) must be something only root could have written, reached through
dirs only root controls: `root_may_trust`. A uv in a dir a member can write (a shared bin dir on root's PATH), or a
config file a member owns, would make root their puppet.
"""

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    import pwd

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in place of a file must not hang.
O_NODE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_HOPS = 256  # path components walked in one lookup, symlink targets included
# The comment `share setup` gives an install-user account it creates: root's record, in the passwd database (which only
# root writes), that uvshare made the account for the group with this gid. Such an account has a primary group of its
# own and is listed in no group (so it is never in group 0): root's runs give it the tree's group when they drop to it
# (runas.become), and it counts as a member of that group (and of no other) for what it owns in the tree.
INSTALL_USER_MARK = "uvshare install-user for gid {}"


def in_group(user: "pwd.struct_passwd", gid: int) -> bool:
    """Whether the account USER is in the group GID: its primary group, listed in the group database, or the
    install-user uvshare made for that group (see INSTALL_USER_MARK)."""
    if user.pw_gid == gid or user.pw_gecos == INSTALL_USER_MARK.format(gid):
        return True
    import grp

    try:
        return user.pw_name in grp.getgrgid(gid).gr_mem
    except KeyError:
        return False


class CannotCreate(OSError):
    """A missing directory or file that the caller may not create (no write access, read-only mount)."""


def writable_only_by(st: os.stat_result, owners: "tuple[int, ...]") -> bool:
    """Whether nobody but OWNERS (uids) can add, remove or rename entries in the directory ST."""
    return st.st_uid in owners and not st.st_mode & 0o022


class Guard:
    """Who may own the directories uvshare walks through and prepares: root, the caller and members of the group.

    An outsider who owns a directory on the way to the shared tree could swap anything below it. With TAKE_BACK
    (`share setup` as root) such a directory is taken back when it is empty; otherwise it is refused.
    """

    def __init__(self, gid: int, group_label: str, *, take_back: bool = False) -> None:
        self.gid = gid
        self.group_label = group_label
        self.take_back = take_back and os.geteuid() == 0
        self.taken: list[tuple[str, str]] = []  # (path, "took back PATH from NAME"), for the caller to report
        self._members: dict[int, bool | None] = {}

    def is_member(self, uid: int) -> "bool | None":
        """Whether UID is in the group (see in_group); None when UID has no passwd entry."""
        if uid not in self._members:
            import pwd

            try:
                user = pwd.getpwuid(uid)
            except KeyError:
                self._members[uid] = None
            else:
                self._members[uid] = in_group(user, self.gid)
        return self._members[uid]

    def owner_ok(self, st: os.stat_result) -> bool:
        """Whether ST is owned by root, the caller or a member.

        A uid without a passwd entry (an arbitrary uid, as OpenShift runs images) counts as a member when the entry
        has the group: nobody outside the group can give an entry that group.
        """
        if st.st_uid in (0, os.geteuid()):
            return True
        member = self.is_member(st.st_uid)
        return bool(member) or (member is None and st.st_gid == self.gid)

    def clear_way(self, parent_fd: int, name: str, path: str) -> bool:
        """Remove NAME from PARENT_FD when it is an outsider's symlink or file in the way of the shared tree (as
        root, with TAKE_BACK); True when it was. Only a name is removed, never what it points at."""
        if not self.take_back:
            return False
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) or self.owner_ok(st):
            return False
        os.unlink(name, dir_fd=parent_fd)
        self.taken.append((path, f"removed {path}: {kind_of(st)} that {owner_name(st.st_uid)}, an outsider, put there"))
        return True

    def check(self, fd: int, st: os.stat_result, path: str, mode: int) -> None:
        """Refuse the directory FD at PATH if an outsider owns it, or take it back (empty, as root, setup only)."""
        if self.owner_ok(st):
            return
        who = owner_name(st.st_uid)
        if self.take_back and not _has_entries(fd):
            from uvshare import acl

            os.fchown(fd, 0, self.gid)  # first: the outsider can no longer chmod it, set its ACLs or add to it
            acl.drop(fd, acl.DEFAULT)  # their ACL entries go with it: they would give them the tree
            acl.drop(fd, acl.ACCESS)
            os.fchmod(fd, mode)
            if not _has_entries(fd):  # nothing slipped in before the chown
                self.taken.append((path, f"took back {path} from {who}: an outsider owned it (it was empty)"))
                return
        from uvshare.errors import UnsafePath, admin

        fix = (
            f"remove it (rm -r {path}) and run '{admin('setup')}' as root"
            if self.take_back or os.geteuid() == 0
            else f"ask an administrator to remove it and run '{admin('setup')}'"
        )
        raise UnsafePath(
            f"{path} is owned by {who}, who is not a member of group '{self.group_label}', so they could swap "
            f"anything below it; uvshare will not use it; {fix}"
        )


def _has_entries(fd: int) -> bool:
    with os.scandir(fd) as entries:
        return any(True for _ in entries)


def owner_name(uid: int) -> str:
    """`alice`, or `uid 1234` for a uid without a passwd entry."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _link_target(parent_fd: int, name: str, path: str) -> str:
    """The target of the symlink NAME met on the way to PATH; UnsafePath unless only root or we could make it."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, f"{name} in the way of {path} is not a directory")
    owners = (0, os.geteuid())
    if not (st.st_uid in owners and writable_only_by(os.fstat(parent_fd), owners)):
        from uvshare.errors import UnsafePath, admin  # imported only when there is an error

        raise UnsafePath(
            f"{path}: '{name}' on the way is a symlink (made by {owner_name(st.st_uid)}) in a directory others can "
            f"write, so uvshare will not follow it; replace it with a real directory or configure the real path (as "
            f"root, '{admin('setup')}' removes one an outsider made)"
        )
    return os.readlink(name, dir_fd=parent_fd)


class DirSpec:
    """How uvshare makes a directory: MODE, group GID, and the default ACL's permissions for others (None: no ACL);
    missing dirs above it as PARENTS says (None: the same way).

    UNSUPPORTED is set when making one found that the filesystem keeps no ACLs.
    """

    __slots__ = ("acl_other", "gid", "mode", "parents", "unsupported")

    def __init__(self, mode: int, gid: "int | None", acl_other: "int | None", parents: "DirSpec | None" = None) -> None:
        self.mode = mode
        self.gid = gid
        self.acl_other = acl_other
        self.parents = parents
        self.unsupported = False


def open_dir(  # noqa: PLR0912  # one walk, component by component: split up, the safety logic would scatter
    path: str,
    spec: "DirSpec | None" = None,
    created: "list[str] | None" = None,
    guard: "Guard | None" = None,
) -> int:
    """Open the directory PATH without following any symlink others could have planted; return its fd.

    With SPEC, missing directories (the last and its parents) are made that way, and appended to CREATED. With
    GUARD, every existing directory on the way must be owned by root, the caller or a member. Raises UnsafePath
    for an untrusted symlink or owner, CannotCreate when a missing directory cannot be made.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.open("/", O_DIR)]
    walked: list[str] = []  # the real path of stack[-1], for messages
    hops = 0  # symlinks followed and directories made: bounded, so that a racing attacker cannot loop us forever
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    walked.pop()
                continue
            hops += 1
            if hops > MAX_HOPS:
                raise OSError(errno.ELOOP, f"too many symlinks or vanishing directories on the way to {path}")
            try:
                fd = os.open(name, O_DIR, dir_fd=stack[-1])
            except FileNotFoundError:
                if spec is None:
                    raise
                here = "/" + "/".join([*walked, name])
                made = spec if not parts or spec.parents is None else spec.parents  # the last one, or one above it
                if make_dir(stack[-1], name, made, here) and created is not None:
                    created.append(here)
                parts.insert(0, name)
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                here = "/" + "/".join([*walked, name])
                if guard is not None and spec is not None and guard.clear_way(stack[-1], name, here):
                    parts.insert(0, name)  # made anew on the next round
                    continue
                target = _link_target(stack[-1], name, path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    walked.clear()
                parts[0:0] = [p for p in target.split("/") if p not in ("", ".")]
                continue
            stack.append(fd)
            walked.append(name)
            if guard is not None:
                guard.check(fd, os.fstat(fd), "/" + "/".join(walked), spec.mode if spec else 0o2775)
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def open_child(
    parent_fd: int, path: str, spec: "DirSpec | None", created: "list[str] | None", guard: "Guard | None" = None
) -> int:
    """Open (or make) the directory PATH, the last component of which lies in the open dir PARENT_FD.

    The cheap way to the last component when the parent is already open (and was checked); anything but a plain
    directory there (a symlink, say) takes the whole careful walk of open_dir.
    """
    name = os.path.basename(path)
    for _ in range(2):
        try:
            fd = os.open(name, O_DIR, dir_fd=parent_fd)
        except FileNotFoundError:
            if spec is None:
                raise
            if make_dir(parent_fd, name, spec, path) and created is not None:
                created.append(path)
            continue
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            if guard is not None and spec is not None and guard.clear_way(parent_fd, name, path):
                continue
            break
        if guard is not None:
            try:
                guard.check(fd, os.fstat(fd), path, spec.mode if spec else 0o2775)
            except BaseException:
                os.close(fd)
                raise
        return fd
    return open_dir(path, spec, created, guard)


def share_entry(
    fd: int,
    st: os.stat_result,
    gid: int,
    mode: int,
    *,
    access: "list[tuple[int, int, int]] | None" = None,
    default_other: "int | None" = None,
    owner: "int | None" = None,
) -> None:
    """Give the open entry FD (lstat ST) the group GID and MODE; with ACCESS (its access ACL), that ACL with the group
    entry widened to what MODE gives the group and write taken from named entries; with DEFAULT_OTHER (a dir), a
    default ACL that shares what is made inside; with OWNER, that owner too. The one way uvshare changes an entry.

    The group first (a chown clears the setgid bit), the mode last (writing an access ACL sets the mode's group
    bits from its mask).
    """
    if st.st_gid != gid or owner is not None:
        os.fchown(fd, -1 if owner is None else owner, gid)
    if access is not None or default_other is not None:
        from uvshare import acl

        if access is not None:
            acl.write(fd, acl.ACCESS, acl.shared_access(access, gid, mode >> 3 & 0o7))
        if default_other is not None:
            acl.write(fd, acl.DEFAULT, acl.shared_default(acl.read(fd, acl.DEFAULT), default_other, gid))
    os.fchmod(fd, mode)


def share_default_acl(fd: int, other: int, gid: int) -> "bool | None":
    """Give the open directory FD a default ACL with group GID rwx (and nobody else write); True if it changed, None
    where ACLs are unsupported."""
    from uvshare import acl

    try:
        entries = acl.read(fd, acl.DEFAULT)
        if not acl.default_problems(entries, gid):
            return False
        acl.write(fd, acl.DEFAULT, acl.shared_default(entries, other, gid))
    except OSError as e:
        if e.errno in acl.UNSUPPORTED:
            return None
        raise
    return True


def _drop_inherited(fd: int) -> None:
    """Drop the access ACL a new entry inherited from its parent's default ACL: its mode alone then says who may use
    it (an inherited `group::r-x` under a `mask::rwx` would shut the group out while the mode shows rwx)."""
    from uvshare import acl

    acl.drop(fd, acl.ACCESS)


def make_dir(parent_fd: int, name: str, spec: DirSpec, shown: str) -> bool:
    """Make directory NAME in PARENT_FD as SPEC says; False when one appeared meanwhile (left alone)."""
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)  # 0700 until it has its group and mode
    except FileExistsError:
        return False
    except OSError as e:
        raise CannotCreate(e.errno, f"cannot create {shown}: {e.strerror}") from None
    fd = os.open(name, O_DIR, dir_fd=parent_fd)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid():  # still the one just made, not a swapped-in directory
            gid = st.st_gid if spec.gid is None else spec.gid
            _drop_inherited(fd)
            share_entry(fd, st, gid, spec.mode)
            if spec.acl_other is not None and share_default_acl(fd, spec.acl_other, gid) is None:
                spec.unsupported = True
    finally:
        os.close(fd)
    return True


def make_file(parent_fd: int, name: str, mode: int, gid: int) -> None:
    """Create the empty file NAME in PARENT_FD with MODE and group GID; fails if anything is already there."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent_fd)
    try:
        _drop_inherited(fd)
        share_entry(fd, os.fstat(fd), gid, mode)
    finally:
        os.close(fd)


def open_node(parent_fd: int, name: str, expected: os.stat_result) -> "int | None":
    """Open NAME without following a symlink; None when it is no longer the file EXPECTED (swapped meanwhile)."""
    try:
        fd = os.open(name, O_NODE, dir_fd=parent_fd)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        return None
    return fd


def describe(st: os.stat_result) -> str:
    """`owner alice, group staff, mode 0755`, for messages."""
    import grp

    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"owner {owner_name(st.st_uid)}, group {group}, mode {stat.S_IMODE(st.st_mode):04o}"


def kind_of(st: os.stat_result) -> str:
    """`a symlink`, `a directory`, … for messages."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return f"a file with {st.st_nlink} hard links" if st.st_nlink > 1 else "a file"
    return "a special file"


# What root may run or read


TRUST_HOPS = 40  # symlinks followed on the way to one file root may run or read
ROOT = (0,)


class Untrusted(str):
    """Why root may not trust a path (the text), and the path at fault: CULPRIT, the file or dir others could have
    written ("" when it is not one path: a missing file, a loop)."""

    culprit: str

    def __new__(cls, text: str, culprit: str = "") -> "Untrusted":
        made = super().__new__(cls, text)
        made.culprit = culprit
        return made


def root_may_trust(path: str, *, directory: bool = False) -> "Untrusted | None":  # noqa: PLR0911, PLR0912  # one reason per return
    """None when nobody but root can have made PATH what it is; otherwise why not, naming the culprit.

    Every directory from "/" must be root's and writable by root only. A world-writable sticky directory (/tmp)
    counts only for a root-owned directory in it: a file or symlink there could have been moved or hard-linked in
    by anyone. A symlink on the way is followed only where root alone could have made it, and `..` is walked, never
    resolved as text (`link/..` is the link's target's parent). The file itself must be a regular file, root's, and
    writable by root only — or, with DIRECTORY, a directory root alone may write in.
    """
    if not path.startswith("/"):
        path = os.path.join(os.getcwd(), path)
    pending = [p for p in path.split("/") if p not in ("", ".")]
    current = "/"  # a real path: no symlink in it, so its textual parent is its parent
    parent = os.lstat("/")
    hops = 0
    while pending:
        name = pending.pop(0)
        if name == "..":
            current = os.path.dirname(current)
            parent = os.lstat(current)
            continue
        here = os.path.join(current, name)
        try:
            st = os.lstat(here)
        except OSError as e:
            return Untrusted(f"{here}: {e.strerror}")
        if not writable_only_by(parent, ROOT):
            sticky_root_dir = (
                parent.st_uid == 0 and parent.st_mode & stat.S_ISVTX and stat.S_ISDIR(st.st_mode) and st.st_uid == 0
            )
            if not sticky_root_dir:
                return _root_alone_writes(current, parent)
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > TRUST_HOPS:
                return Untrusted(f"{path}: too many symlinks")
            target = os.readlink(here)
            if target.startswith("/"):
                current, parent = "/", os.lstat("/")
            pending[0:0] = [p for p in target.split("/") if p not in ("", ".")]
            continue
        if pending:
            if not stat.S_ISDIR(st.st_mode):
                return Untrusted(f"{here} is not a directory", here)
            current, parent = here, st
            continue
        if directory:
            if not stat.S_ISDIR(st.st_mode):
                return Untrusted(f"{here} is not a directory", here)
            return _root_alone_writes(here, st)
        if not stat.S_ISREG(st.st_mode):
            return Untrusted(f"{here} is not a regular file", here)
        return _root_alone_writes(here, st)
    if directory:
        return _root_alone_writes(current, parent)
    return Untrusted("the path names a directory, not a file")


def _root_alone_writes(path: str, st: os.stat_result) -> "Untrusted | None":
    """None when root alone can change PATH (lstat ST); otherwise the reason, naming its owner, group and mode."""
    if writable_only_by(st, ROOT):
        return None
    return Untrusted(f"{path} ({describe(st)}) can be written by others than root", path)


def trust_fix(reason: "Untrusted", what: str, path: str, example: str) -> str:
    """The fix for REASON that is right to follow: move WHAT (at PATH) into a dir only root can write (EXAMPLE) —
    never a chown or chmod of a dir, which may be a system dir or one members need to write; for the file itself,
    making it root's is offered too."""
    fix = f"move {what} into a dir only root can write (e.g. {example})"
    if reason.culprit == path and os.path.isfile(path):
        fix += f", or make it root's and writable by root only (chown root {path}; chmod go-w {path})"
    return fix


# The dirs root takes system programs (useradd, …) from, in order: never root's PATH, which may hold a dir members
# can write (the shared bin dirs, as a Dockerfile's `ENV PATH` puts them there).
SYSTEM_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def system_program(name: str) -> str:
    """The absolute path of the system program NAME in the first of SYSTEM_DIRS where nobody but root can have made
    it (see root_may_trust); UvshareError naming every place looked at, and why each was passed over."""
    passed = []
    for where in SYSTEM_DIRS:
        path = f"{where}/{name}"
        if not os.path.lexists(path):
            passed.append(f"{path} (missing)")
            continue
        reason = root_may_trust(path)
        if reason is None and os.access(path, os.X_OK):
            return path
        passed.append(f"{path} ({reason or 'not executable'})")
    from uvshare.errors import UvshareError

    raise UvshareError(
        f"root runs {name} only from {', '.join(SYSTEM_DIRS)}, where only root can have written it, never from PATH; "
        f"looked at {'; '.join(passed)}; install it there (Debian: the package that provides {name})"
    )
