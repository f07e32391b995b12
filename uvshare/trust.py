"""What root may run or read: only files nobody but root can have written, reached through dirs only root controls.

Root's uvshare executes uv (and uvx) and reads config files that say which dirs root creates, chowns and chmods.
A uv in a dir a member can write (a shared bin dir on root's PATH), or a config file a member owns, would make root
their puppet. Imported only when uvshare runs as root.
"""

import os
import stat

MAX_HOPS = 40  # symlinks followed on the way to one file


def _opens_to_others(st: os.stat_result) -> bool:
    """Whether anyone but root can add, remove or rename entries in the directory ST."""
    return st.st_uid != 0 or bool(st.st_mode & 0o022)


def root_may_trust(path: str) -> "str | None":
    """None when nobody but root can have made PATH what it is; otherwise why not, naming the culprit.

    Every directory from "/" must be root's and writable by root only. A world-writable sticky directory (/tmp)
    counts only for a root-owned directory in it: a file or symlink there could have been moved or hard-linked in
    by anyone. A symlink on the way is followed only where root alone could have made it. The file itself must be
    a regular file, root's, and writable by root only.
    """
    pending = [p for p in os.path.abspath(path).split("/") if p]
    current = "/"
    parent = os.lstat("/")
    hops = 0
    while pending:
        name = pending.pop(0)
        here = os.path.join(current, name)
        try:
            st = os.lstat(here)
        except OSError as e:
            return f"{here}: {e.strerror}"
        if _opens_to_others(parent):
            sticky_root_dir = (
                parent.st_uid == 0 and parent.st_mode & stat.S_ISVTX and stat.S_ISDIR(st.st_mode) and st.st_uid == 0
            )
            if not sticky_root_dir:
                return f"{current} ({_who(parent)}) can be written by others than root"
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_HOPS:
                return f"{path}: too many symlinks"
            target = os.path.normpath(os.path.join(current, os.readlink(here), *pending))
            pending = [p for p in target.split("/") if p]
            current, parent = "/", os.lstat("/")
            continue
        if pending:
            if not stat.S_ISDIR(st.st_mode):
                return f"{here} is not a directory"
            current, parent = here, st
            continue
        if not stat.S_ISREG(st.st_mode):
            return f"{here} is not a regular file"
        if st.st_uid != 0 or st.st_mode & 0o022:
            return f"{here} ({_who(st)}) can be written by others than root"
    return None


def _who(st: os.stat_result) -> str:
    from uvshare.safefs import describe

    return describe(st)
