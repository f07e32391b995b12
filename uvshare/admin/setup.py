"""`share setup`: create every configured dir group-owned (2775) with uv's lock files and `.temp`; idempotent."""

from __future__ import annotations

from uvshare.admin.common import Command, as_root, group_label, load_group_config, mark, shared_dirs
from uvshare.prepare import Preparer


class Setup(Command):
    """Create the shared dirs (and missing parents) group-owned, mode 2775, with uv's .lock files and .temp"""

    def main(self) -> int:
        config, gid = load_group_config()
        warnings: list[str] = []
        changes = Preparer(gid, config.umask, group_label(config), warnings.append).prepare(shared_dirs(config))
        for change in changes:
            print(f"{mark('ok')} {change}")
        for warning in warnings:
            print(f"{mark('problem')} {warning}")
        if not changes and not warnings:
            print(f"{mark('ok')} nothing needed changing: {len(shared_dirs(config))} shared dirs are set up")
        if warnings:
            print(f"some problems remain: run '{as_root('setup')}' as root, then '{as_root('repair')}'")
            return 1
        return 0
