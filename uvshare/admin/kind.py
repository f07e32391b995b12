"""`share kind shared|curated`: turn a tree curated (only root installs, everyone runs) or shared again, saying what
changes, then make its dirs so (through setup or repair, which judge a tree by its kind)."""

from __future__ import annotations

import os

from plumbum import cli

from uvshare.admin.common import Command, as_root, load_group_config, refuse_outsider_admin
from uvshare.admin.curate import repair
from uvshare.config import ENV_CONFIG, KINDS, Config, load, read_file
from uvshare.errors import UvshareError


class Kind(Command):
    """Turn the tree curated (only root installs, everyone runs) or shared (members install too), saying what
    changes, and make its dirs so"""

    dry_run = cli.Flag("--dry-run", help="say what would change; change nothing")

    def main(self, kind: str) -> int:
        if kind not in KINDS:
            raise UvshareError(f"'share kind' takes {' or '.join(KINDS)}, not {kind!r}")
        config, _ = load_group_config()
        refuse_outsider_admin(config, "change the kind of")
        if os.geteuid() != 0:
            raise UvshareError(f"only root changes the kind of a tree: '{as_root(f'kind {kind}')}'")
        path = config.origins.get("kind", config.files[-1])
        if kind == "curated" and config.install_user is None:
            raise UvshareError(
                f'{config.files[-1]}: a curated tree is its install-user\'s: add install-user = "NAME" first '
                "(nothing was changed)"
            )
        for line in self.changes(config, kind):
            self.say("info", line)
        if self.dry_run:
            if kind == "curated":
                repair(self, config, dry_run=True)
            self.say("info", "nothing was written or changed (--dry-run)")
            return 0
        if config.kind != kind:
            write_kind(path, kind)
            self.say("ok", f'{path}: kind = "{kind}"')
        os.environ[ENV_CONFIG] = path
        new = load(os.environ)
        if new is None:  # pragma: no cover  # just written
            raise UvshareError(f"{path}: cannot read the config just written")
        if kind == "curated":
            from uvshare.admin.setup import Setup

            setup = Setup("setup")
            setup.quiet = self.quiet
            return setup.set_up(new)  # the install-user (created if missing), then the whole tree its alone
        from uvshare.admin.repair import Repair

        self.note(f"giving the tree back to group '{new.group}': '{as_root('repair')}'")
        return int(Repair.run(["repair"], exit=False)[1] or 0)

    def changes(self, config: Config, kind: str) -> list[str]:
        """What turning CONFIG's tree KIND changes, for whom."""
        if config.kind == kind:
            return [f"the tree is {kind} already: its dirs are checked and made so again"]
        if kind == "curated":
            return [
                f"members of group '{config.group}' no longer install into the tree: their `uv python install` and "
                "`uv tool install` of what the tree lacks go to their own dirs; they run the tree's Pythons and tools",
                "members use caches of their own (the tree's cache becomes the install-user's)",
                f"everything in the tree becomes the install-user {config.install_user}'s, writable by nobody else: "
                "root's commands on it (run as the install-user) install and remove",
                "root's own uv run, uv venv and uvx may use the curated Pythons",
            ]
        return [
            f"members of group '{config.group}' install into the tree again (and so can change what others run)",
            "root's own uv no longer uses the tree's Pythons (members could change them)",
            "the tree becomes the group's: group-owned, group-writable, setgid, default ACLs",
        ]


def write_kind(path: str, kind: str) -> None:
    """Set `kind` in the config file PATH (kept as it is otherwise; `shared` is the default: the key goes)."""
    from uvshare.admin.files import write_atomically

    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    read_file(path)  # (a broken file is refused before it is touched)
    kept = [line for line in lines if line.split("=", 1)[0].strip() != "kind"]
    if kind != KINDS[0]:
        at = next((i + 1 for i, line in enumerate(kept) if line.split("=", 1)[0].strip() == "group"), len(kept))
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"
        kept.insert(at, f'kind = "{kind}"\n')
    write_atomically(path, "".join(kept))


__all__ = ["Kind", "write_kind"]
