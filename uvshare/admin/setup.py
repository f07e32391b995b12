"""`share setup`: create every configured dir group-owned (2775) with default ACLs, uv's lock files and `.temp`."""

from __future__ import annotations

import os

from plumbum import cli

from uvshare.admin.common import (
    Command,
    as_root,
    group_label,
    image_acls_note,
    load_group_config,
    refuse_outsider_admin,
    shared_dirs,
)
from uvshare.admin.files import check_target
from uvshare.admin.profiles import (
    FISH_FILE,
    MARK,
    SH_FILE,
    ZSH_FILE,
    Target,
    dockerfile_line,
    jupyterhub_line,
    login_env,
    remove,
    render,
    targets,
    write,
)
from uvshare.config import PROJECT_KEY, Config
from uvshare.errors import UvshareError
from uvshare.prepare import Preparer

# The schedulers an account could leave a job with, to run outside root's command (and so wait for the next one, of
# the same uid: it could ptrace it): the program, its allow file and its deny file, and whether it lets everybody in
# when neither file exists (Debian's cron does; its at lets only root in).
SCHEDULERS = (
    ("/usr/bin/crontab", "/etc/cron.allow", "/etc/cron.deny", True),
    ("/usr/bin/at", "/etc/at.allow", "/etc/at.deny", False),
)


