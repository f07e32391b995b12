"""Files the `share` commands write for the admin — the config, the login profile — whole or not at all."""

from __future__ import annotations

import os
import shlex
import stat

from uvshare.errors import UvshareError

PROFILE = "/etc/profile.d/uvshare.sh"


def write_atomically(path: str, text: str, mode: int = 0o644) -> bool:
    """Write TEXT to PATH through a new temporary file and a rename: never half-written. False when PATH already
    holds exactly TEXT (nothing is written)."""
    if same_content(path, text):
        return False
    directory, name = os.path.split(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as e:
        raise UvshareError(f"cannot create {directory}: {e.strerror}") from None
    tmp = os.path.join(directory, f".{name}.uvshare-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise UvshareError(f"cannot write in {directory}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)  # whatever the umask
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise UvshareError(f"cannot write {path}: {e.strerror}") from None
    return True


def same_content(path: str, text: str) -> bool:
    """Whether PATH is a regular file holding exactly TEXT (opened without blocking on a FIFO or following a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(len(text.encode()) + 1) == text.encode()
    finally:
        os.close(fd)


def profile_text(bin_dirs: list[str]) -> str:
    """A POSIX sh snippet for /etc/profile.d that appends BIN_DIRS to PATH, for everybody but root."""
    lines = [
        "# Written by `uvshare share setup --profile`: the shared Python and tool bin dirs on login shells' PATH.",
        "# Not for root: members can write these dirs, and root must not run what they put there.",
        'if [ "$(id -u)" -ne 0 ]; then',
    ]
    for path in bin_dirs:
        quoted = shlex.quote(path)
        lines.append(f'    case ":$PATH:" in *:{quoted}:*) ;; *) PATH="${{PATH:+$PATH:}}"{quoted} ;; esac')
    lines += ["    export PATH", "fi", ""]
    return "\n".join(lines)


def dockerfile_line(bin_dirs: list[str]) -> str:
    """The Dockerfile line that does what the profile does (images run no profile)."""
    return f'ENV PATH="$PATH:{":".join(bin_dirs)}"'
