"""Find the real uv binary: an explicit, ordered list of places, skipping uvshare itself."""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_UV = "UVSHARE_UV"
ENTRY_MODULE = b"uvshare.shim"  # what every generated launcher imports: `from uvshare.shim import main`


def is_uvshare(path: str, own: str) -> bool:
    """Whether PATH is this program: the same file, or a console-script launcher of it (pip, pipx, uv tool)."""
    if os.path.realpath(path) == own:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and ENTRY_MODULE in head


def find_uv(environ: "Mapping[str, str]", configured: "str | None", config_file: "str | None") -> str:
    """The path of the real uv, or UvNotFound naming every place searched and how to point at uv."""
    from uvshare.config import check_uv

    own = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    explicit = environ.get(ENV_UV)
    if explicit:  # 1. UVSHARE_UV: the caller's explicit choice
        check_uv(explicit, ENV_UV)
        return explicit
    if configured:  # 2. the config's `uv` key (checked when the config was read)
        return configured
    searched = [f"{ENV_UV} (not set)", f"the config's 'uv' key ({'not set' if config_file else 'no config file'})"]
    seen = set()
    for entry in environ.get("PATH", os.defpath).split(os.pathsep):  # 3. PATH, in order
        candidate = os.path.join(entry or ".", "uv")
        if candidate in seen:
            continue
        seen.add(candidate)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        if is_uvshare(candidate, own):
            searched.append(f"{candidate} (uvshare itself, skipped)")
            continue
        return candidate
    searched.append(f"PATH ({environ.get('PATH', '')!r}: no other uv)")
    from uvshare.errors import UvNotFound  # imported only when there is an error (see config.config_error)

    raise UvNotFound(
        f"cannot find the real uv; searched {'; '.join(searched)}; install uv (pip install uv) or set "
        f'uv = "/path/to/uv" in the config, or {ENV_UV}=/path/to/uv'
    )
