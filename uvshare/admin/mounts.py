"""Which filesystem a shared dir is on, from /proc/self/mountinfo, and what that means for uv's locks."""

from __future__ import annotations

import os
from dataclasses import dataclass

NFS_TYPES = frozenset({"nfs", "nfs4"})


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: where, what type, and its mount and superblock options."""

    mount_point: str
    fstype: str
    source: str
    options: frozenset[str]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo octal
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[Mount]:
    """Parse mountinfo TEXT (see proc(5)); malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        options = set(fields[5].split(","))
        if len(tail) >= 3:
            options.update(tail[2].split(","))
        mounts.append(Mount(_unescape(fields[4]), tail[0], _unescape(tail[1]), frozenset(options)))
    return mounts


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount PATH is on: the last-mounted one with the longest mount point that contains it."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/") or "/"
        inside = real == point or real.startswith(point + "/") or point == "/"
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = mount
    return best


def lock_warning(mount: Mount) -> str | None:
    """Why uv's locks would not protect a dir on MOUNT across machines, or None."""
    if mount.fstype in NFS_TYPES:
        local = {o for o in mount.options if o.startswith("local_lock=")}
        if local & {"local_lock=flock", "local_lock=all"}:
            return (
                f"NFS mounted with {', '.join(sorted(local))}: uv's flock locks are local to one node, so two "
                "nodes can install into this dir at once; mount with local_lock=none (the default)"
            )
    return None


def read_mounts() -> list[Mount]:
    """This process's mounts."""
    try:
        with open("/proc/self/mountinfo") as f:
            return parse(f.read())
    except OSError:
        return []
