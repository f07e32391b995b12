"""POSIX ACLs on file descriptors, in the kernel's own xattr layout (no libacl, no compiler needed).

A directory whose default ACL gives the group rwx makes everything created inside it group-writable, whoever
creates it and whatever their umask (acl(5)): plain uv, a tool run directly, Python writing bytecode. With the
setgid bit it is group-owned too. That is what keeps the shared tree shared when uvshare is not in front.

The layout (linux/posix_acl_xattr.h): a little-endian u32 version (2), then 8-byte entries (u16 tag, u16 perm,
u32 id), sorted by tag and id. Everything here acts on an open fd: callers reach it without following links.
"""

import errno
import os

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF
RWX = 0o7
# A filesystem that keeps no ACLs (NFSv3 without the ACL side protocol, most FUSE mounts) says one of these.
UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})

HEADER_SIZE, ENTRY_SIZE = 4, 8  # little-endian u32 version; entries of u16 tag, u16 perm, u32 id
# (int.from_bytes rather than struct: the struct module alone costs the every-call path ~0.1 ms to import)

Entry = tuple[int, int, int]  # (tag, perm, id)


def _le(blob: bytes, start: int, size: int) -> int:
    return int.from_bytes(blob[start : start + size], "little")


_DECODED: dict[bytes, list[Entry]] = {}  # every shared dir carries the same few ACLs: decode each once


def decode(blob: bytes) -> list[Entry]:
    """The entries of an ACL xattr value; ValueError for anything else."""
    known = _DECODED.get(blob)
    if known is not None:
        return list(known)
    if len(blob) < HEADER_SIZE or (len(blob) - HEADER_SIZE) % ENTRY_SIZE:
        raise ValueError("not a POSIX ACL")
    version = _le(blob, 0, 4)
    if version != VERSION:
        raise ValueError(f"POSIX ACL version {version}")
    entries = [
        (_le(blob, at, 2), _le(blob, at + 2, 2), _le(blob, at + 4, 4))
        for at in range(HEADER_SIZE, len(blob), ENTRY_SIZE)
    ]
    _DECODED[blob] = entries
    return list(entries)


def encode(entries: "list[Entry]") -> bytes:
    """The xattr value of ENTRIES, sorted the way the kernel requires."""
    ordered = sorted(entries, key=lambda e: (e[0], e[2]))
    parts = [VERSION.to_bytes(4, "little")]
    for tag, perm, ident in ordered:
        parts += [tag.to_bytes(2, "little"), perm.to_bytes(2, "little"), ident.to_bytes(4, "little")]
    return b"".join(parts)


def read(fd: int, name: str, *, probe: bool = True) -> "list[Entry] | None":
    """The ACL NAME (ACCESS or DEFAULT) of the open file FD; None when it has none.

    OSError with an errno in UNSUPPORTED when the filesystem keeps no ACLs (found out only with PROBE: some
    filesystems without ACLs, a FUSE mount say, answer "no such attribute", and say what they are only when asked
    to list or write one; listing changes nothing, but costs a call).
    """
    try:
        blob = os.getxattr(fd, name)
    except OSError as e:
        if e.errno != errno.ENODATA:
            raise
        if probe:
            os.listxattr(fd)
        return None
    try:
        return decode(blob)
    except ValueError:
        return None  # unreadable: treated as absent, and replaced where uvshare may


def write(fd: int, name: str, entries: "list[Entry]") -> None:
    """Set the ACL NAME of the open file FD to ENTRIES."""
    os.setxattr(fd, name, encode(entries))


def perms(entries: "list[Entry]", tag: int) -> int:
    """The permission bits of the unnamed entry TAG (USER_OBJ, GROUP_OBJ, MASK, OTHER); -1 when absent."""
    for entry_tag, perm, _ in entries:
        if entry_tag == tag:
            return perm
    return -1


