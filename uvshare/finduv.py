"""Find the real uv (or uvx) binary: an explicit, ordered list of places, skipping uvshare itself.

As root, a candidate anybody but root could have written (a `uv` in a shared bin dir on root's PATH, say) is
never run: see `safefs.root_may_trust`.
"""

import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from uvshare.safefs import Untrusted

ENV = {"uv": "UVSHARE_UV", "uvx": "UVSHARE_UVX"}
ENTRY_MODULE = b"uvshare.shim"  # what every uvshare launcher imports: `from uvshare.shim import main`
# Set in the environment of the program that uvshare execs: "<pid>:<path>". After execve the pid stays the same, so
# a uvshare that finds its own pid there was started by that exec: what it ran leads back to uvshare.
ENV_EXEC = "UVSHARE_EXEC"
ENV_DEPTH = "UVSHARE_DEPTH"
MAX_DEPTH = 32  # uvshare inside uv inside uvshare…: deeper than any real nesting, so it must be a loop


def is_uvshare(path: str, own: str) -> bool:
    """Whether PATH is this program: the same file, or a console-script launcher of it (pip, pipx, uv tool)."""
    if own and os.path.realpath(path) == own:
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO there must not hang us
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, 1024)
    except OSError:
        return False
    finally:
        os.close(fd)
    return head.startswith(b"#!") and ENTRY_MODULE in head


def _refused_for_root(path: str) -> "Untrusted | None":
    """Why root must not run PATH (None: it may, or we are not root)."""
    if os.geteuid() != 0:
        return None
    from uvshare.safefs import root_may_trust

    return root_may_trust(path)


def _explicit(path: str, where: str, program: str, *, checked: bool = False) -> str:
    """An explicitly named PROGRAM, checked (unless the config's reading CHECKED it) and, as root, refused if others
    could have written it."""
    if not checked:
        from uvshare.config import check_uv

        check_uv(path, where, program)
    reason = _refused_for_root(path)
    if reason is not None:
        from uvshare.errors import UvNotFound
        from uvshare.safefs import trust_fix

        fix = trust_fix(reason, program, path, f"/usr/local/bin/{program}")
        raise UvNotFound(f"{where}: root will not run {path}: {reason}; {fix}, and point there")
    return path


def find_program(
    program: str,
    environ: "Mapping[str, str]",
    configured: "str | None",
    config_file: "str | None",
    beside: "str | None" = None,
) -> str:
    """The path of the real PROGRAM (uv or uvx), or UvNotFound naming every place searched and how to point at it.

    In order: the environment variable (UVSHARE_UV, UVSHARE_UVX), the config's key, next to BESIDE (for uvx: the
    real uv), then each PROGRAM on PATH that is not uvshare itself.
    """
    own = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    var = ENV[program]
    explicit = environ.get(var)
    if explicit:  # 1. the caller's explicit choice
        return _explicit(explicit, var, program)
    if configured:  # 2. the config's key (checked when the config was read)
        return _explicit(configured, f"{config_file}: key '{program}'", program, checked=True)
    searched = [f"{var} (not set)", f"the config's '{program}' key ({'not set' if config_file else 'no config file'})"]
    candidates = []
    if beside:  # 3. uvx: the one that came with the real uv
        candidates.append(os.path.join(os.path.dirname(beside), program))
    path_dirs = environ.get("PATH", os.defpath).split(os.pathsep)
    candidates.extend(os.path.join(entry or ".", program) for entry in path_dirs)
    for candidate in dict.fromkeys(candidates):  # 4. PATH, in order, each once
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        reason = _refused_for_root(candidate)  # as root, before even opening what a member could have put there
        if reason is not None:
            searched.append(f"{candidate} (skipped: root will not run it: {reason})")
            continue
        if is_uvshare(candidate, own):
            searched.append(f"{candidate} (uvshare itself, skipped)")
            continue
        return candidate
    searched.append(f"PATH ({environ.get('PATH', '')!r}: no other {program})")
    from uvshare.errors import UvNotFound  # imported only when there is an error (see config.config_error)

    raise UvNotFound(
        f"cannot find the real {program}; searched {'; '.join(searched)}; install uv (pip install uv) or set "
        f'{program} = "/path/to/{program}" in the config, or {var}=/path/to/{program}'
    )


def find_uv(environ: "Mapping[str, str]", configured: "str | None", config_file: "str | None") -> str:
    """The path of the real uv (see find_program)."""
    return find_program("uv", environ, configured, config_file)


def check_loop(environ: "Mapping[str, str]") -> int:
    """Stop when uvshare has been re-entered through its own exec; return the nesting depth for the next exec."""
    pid, _, uv = environ.get(ENV_EXEC, "").partition(":")
    try:
        depth = int(environ.get(ENV_DEPTH, "0"))
    except ValueError:
        depth = 0
    if pid == str(os.getpid()) or depth >= MAX_DEPTH:
        from uvshare.errors import UvNotFound

        raise UvNotFound(
            f"uvshare ran itself instead of the real uv (the program it executed, {uv or 'unknown'}, leads back to "
            'uvshare); set uv = "/path/to/real/uv" (and uvx) in the config or UVSHARE_UV=/path/to/real/uv'
        )
    return depth + 1


def mark_exec(path: str, env: dict[str, str], depth: int) -> None:
    """Tell a uvshare that PATH, run from this process with ENV, may turn out to be: see check_loop."""
    env[ENV_EXEC] = f"{os.getpid()}:{path}"
    env[ENV_DEPTH] = str(depth)
