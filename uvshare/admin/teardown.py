"""`share teardown`: take back what `share init` and `share setup --profile` made, and say what is left.

Removed, each only when uvshare made it (and checked so, not assumed): the config (it starts with init's header
line), the login profiles (exactly the text this config's `setup --profile` writes), the install-user account (its
passwd comment is root's record that `share setup` made it for this tree's group, and no other tree's config names
it) and the cron/at deny lines added for it. Left: the tree's data (Pythons, tools, cache), which members may still
use: the line saying so gives the `rm -rf` that removes it, for the admin to choose. Every file is reached through a
dir fd, never through a link; as root, only in dirs nobody but root can write.
"""

from __future__ import annotations

import os
import pwd
import shlex

from plumbum import cli

from uvshare.admin.accounts import made_account
from uvshare.admin.common import Command, as_root, shared_dirs
from uvshare.admin.files import read_regular, remove_own_file
from uvshare.admin.init import HEADER
from uvshare.admin.profiles import BEGIN, MARK, LoginEnv, Target, login_env, remove, render, targets, zsh_block
from uvshare.config import ENV_CONFIG, LINK_STATE_SUFFIX, PROJECT_KEY, SYSTEM_CONFIG, Config, load
from uvshare.errors import EXIT_PROBLEMS, UvshareError

RECORDS = ("clone ", "copy ")  # how a link-mode record starts (linkmode.record)


class Teardown(Command):
    """Remove what 'share init' and 'share setup --profile' made (config, login profiles, the install-user uvshare
    created); leave the tree's Pythons, tools and cache, and say how to remove them"""

    config_file = cli.SwitchAttr(
        "--config", str, argname="FILE", help=f"the config init wrote ($UVSHARE_CONFIG, else {SYSTEM_CONFIG})"
    )
    dry_run = cli.Flag("--dry-run", help="say what would be removed and what left; remove nothing")
    removed_uid: int | None = None  # the install-user's, once removed

    def main(self) -> int:
        if self.config_file == "":
            raise UvshareError("--config needs a file's path; leave it out for $UVSHARE_CONFIG or " + SYSTEM_CONFIG)
        path = self.config_file or os.environ.get(ENV_CONFIG) or SYSTEM_CONFIG
        path = os.path.abspath(path)
        if not os.path.lexists(path):
            raise UvshareError(f"{path}: no such config; name the config 'share init' wrote with --config FILE")
        config = load({ENV_CONFIG: path})  # as root: refused unless nobody but root could have written it
        if config is None:  # pragma: no cover  # (it exists)
            raise UvshareError(f"{path}: cannot read it")
        status = self.profiles(config)
        status |= self.account(config, path)
        status |= self.config(path)
        self.leave_data(config)
        if self.dry_run:
            self.say("info", "nothing was removed (--dry-run)")
        return EXIT_PROBLEMS if status else 0

    def act(self, done: str) -> None:
        """Say DONE (`removed X`), or under --dry-run that it would be."""
        self.say("info", f"would {done.replace('removed', 'remove', 1)}") if self.dry_run else self.say("ok", done)

    def config(self, path: str) -> int:
        """Remove the config when init wrote it."""
        text = read_regular(path)
        if text is None or not text[0].startswith(HEADER):
            self.say("warning", f"left {path}: 'share init' did not write it (no '{HEADER.strip()}' line)")
            return 1
        if not self.dry_run and not remove_own_file(path, HEADER.rstrip("\n")):  # pragma: no cover  # (just read)
            raise UvshareError(f"{path} changed while it was removed; run this again")
        self.act(f"removed the config {path}")
        state = path + LINK_STATE_SUFFIX  # root's reflink probe's answer for this config (see linkmode.record)
        if any(remove_own_file(state, head) if not self.dry_run else os.path.isfile(state) for head in RECORDS):
            self.act(f"removed {state}")
        return 0

    def profiles(self, config: Config) -> int:
        """Remove the default login profiles that hold exactly what this config's `setup --profile` writes."""
        env, _ = login_env(config)
        chosen, _ = targets(None, None, None)
        for target in chosen:
            current = read_regular(target.path)
            if current is None:
                continue
            text = current[0]
            if not ours(target, text, env):
                if (BEGIN in text) if target.block else text.startswith(MARK):  # uvshare's, for another config
                    self.say("info", f"left {target.path}: not what 'share setup --profile' writes for this config")
                continue
            what = f"uvshare's block from {target.path}" if target.block else target.path
            if not self.dry_run:
                remove(target)
            self.act(f"removed {what}")
        return 0

    def account(self, config: Config, path: str) -> int:
        """Remove the install-user when uvshare made it for this tree's group and no other config names it, and the
        cron/at deny lines added for it."""
        name, why_not = made_account(config, path)
        uid = pwd.getpwnam(name).pw_uid if name is not None else -1
        if name is None:
            if why_not:
                self.say("info", why_not)
            return 0
        if os.geteuid() != 0:
            self.say("warning", f"left the account {name}: only root removes it ('{as_root(self.words())}')")
            return 1
        if self.dry_run:
            self.say(
                "info", f"would remove the account {name} (and its group), and its lines in the cron/at deny files"
            )
            return 0
        from plumbum import local

        from uvshare.admin.setup import undeny_scheduling
        from uvshare.safefs import SYSTEM_DIRS, system_program

        userdel = local[system_program("userdel")]  # never one from root's PATH (see setup.ensure_install_user)
        with local.env(PATH=os.pathsep.join(SYSTEM_DIRS)):
            code, out, err = userdel.run(["--", name], retcode=None)
        if code != 0:
            self.say("problem", f"cannot remove the account {name}: {(err or out).strip()}; run this again then")
            return 1
        self.say("ok", f"removed the account {name} (and its group of its own)")
        self.removed_uid = uid
        for line in undeny_scheduling(name):
            self.say("ok", line)
        return 0

    def leave_data(self, config: Config) -> None:
        """Say what is left: the tree's data, and the `rm -rf` that removes it."""
        dirs = [d for k, d in shared_dirs(config).items() if k != PROJECT_KEY and os.path.lexists(d)]
        if not dirs:
            return
        try:
            prefix = os.path.commonpath(dirs)
        except ValueError:
            prefix = ""
        whole = prefix not in ("", "/") and only_holds(prefix, dirs)
        remove = shlex.join(["rm", "-rf", prefix] if whole else ["rm", "-rf", *dirs])
        where = f"below {prefix}" if whole else ", ".join(dirs)
        self.say("info", f"left the tree's data {where} (Pythons, tools, cache): '{remove}' removes it, if unneeded")
        if self.removed_uid is not None:  # a later account given that number would own them
            self.say(
                "warning", f"anything the account owned there keeps its uid {self.removed_uid}: remove the data too"
            )

    def words(self) -> str:
        """This command, to repeat it."""
        return "teardown" + (f" --config {shlex.quote(self.config_file)}" if self.config_file else "")


def ours(target: Target, text: str, env: LoginEnv) -> bool:
    """Whether TEXT (TARGET's) is what `setup --profile` writes for ENV there (for zsh: holds exactly its block)."""
    if target.block:
        return zsh_block(env) in text
    return text == render(target, env)[0]


def only_holds(prefix: str, dirs: list[str]) -> bool:
    """Whether PREFIX holds nothing but DIRS and the dirs on the way to them (so `rm -rf PREFIX` removes only them)."""
    wanted = {os.path.relpath(d, prefix).split("/")[0] for d in dirs}
    try:
        return set(os.listdir(prefix)) <= wanted
    except OSError:
        return False
