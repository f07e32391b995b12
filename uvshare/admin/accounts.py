"""The install-user account `share setup` made: whether uvshare made it (root's record, its passwd comment) and which
configs name it. For `share init`'s closing lines and `share teardown`."""

from __future__ import annotations

import os
import pwd

from uvshare.config import DIR_KEYS, SYSTEM_CONFIG, Config, read_file
from uvshare.errors import ConfigError
from uvshare.trees import tree_files, trees_dir


def made_account(config: Config, path: str) -> tuple[str | None, str]:
    """The install-user of CONFIG (at PATH) when teardown is to remove it — it exists, its comment is root's record
    that `share setup` made it for this group, and no other config names it —, else None and why it stays (empty:
    there is no account to speak of)."""
    name = config.install_user
    if name is None or config.gid is None:
        return None, ""
    from uvshare.safefs import INSTALL_USER_MARK

    try:
        user = pwd.getpwnam(name)
    except KeyError:
        return None, ""
    if user.pw_gecos != INSTALL_USER_MARK.format(config.gid) or user.pw_uid == 0:
        return None, f"left the account {name}: uvshare did not make it (its comment is not uvshare's)"
    others = configs_naming(name, path)
    if others:
        return None, f"left the account {name}: {', '.join(others)} names it too"
    return name, ""


def configs_naming(name: str, path: str) -> list[str]:
    """The other configs on this machine (the system config, the trees dir) whose install-user is NAME."""
    found = []
    for other in [SYSTEM_CONFIG, *tree_files(trees_dir(os.environ))]:
        if os.path.abspath(other) == path:
            continue
        try:
            values = read_file(other) or {}
        except (ConfigError, OSError):
            continue
        if values.get("install-user") == name and any(k in values for k in DIR_KEYS):
            found.append(other)
    return found