def foreign_writers(entries: "list[Entry]", gid: int) -> bool:
    """Whether a named entry gives a user, or a group other than GID, write: someone who is not the shared group
    could then add to or change the shared tree (an outsider's own entry on a dir they made). Whatever the mask: one
    that hides the write today lets it through as soon as anyone (uvshare, uv) gives the group write with chmod."""
    return any(
        tag in (USER, GROUP) and perm & 0o2 and not (tag == GROUP and ident == gid) for tag, perm, ident in entries
    )


def default_problems(entries: "list[Entry] | None", gid: int = -1) -> list[str]:
    """What keeps a default ACL from sharing new entries with the group GID, and only it: empty when it does."""
    if entries is None:
        return ["no default ACL"]
    problems = []
    if perms(entries, USER_OBJ) != RWX:
        problems.append("its default ACL does not give the owner rwx")
    if perms(entries, GROUP_OBJ) != RWX or perms(entries, MASK) not in (-1, RWX):
        problems.append("its default ACL does not give the group rwx")
    if perms(entries, OTHER) & 0o2:
        problems.append("its default ACL makes new entries world-writable")
    if foreign_writers(entries, gid):
        problems.append("its default ACL lets someone outside the group write")
    return problems


def access_problems(entries: "list[Entry] | None", gid: int, want: int) -> list[str]:
    """What an access ACL adds to the mode bits' story: the owning group kept from WANT although the mode (its mask)
    shows it, or someone outside the group let write. Empty without an ACL."""
    if entries is None:
        return []
    problems = []
    if perms(entries, GROUP_OBJ) & want != want:
        problems.append("its ACL keeps the group from writing")
    if foreign_writers(entries, gid):
        problems.append("its ACL lets someone outside the group write")
    return problems


def access_state(fd: int, gid: int, want: int) -> "tuple[list[Entry] | None, list[str]]":
    """The access ACL of the open entry FD (None: it has none, or it cannot be read) and what is wrong with it for
    group GID, which should have WANT (see access_problems)."""
    try:
        entries = read(fd, ACCESS, probe=False)
    except OSError:
        return None, []
    return entries, access_problems(entries, gid, want)


def shared_access(entries: "list[Entry]", gid: int, want: int) -> list[Entry]:
    """The access ACL ENTRIES with WANT for the owning group, and write taken from every named entry but GID's."""
    result = []
    for tag, perm, ident in entries:
        if tag in (GROUP_OBJ, MASK):
            result.append((tag, perm | want, ident))
        elif tag in (USER, GROUP) and not (tag == GROUP and ident == gid):
            result.append((tag, perm & ~0o2, ident))
        else:
            result.append((tag, perm, ident))
    return result


def shared_default(entries: "list[Entry] | None", other: int, gid: int = -1) -> list[Entry]:
    """ENTRIES (or a new default ACL) with owner and group rwx, OTHER for everybody else, named entries kept but for
    their write (unless for the group GID): nobody outside the group may write what is made inside.

    A named entry needs a mask (acl(5)); the mask then lets the group's rwx through.
    """
    named = [
        (tag, perm if tag == GROUP and ident == gid else perm & ~0o2, ident)
        for tag, perm, ident in entries or ()
        if tag in (USER, GROUP)
    ]
    kept_other = perms(entries, OTHER) if entries else -1
    result = [(USER_OBJ, RWX, UNDEFINED_ID), (GROUP_OBJ, RWX, UNDEFINED_ID), *named]
    result.append((OTHER, (kept_other if kept_other >= 0 else other) & ~0o2 & RWX, UNDEFINED_ID))
    if named:
        result.append((MASK, RWX, UNDEFINED_ID))
    return result


def drop(fd: int, name: str) -> None:
    """Remove the ACL NAME from the open file FD (the mode bits alone then govern); quiet where there is none."""
    try:
        os.removexattr(fd, name)
    except OSError as e:
        if e.errno != errno.ENODATA and e.errno not in UNSUPPORTED:
            raise
