"""`share config`: the effective config, where each key came from, and the UV_* variables uvshare exports."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from plumbum import cli

from uvshare.admin.common import Command, load_config
from uvshare.config import DEFAULT_UMASK, DIR_KEYS, ENV_CONFIG, KEYS, Config, config_paths


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
        "umask": f"{config.umask:04o}",
        "uv": config.uv,
        **{key: config.dirs.get(key) for key in DIR_KEYS},
        "skip-installed": config.skip_installed,
    }
    keys = {}
    for key in KEYS:
        origin = config.origins.get(key)
        if origin is not None:
            line = key_line(origin, key)
            source = f"{origin}:{line}" if line else origin
        else:
            source = "default" if key in ("umask", "skip-installed") else "not set"
        keys[key] = {"value": values[key], "source": source}
    exports = {}
    for key, var in DIR_KEYS.items():
        if os.environ.get(var):
            exports[var] = {"value": os.environ[var], "source": f"environment (wins over {key})"}
        elif key in config.dirs:
            members_only = " (not for users outside the group)" if key == "cache-dir" else ""
            exports[var] = {"value": config.dirs[key], "source": f"{key}{members_only}"}
    return {
        "files": list(config.files),
        "searched": config_paths(os.environ),
        "env": {ENV_CONFIG: os.environ.get(ENV_CONFIG)},
        "keys": keys,
        "exports": exports,
        "umask_default": f"{DEFAULT_UMASK:04o}",
    }


class ConfigCommand(Command):
    """Show the effective config: every key, its value and where it came from, and the UV_* variables exported"""

    as_json = cli.Flag("--json", help="print the same as JSON")

    def main(self) -> int:
        data = effective(load_config())
        if self.as_json:
            print(json.dumps(data, indent=2))
            return 0
        print("files read (later ones win, key by key): " + ", ".join(data["files"]))
        width = max(len(k) for k in KEYS)
        for key, item in data["keys"].items():
            value = "-" if item["value"] is None else json.dumps(item["value"])
            print(f"  {key:<{width}} = {value:<30} # {item['source']}")
        print("exported to uv:")
        for var, item in data["exports"].items():
            print(f"  {var}={item['value']}  # {item['source']}")
        return 0