def listed(path: str, name: str) -> bool | None:
    """Whether NAME is a line of PATH (None when there is no such file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return name in (line.strip() for line in f)
    except FileNotFoundError:
        return None


def scheduling_open(name: str) -> list[str]:
    """The schedulers installed here that would take a job from the account NAME (their programs' paths)."""
    open_to: list[str] = []
    for program, allow, deny, default in SCHEDULERS:
        if not os.path.exists(program):
            continue
        allowed = listed(allow, name)
        if allowed is None:
            denied = listed(deny, name)
            allowed = default if denied is None else not denied
        if allowed:
            open_to.append(program)
    return open_to


def deny_scheduling(name: str) -> list[str]:
    """Add the account NAME to the deny file of every scheduler here that would take a job from it (appended in
    place: the file keeps its owner and mode; made 0644 where there is none); what was done. An allow file that
    names it is left for root to mend (UvshareError)."""
    done: list[str] = []
    for program, allow, deny, _default in SCHEDULERS:
        if program not in scheduling_open(name):
            continue
        if listed(allow, name):
            raise UvshareError(f"{allow} lets {name} (the install-user) use {program}: take it out of {allow}")
        try:
            fd = os.open(deny, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise UvshareError(f"cannot add {name} to {deny}: {e.strerror}") from None
        try:
            with open(deny, "rb") as f:
                text = f.read()
            os.write(fd, (b"" if not text or text.endswith(b"\n") else b"\n") + name.encode() + b"\n")
        finally:
            os.close(fd)
        done.append(f"added {name} to {deny}: no job of its can outlast root's commands through {program}")
    return done


def undeny_scheduling(name: str) -> list[str]:
    """Take the lines naming the account NAME out of the schedulers' deny files (rewritten in place: each keeps its
    owner and mode; one left empty is removed: an empty at.deny would let everybody use at, a missing one only
    root); what was done."""
    done: list[str] = []
    for _program, _allow, deny, _default in SCHEDULERS:
        try:
            fd = os.open(deny, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise UvshareError(f"cannot take {name} out of {deny}: {e.strerror}") from None
        try:
            import stat

            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UvshareError(f"{deny} is not a regular file; mend it by hand")
            text = b""
            while chunk := os.read(fd, 65536):
                text += chunk
            lines = text.splitlines(keepends=True)
            kept = [line for line in lines if line.strip() != name.encode()]
            if kept == lines:
                continue
            if not b"".join(kept).strip():
                os.unlink(deny)  # (a root-only dir: /etc)
                done.append(f"removed {deny}: it named only {name}")
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"".join(kept), 0)
            done.append(f"took {name} out of {deny}")
        finally:
            os.close(fd)
    return done


PROFILE_HELP = (
    "also put the shared bin dirs on PATH (and a config not at a default place in UVSHARE_CONFIG) for the login "
    "shells of everyone but root: bash and sh, zsh, fish (their files below; zsh's and fish's where installed)"
)
BLOCK_OF = "uvshare's block from "


class ProfileSwitches(Command):
    """The switches that choose the login profiles (setup's and init's)."""

    profile = cli.Flag("--profile", help=PROFILE_HELP)
    profile_file = cli.SwitchAttr(
        "--profile-file",
        str,
        argname="FILE",
        help=f"bash's and sh's ({SH_FILE}); naming a profile file writes only the ones named",
    )
    zsh_profile_file = cli.SwitchAttr(
        "--zsh-profile-file", str, argname="FILE", help=f"zsh's, given a marked block ({ZSH_FILE})"
    )
    fish_profile_file = cli.SwitchAttr("--fish-profile-file", str, argname="FILE", help=f"fish's ({FISH_FILE})")

    def profile_targets(self) -> tuple[list[Target], list[str]]:
        """The profiles these switches name (see profiles.targets)."""
        return targets(self.profile_file, self.zsh_profile_file, self.fish_profile_file)

    def check_profile_targets(self) -> None:
        """UvshareError now, before anything is written, for a profile that could not be written later."""
        if self.profile_asked():
            for target in self.profile_targets()[0]:
                check_target(target.path)

    def profile_asked(self) -> bool:
        """Whether the login profiles are to be written."""
        return bool(self.profile or self.profile_file or self.zsh_profile_file or self.fish_profile_file)


class Setup(ProfileSwitches):
    """Create the shared dirs (and missing parents) group-owned, mode 2775, with default ACLs, uv's .lock files and
    .temp; fix what is wrong with them; idempotent"""

    made_account: str | None = None  # the install-user this run created, if it did

    no_profile = cli.Flag(
        "--no-profile",
        excludes=["--profile"],
        help="only remove what --profile wrote, from the same files (or the ones named); nothing else",
    )

    def main(self) -> int:
        if self.no_profile:
            return self.remove_profiles()
        if os.geteuid() == 0:
            for change in make_copied_trees_group():
                self.say("ok", change)
        config, _ = load_group_config()
        refuse_outsider_admin(config, "set up")
        self.check_profile_targets()  # before anything is made
        return self.set_up(config)

    def set_up(self, config: Config, *, dry_run: bool = False) -> int:
        """Prepare CONFIG's dirs (taking back empty ones an outsider owns), write the profile if asked; exit status.
        With DRY_RUN, say what would be done and do nothing."""
        if config.gid is None:
            raise UvshareError(f"{config.files[-1]}: no 'group' key; name the shared group, e.g. group = \"uvshare\"")
        warnings: list[str] = []
        dirs = shared_dirs(config)
        label = group_label(config)
        if config.kind == "curated":
            return self.set_up_curated(config, dirs, warnings, dry_run=dry_run)
        preparer = Preparer(
            config.gid, config.umask, label, warnings.append, acl=config.acl, take_back=True, dry_run=dry_run
        )
        changes = preparer.prepare(dirs)
        if dry_run:
            changes += self.team_uv_toml(config, warnings, dry_run=True)
            return self.report_dry_run(changes, warnings)
        changes += self.close_prefixes(dirs, warnings)
        changes += probe_link_mode(config)  # after the cache is made: its filesystem is probed
        changes += self.team_uv_toml(config, warnings)  # after the probe: it names the link mode members get
        for change in changes:
            self.say("ok", change)
        self.ensure_install_user(config, warnings)
        uncovered = [dirs[key] for key, state in preparer.covered.items() if state is False and config.acl]
        if uncovered:
            self.say(*uncovered_line(uncovered, config.umask))
        for warning in warnings:
            self.say("problem", warning)
        if self.profile_asked():
            self.write_profiles(config)
        if not changes and not warnings:
            self.say("ok", f"nothing needed changing: {len(dirs)} shared dirs are set up")
        if warnings:
            if os.geteuid() == 0:
                self.note(f"some problems remain: fix what the lines above say, then run '{as_root('setup')}' again")
            else:
                self.note(f"some problems remain: run '{as_root('setup')}' as root, then '{as_root('repair')}'")
            return 1
        return 0

    def team_uv_toml(self, config: Config, warnings: list[str], *, dry_run: bool = False) -> list[str]:
        """Write the team project dir's `uv.toml` where it is missing (see uvshare.admin.teamdir); the change (with
        DRY_RUN, the one it would make)."""
        from uvshare.admin import teamdir

        if dry_run:
            missing = teamdir.state(config)[0] == "missing"
            path = f"{config.project_dir}/{teamdir.UV_TOML}"
            return [f"would write {path} (plain uv there would use the shared cache)"] if missing else []
        try:
            done = teamdir.write(config)
        except (OSError, UvshareError) as e:
            warnings.append(f"cannot write {config.project_dir}/{teamdir.UV_TOML}: {getattr(e, 'strerror', None) or e}")
            return []
        return [done] if done else []

    def set_up_curated(self, config: Config, dirs: dict[str, str], warnings: list[str], *, dry_run: bool) -> int:
        """A curated tree: the install-user first (it owns the tree), then its dirs made (or made again) its alone;
        a team project dir is prepared as in a shared tree."""
        from uvshare.admin import curate

        if dry_run:
            self.say(
                "info",
                f"would make the curated dirs {', '.join(curate.tree_dirs(config).values())} the "
                f"install-user {config.install_user}'s alone",
            )
            return 0
        self.ensure_install_user(config, warnings)
        for warning in warnings:
            self.say("problem", warning)
        if warnings or os.geteuid() != 0:
            if os.geteuid() != 0:
                self.say("problem", f"only root sets up a curated tree: '{as_root('setup')}'")
            return 1
        status = curate.repair(self, config)
        status |= self.close_curated_prefixes(dirs)
        if PROJECT_KEY in dirs:
            preparer = Preparer(
                config.gid or 0, config.umask, group_label(config), warnings.append, acl=config.acl, take_back=True
            )
            for change in preparer.prepare({PROJECT_KEY: dirs[PROJECT_KEY]}):
                self.say("ok", change)
            for change in self.team_uv_toml(config, warnings):
                self.say("ok", change)
        if self.profile_asked():
            self.write_profiles(config)
        return 1 if status or warnings else 0

    def close_curated_prefixes(self, dirs: dict[str, str]) -> int:
        """The dirs above a curated tree, made root's alone where they hold nothing but its dirs (as for a shared
        tree: see close_prefixes); exit status."""
        warnings: list[str] = []
        for change in self.close_prefixes({k: p for k, p in dirs.items() if k != PROJECT_KEY}, warnings):
            self.say("ok", change)
        for warning in warnings:
            self.say("problem", warning)
        return 1 if warnings else 0

    def report_dry_run(self, changes: list[str], warnings: list[str]) -> int:
        """What a dry run found: the changes it would make, the problems it would leave; exit status."""
        for change in changes:
            self.say("info", change)
        for warning in warnings:
            self.say("problem", warning)
        self.say("info", "nothing was written or made (--dry-run)")
        return 1 if warnings else 0

    def close_prefixes(self, dirs: dict[str, str], warnings: list[str]) -> list[str]:
        """Make each dir above the shared dirs that members (or anyone) can write, and that holds nothing but shared
        dirs, root's alone (the caller's, for a tree of a user's own): a member could rename a shared dir in it and
        put a link in its place. One that holds anything else is the group's own (a project dir): doctor warns about
        it, nothing is changed."""
        import stat

        from uvshare.safefs import open_dir

        me = os.geteuid()  # (a user's own tree: the dir above it theirs alone, as root's is root's)
        changes = []
        for parent in sorted({os.path.dirname(p) for p in dirs.values()}):
            try:
                fd = open_dir(parent)
            except (OSError, UvshareError):
                continue  # missing, or refused: preparing the dirs said why
            try:
                st = os.fstat(fd)
                open_to_others = st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX
                if st.st_uid != me or not open_to_others or parent == "/":
                    continue
                with os.scandir(fd) as entries:
                    names = {e.name for e in entries}
                if not names <= {os.path.basename(p) for p in dirs.values() if os.path.dirname(p) == parent}:
                    continue
                mode = stat.S_IMODE(st.st_mode) & ~0o022 & ~stat.S_ISGID
                os.fchmod(fd, mode)
                changes.append(
                    f"made {parent} writable by {'root' if me == 0 else 'you'} alone (mode {mode:04o}): it holds only "
                    "shared dirs, which members could otherwise rename"
                )
            except OSError as e:
                warnings.append(f"cannot make {parent} root's alone: {e.strerror}")
            finally:
                os.close(fd)
        return changes

    def ensure_install_user(self, config: Config, warnings: list[str]) -> None:
        """Create the config's install-user (a system account in a group of its own, no home, no login) when missing;
        WARNINGS gets why it cannot be used, if it cannot."""
        from uvshare.runas import own_install_user

        name = config.install_user
        if name is None:
            warnings.append(
                f"{config.files[-1]}: no 'install-user': root's uv commands on the shared tree (python install, tool "
                f'install, …) are refused until it names one; add install-user = "{own_install_user(config)}" and run '
                f"'{as_root('setup')}', which creates the account"
            )
            return
        import pwd

        try:
            pwd.getpwnam(name)
        except KeyError:
            if os.geteuid() != 0:  # only root's commands need it: a note, not a problem
                self.say(
                    "warning",
                    f"there is no user '{name}' (the install-user): root's uv commands on the shared tree are refused "
                    f"until '{as_root('setup')}' creates it",
                )
                return
            from plumbum import local

            from uvshare.safefs import INSTALL_USER_MARK, SYSTEM_DIRS, system_program

            try:  # never the first useradd on root's PATH: a member's, where a shared bin dir is on it
                useradd = local[system_program("useradd")]
            except UvshareError as e:
                warnings.append(f"cannot create the install-user '{name}': {e}")
                return
            label = group_label(config)
            with local.env(PATH=os.pathsep.join(SYSTEM_DIRS)):  # and whatever it runs in turn comes from there too
                # A group of its own (--user-group) and no other: never group 0, nor the tree's group outside root's
                # runs, which give it the tree's group themselves (runas.become); the comment is root's record that
                # uvshare made it, for that group (safefs.INSTALL_USER_MARK), which `share teardown` reads.
                done = useradd.run(
                    [
                        *("--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"),
                        *("--user-group", "--comment", INSTALL_USER_MARK.format(config.gid), "--", name),
                    ],
                    retcode=None,
                )
            if done[0] != 0:
                warnings.append(f"cannot create the install-user '{name}': {done[2].strip() or done[1].strip()}")
                return
            self.made_account = name
            self.say(
                "ok",
                f"created the account {name} (in a group of its own; root's uv commands on the shared tree run as it, "
                f"with group {label})",
            )
        from uvshare.runas import install_account

        try:
            install_account(config)
            if os.geteuid() == 0:
                for change in deny_scheduling(name):
                    self.say("ok", change)
        except UvshareError as e:
            warnings.append(str(e))

    def write_profiles(self, config: Config) -> None:
        """Write the login profiles (all of them worked out, and the files they go into read, before any is written),
        and print the lines that give images and JupyterHub the same environment."""
        env, warning = login_env(config)
        if warning is not None:
            self.say("warning", warning)
        if not env.bin_dirs and env.config is None:
            self.say("warning", "no python-bin-dir or tool-bin-dir configured: no profile written")
            return
        chosen, notes = self.profile_targets()
        texts = [(target, *render(target, env)) for target in chosen]
        for target, text, mode in texts:
            changed = write(target, text, mode)
            what = f"uvshare's block in {target.path}" if target.block else target.path
            self.say("ok", f"{'wrote' if changed else 'unchanged:'} {what} ({target.shells})")
        gets = [f"{', '.join(env.bin_dirs)} on PATH"] if env.bin_dirs else []
        if env.trees:
            gets = [f"the bin dirs of their tree on PATH, if they are in one tree's group ({len(env.trees)} trees)"]
        elif env.config is not None:
            gets.append(f"UVSHARE_CONFIG={env.config} (the config is not where uvshare looks by default)")
        self.note(f"login shells of everyone but root get {' and '.join(gets)}")
        for note in notes:
            self.say("info", note)
        after_user = "after USER, so root's steps never have it"  # (members can write the bin dirs)
        self.note(f"for a Dockerfile (which runs no profile), {after_user}: {dockerfile_line(env)}")
        self.note(f"for JupyterHub (spawners run no profile), in jupyterhub_config.py: {jupyterhub_line(env)}")

    def remove_profiles(self) -> int:
        """Remove what --profile wrote, from the same files; exit status 1 when a file there is not uvshare's."""
        chosen, _ = self.profile_targets()
        status = 0
        for target in chosen:
            removed = remove(target)
            if removed is None:
                self.say(
                    "warning", f"left {target.path} alone: uvshare did not write it (it does not start with '{MARK}')"
                )
                status = 1
            elif removed:
                self.say("ok", f"removed {BLOCK_OF if target.block else ''}{target.path}")
            else:
                self.say("ok", f"nothing to remove in {target.path}" if target.block else f"no {target.path}")
        return status


def make_copied_trees_group() -> list[str]:
    """(Root) The config's group, made when the group database has no such name but the shared dirs are there, all
    root's and of one gid: the final stage of a multi-stage image build copies the tree and its config, not
    /etc/group. The group gets that gid (only root can have given root's dirs their group, and put them where no
    one else could have: see placed_by_root), so the copied tree is its as it was; what was done. UvshareError when
    that gid is another group's."""
    import grp
    import stat

    from uvshare.config import DIR_KEYS, config_paths, read_file

    values: dict[str, object] = {}
    for file in config_paths(os.environ):
        values.update(read_file(file) or {})
    name = values.get("group")
    if not isinstance(name, str) or not name or name.isdigit():
        return []
    try:
        grp.getgrnam(name)
        return []
    except KeyError:
        pass
    gids: dict[int, list[str]] = {}
    for key in DIR_KEYS:
        path = values.get(key)
        if not isinstance(path, str):
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and placed_by_root(path):
            gids.setdefault(st.st_gid, []).append(path)
    if len(gids) != 1:
        return []  # none there (a new tree: the config's error says to create the group), or no one answer
    ((gid, paths),) = gids.items()
    try:
        other = grp.getgrgid(gid).gr_name
    except KeyError:
        pass
    else:
        raise UvshareError(
            f"the config names group '{name}', which does not exist here, and the shared dirs ({', '.join(paths)}) "
            f"belong to gid {gid}, which is group '{other}' here: copy the tree into an image whose gid {gid} is free "
            f"(then '{as_root('setup')}' makes '{name}' with it), or set group = \"{other}\" if that is the group"
        )
    from plumbum import local

    from uvshare.safefs import SYSTEM_DIRS, system_program

    groupadd = local[system_program("groupadd")]  # never the first groupadd on root's PATH (see ensure_install_user)
    with local.env(PATH=os.pathsep.join(SYSTEM_DIRS)):
        done = groupadd.run(["--gid", str(gid), "--", name], retcode=None)
    if done[0] != 0:
        raise UvshareError(f"cannot create the group '{name}' (gid {gid}): {done[2].strip() or done[1].strip()}")
    return [f"created the group {name} with gid {gid}, the group of the shared dirs copied here ({', '.join(paths)})"]


def placed_by_root(path: str) -> bool:
    """Whether only root can have put the dir PATH where it is: no symlink on its way and no dir above it that others
    can write (there a member could have linked or renamed in a root dir of any gid: the group would get their gid)."""
    from uvshare.places import open_above

    return os.path.realpath(path) == os.path.normpath(path) and not open_above([path])


def uncovered_line(paths: list[str], umask: int) -> tuple[str, str]:
    """What setup says, in one line, of the shared dirs PATHS that hold entries made before they had a default ACL.
    On overlay they are an image's, whose layers drop ACLs (a multi-stage build's final stage copies the tree in):
    nothing is to be done. Elsewhere `share repair` gives them their ACLs."""
    from uvshare.admin import mounts

    all_mounts = mounts.read_mounts()
    found = [mounts.mount_of(path, all_mounts) for path in paths]
    if all(mount is not None and mount.fstype == "overlay" for mount in found):
        return "info", image_acls_note(umask)
    return (
        "warning",
        f"{', '.join(paths)} hold entries made before they had a default ACL: run '{as_root('repair')}' to give them "
        "one (until then uvshare applies the umask on uv calls)",
    )


def probe_link_mode(config: Config) -> list[str]:
    """(Root) Record what link mode members get on the cache's filesystem (see uvshare.admin.linkmode): the line
    saying so, when it changed."""
    from uvshare.admin.linkmode import record

    link = record(config)
    return [] if link is None else [link]
