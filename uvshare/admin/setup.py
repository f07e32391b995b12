"""`share setup`: create every configured dir group-owned (2775) with default ACLs, uv's lock files and `.temp`."""

from __future__ import annotations

from plumbum import cli

from uvshare.admin.common import Command, as_root, group_label, load_group_config, shared_dirs
from uvshare.admin.files import PROFILE, dockerfile_line, profile_text, write_atomically
from uvshare.config import Config
from uvshare.errors import UvshareError
from uvshare.prepare import Preparer

BIN_KEYS = ("python-bin-dir", "tool-bin-dir")


class Setup(Command):
    """Create the shared dirs (and missing parents) group-owned, mode 2775, with default ACLs, uv's .lock files and
    .temp; fix what is wrong with them; idempotent"""

    profile = cli.Flag("--profile", help=f"also put the shared bin dirs on login shells' PATH ({PROFILE})")
    profile_file = cli.SwitchAttr("--profile-file", str, argname="FILE", help=f"where --profile writes ({PROFILE})")

    def main(self) -> int:
        config, _ = load_group_config()
        return self.set_up(config)

    def set_up(self, config: Config) -> int:
        """Prepare CONFIG's dirs (taking back empty ones an outsider owns), write the profile if asked; exit status."""
        if config.gid is None:
            raise UvshareError(f"{config.files[-1]}: no 'group' key; name the shared group, e.g. group = \"uvshare\"")
        warnings: list[str] = []
        dirs = shared_dirs(config)
        label = group_label(config)
        preparer = Preparer(config.gid, config.umask, label, warnings.append, acl=config.acl, take_back=True)
        changes = preparer.prepare(dirs)
        for change in changes:
            self.say("ok", change)
        for key, state in preparer.covered.items():
            if state is False and config.acl:
                self.say(
                    "warning",
                    f"{dirs[key]} holds entries made before it had a default ACL: run '{as_root('repair')}' to give "
                    "them one (until then uvshare applies the umask on uv calls)",
                )
        for warning in warnings:
            self.say("problem", warning)
        if self.profile or self.profile_file:
            self.write_profile(config)
        if not changes and not warnings:
            self.say("ok", f"nothing needed changing: {len(dirs)} shared dirs are set up")
        if warnings:
            self.note(f"some problems remain: run '{as_root('setup')}' as root, then '{as_root('repair')}'")
            return 1
        return 0

    def write_profile(self, config: Config) -> None:
        """Write the login profile that puts the bin dirs on PATH, and print the Dockerfile line."""
        bins = [config.dirs[k] for k in BIN_KEYS if k in config.dirs]
        if not bins:
            self.say("warning", "no python-bin-dir or tool-bin-dir configured: no profile written")
            return
        path = self.profile_file or PROFILE
        changed = write_atomically(path, profile_text(bins))
        self.say("ok", f"{'wrote' if changed else 'unchanged:'} {path}: login shells get {', '.join(bins)} on PATH")
        self.note(f"for a Dockerfile (which runs no profile): {dockerfile_line(bins)}")
