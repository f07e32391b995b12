"""`share config`: the effective config, where each key came from, and the UV_* variables uvshare exports."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from plumbum import cli

from uvshare.admin.common import Command, load_config, shared_dirs
from uvshare.config import (
    DEFAULT_UMASK,
    DIR_KEYS,
    ENV_CONFIG,
    KEYS,
    PROJECT_KEY,
    Config,
    config_paths,
    members_link_mode,
)
from uvshare.errors import UvshareError, escape
from uvshare.prepare import covered
from uvshare.safefs import open_dir

# Who gets each dir exported (see shim): members, and root's commands on the shared tree, which run as the install-user;
# root's other commands get none (during an image build, UVSHARE_BUILD=1: all but the caches); outsiders get only the
# shared Pythons.
ROOTS = "root's python/tool/cache commands, as the install-user"
WHO_GETS = {
    "cache-dir": f" (members and {ROOTS}; outsiders keep their own cache)",
    "python-cache-dir": f" (members and {ROOTS}; outsiders keep their own)",
    "python-bin-dir": f" (members, {ROOTS}, and outsiders, for the Pythons' links)",
    "tool-dir": f" (members and {ROOTS})",
    "tool-bin-dir": f" (members and {ROOTS})",
    "python-install-dir": f" (members, {ROOTS}, and outsiders, who use the Pythons read-only)",
}

# A curated tree: only root's commands on it get its dirs; everyone else (and root's other commands) gets its Pythons'
# bin dirs on uv's PATH instead, and keeps their own dirs.
CURATED_GETS = f" ({ROOTS} only: a curated tree; everyone else gets its Pythons on uv's PATH and keeps their own dirs)"


def key_line(path: str, key: str) -> int | None:
    """The line of PATH where KEY is set (tomllib reports no positions), or None."""
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if pattern.match(line):
                    return number
    except OSError:
        return None
    return None


def effective(config: Config) -> dict[str, Any]:
    """Every key with its value and source, the exports, and the files read, as one JSON-able dict."""
    values: dict[str, object] = {
        "group": config.group,
        "kind": config.kind,
        "umask": f"{config.umask:04o}",
        "acl": config.acl,
        "uv": config.uv,
        "uvx": config.uvx,
        "install-user": config.install_user,
        "link-mode": config.link_mode,
        **{key: config.dirs.get(key) for key in DIR_KEYS},
        PROJECT_KEY: config.project_dir,
        "skip-installed": config.skip_installed,
    }
    keys = {}
    for key in KEYS:
        origin = config.origins.get(key)
        if origin is not None:
            line = key_line(origin, key)
            source = f"{origin}:{line}" if line else origin
        else:
            source = "default" if key in ("kind", "umask", "acl", "skip-installed") else "not set"
            if key == "link-mode":
                source = "not set: chosen, see UV_LINK_MODE below"
        keys[key] = {"value": values[key], "source": source}
    exports = {}
    for key, var in DIR_KEYS.items():
        if os.environ.get(var):
            exports[var] = {"value": os.environ[var], "source": f"environment (wins over {key})"}
        elif key in config.dirs:
            who = CURATED_GETS if config.kind == "curated" else WHO_GETS.get(key, "")
            exports[var] = {"value": config.dirs[key], "source": f"{key}{who}"}
    return {
        "files": list(config.files),
        "searched": config_paths(os.environ),
        "env": {ENV_CONFIG: os.environ.get(ENV_CONFIG)},
        "keys": keys,
        "exports": exports,
        "umask_default": f"{DEFAULT_UMASK:04o}",
        "umask": umask_decision(config),
        "link_mode": link_mode_decision(config),
    }


def link_mode_decision(config: Config) -> dict[str, Any]:
    """UV_LINK_MODE for members (and root's commands on the tree), and why."""
    if os.environ.get("UV_LINK_MODE"):
        return {"value": os.environ["UV_LINK_MODE"], "why": "UV_LINK_MODE in the environment wins"}
    mode, why = members_link_mode(config)
    return {"value": mode, "why": why}


def umask_decision(config: Config) -> dict[str, Any]:
    """Whether uvshare applies its umask on uv calls (for root and members), and why: per dir, its default ACL (None:
    none kept, or the caller cannot see it)."""
    states: dict[str, bool | None] = {}
    closed: list[str] = []
    outsider = os.geteuid() != 0 and config.gid is not None and config.gid not in (os.getegid(), *os.getgroups())
    dirs = shared_dirs(config)
    for key, path in dirs.items():
        try:
            fd = open_dir(path)
        except PermissionError:  # the cache is closed to outsiders on purpose: say so, not "no default ACL"
            closed.append(path)
            continue
        except (OSError, UvshareError):
            states[key] = False
            continue
        try:
            states[key] = covered(fd, key, config.gid if config.gid is not None else -1)
        finally:
            os.close(fd)
    lacking = [dirs[k] for k, state in states.items() if not state]
    if outsider:
        return {
            "applied": False,
            "value": f"{config.umask:04o}",
            "why": f"you are not in group '{config.group}': uvshare changes nothing shared for you and leaves your "
            "umask alone" + (f" ({', '.join(closed)}: closed to you)" if closed else ""),
            "default_acls": {dirs[k]: state for k, state in states.items()},
        }
    if not config.acl:
        why = "acl = false"
    elif lacking:
        why = f"no default ACL (or no ACLs on that filesystem) on {', '.join(lacking)}"
    else:
        why = ""
    return {
        "applied": bool(why),
        "value": f"{config.umask:04o}",
        "why": why or "every shared dir has a default ACL: the caller's umask is left alone",
        "default_acls": {dirs[k]: state for k, state in states.items()},
    }


class ConfigCommand(Command):
    """Show the effective config: every key, its value and where it came from, and the UV_* variables exported"""

    as_json = cli.Flag("--json", help="print the same as JSON")

    def main(self) -> int:
        data = effective(load_config())
        if self.as_json:
            print(json.dumps(data, indent=2))
            return 0
        print(escape("files read (later ones win, key by key): " + ", ".join(data["files"])))
        width = max(len(k) for k in KEYS)
        for key, item in data["keys"].items():
            value = "-" if item["value"] is None else json.dumps(item["value"])
            print(escape(f"  {key:<{width}} = {value:<30} # {item['source']}"))
        print("exported to uv:")
        for var, item in data["exports"].items():
            print(escape(f"  {var}={item['value']}  # {item['source']}"))
        link = data["link_mode"]
        print(escape(f"  UV_LINK_MODE={link['value']}  # {link['why']}"))
        umask = data["umask"]
        if umask["why"].startswith("you are not in group"):
            print(escape(f"umask on uv calls: your own ({umask['why']})"))
        elif umask["applied"]:
            print(escape(f"umask on uv calls: {umask['value']} (for root and members), because of {umask['why']}"))
        else:
            print(escape(f"umask on uv calls: the caller's own, left alone ({umask['why']})"))
        return 0
