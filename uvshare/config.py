"""Find and read uvshare's config files, in one fixed order, into a frozen `Config`.

On the every-call path: it imports only `os`/`sys` up front; the TOML reader is imported only when a config file
exists, and platformdirs only off Linux (the XDG rules are computed here; a unit test keeps them equal).
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from uvshare.errors import ConfigError

ENV_CONFIG = "UVSHARE_CONFIG"
SYSTEM_CONFIG = "/etc/uvshare/config.toml"
# One config per tree, for a site with several (see uvshare.trees, imported only where this dir exists)
TREES_DIR, ENV_TREES = "/etc/uvshare/trees", "UVSHARE_TREES_DIR"
APP = "uvshare"

# Each dir key sets one uv variable; a variable already set in the environment wins (uv's own rule: env over file).
DIR_KEYS = {
    "python-install-dir": "UV_PYTHON_INSTALL_DIR",
    "python-bin-dir": "UV_PYTHON_BIN_DIR",
    "python-cache-dir": "UV_PYTHON_CACHE_DIR",
    "tool-dir": "UV_TOOL_DIR",
    "tool-bin-dir": "UV_TOOL_BIN_DIR",
    "cache-dir": "UV_CACHE_DIR",
}
# A team's project dir (or the parent of several): uvshare shares what members make there (`.venv`, `uv.lock`) as it
# shares the tree; no uv variable names it.
PROJECT_KEY = "project-dir"
KEYS = (
    "group",
    "umask",
    "acl",
    "uv",
    "uvx",
    "install-user",
    "kind",
    "link-mode",
    *DIR_KEYS,
    PROJECT_KEY,
    "skip-installed",
)
# What members may do with the tree: `shared`, every member installs into it (and so can change what others run);
# `curated`, only root's commands on it (run as the install-user) write it, and everyone else runs it, beside their own.
KINDS = ("shared", "curated")
# How uv puts files into venvs. Never hard links by default: a venv's file would share its inode with the shared
# cache's, which every member can write, so one member could change what another member's own venv runs. `clone`
# (reflinks: the cache's blocks, an inode of its own, copy-on-write) where root's `share setup` proved a reflink works
# on the cache's filesystem (see recorded_link_mode), `copy` elsewhere: uv's `clone` falls back to hard links where a
# reflink fails (astral-sh/uv#18104), silently.
LINK_MODES = ("copy", "clone", "hardlink", "symlink")
DEFAULT_LINK_MODE = "copy"
# The answer of root's reflink probe, beside the config file that names the cache: `clone <st_dev> <cache path>`, or
# `copy - <cache path>`.
LINK_STATE_SUFFIX = ".link-mode"
DEFAULT_UMASK = 0o002
MAX_GID = 2**32 - 2  # (2**32 - 1 is the kernel's "no gid")
# Dirs that must never be a shared dir: uvshare would make them group-owned, group-writable and setgid, handing the
# system (or root's PATH) to the group.
SYSTEM_DIRS = frozenset(
    # (one string, split: shorter to read than 35 quoted paths)
    "/ /bin /sbin /lib /lib32 /lib64 /libx32 /usr /usr/bin /usr/sbin /usr/lib /usr/lib64 /usr/libexec /usr/share "  # noqa: SIM905
    "/usr/local /usr/local/bin /usr/local/sbin /usr/local/lib /usr/local/share /etc /var /var/lib /var/tmp /tmp "
    "/boot /dev /proc /sys /run /root /home /opt /srv /mnt /media".split()
)


def normal_path(path: str) -> str:
    """PATH without `.`, `..`, doubled or trailing slashes, and with one leading slash: `//usr/local/bin` (which
    normpath keeps, POSIX allowing `//` a meaning of its own; Linux gives it none) is `/usr/local/bin`."""
    path = os.path.normpath(path)
    return "/" + path.lstrip("/") if path.startswith("//") else path


def resolved(path: str) -> str:
    """PATH with every symlink and `..` resolved, as the kernel does (an O_PATH open: three syscalls, where
    os.path.realpath takes one per component); normal_path(PATH) when it does not exist."""
    o_path = getattr(os, "O_PATH", 0)
    if not o_path:  # not Linux
        return os.path.realpath(path)
    try:
        fd = os.open(path or ".", o_path | os.O_CLOEXEC)
    except (OSError, ValueError):
        return normal_path(path) if path.startswith("/") else path
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
    finally:
        os.close(fd)


def tree_tops(dirs: "Iterable[str]") -> "frozenset[str]":
    """The shared DIRS as written and as resolved: what in_tree compares with."""
    return frozenset({*dirs, *(resolved(d) for d in dirs)})


def in_tree(path: str, tops: "frozenset[str]") -> bool:
    """Whether PATH is one of the dirs TOPS (see tree_tops) or below one, as written or as resolved (a symlink,
    `..`, relative to the current dir)."""
    spellings = {normal_path(path) if path.startswith("/") else path, resolved(path)}
    return any(here == top or here.startswith(top + "/") for here in spellings for top in tops)


def is_system_dir(path: str) -> bool:
    """Whether PATH, however spelled (`//etc`, `/usr/./bin/`, a symlink to one), is a system dir."""
    return normal_path(path) in SYSTEM_DIRS or resolved(path) in SYSTEM_DIRS


def membership(gid: int) -> str:
    """`root`, `member` (the group is active in this process) or `outsider`."""
    if os.geteuid() == 0:
        return "root"
    if gid == os.getegid() or gid in os.getgroups():
        return "member"
    return "outsider"


def config_error(text: str) -> "ConfigError":
    """A ConfigError. uvshare.errors is imported only when there is an error: each module costs a call ~0.3 ms."""
    from uvshare.errors import ConfigError

    return ConfigError(text)


class Config:
    """The effective config: every key resolved, with the file each one came from."""

    __slots__ = (
        "acl",
        "dirs",
        "files",
        "gid",
        "group",
        "install_user",
        "kind",
        "link_mode",
        "origins",
        "project_dir",
        "skip_installed",
        "umask",
        "uv",
        "uvx",
    )

    group: "str | None"  # as written in the file: a name, or a gid as text
    gid: "int | None"
    umask: int
    acl: bool  # give shared dirs default ACLs, and leave the caller's umask alone where they have them
    uv: "str | None"
    uvx: "str | None"
    install_user: "str | None"  # the member account root's uv runs as on the shared tree: a name, or a uid as text
    kind: str  # one of KINDS
    link_mode: "str | None"  # as set in a file; None when not set
    dirs: dict[str, str]  # dir key -> absolute path, configured dirs only
    project_dir: "str | None"  # the team project dir (PROJECT_KEY)
    skip_installed: bool
    origins: dict[str, str]  # key -> the file that set it (keys left out come from defaults)
    files: tuple[str, ...]  # the files read, in order

    def __init__(self, values: "Mapping[str, object]", origins: dict[str, str], files: tuple[str, ...]) -> None:
        setter = object.__setattr__
        group = values.get("group")
        setter(self, "group", None if group is None else str(group))
        setter(self, "gid", _resolve_group(group, origins.get("group", "")) if group is not None else None)
        umask = values.get("umask")
        setter(self, "umask", DEFAULT_UMASK if umask is None else _parse_umask(umask, origins["umask"]))
        setter(self, "acl", values.get("acl", True))
        setter(self, "uv", values.get("uv"))
        setter(self, "uvx", values.get("uvx"))
        install_user = values.get("install-user")
        setter(self, "install_user", None if install_user is None else str(install_user))
        # (None: chosen from what the cache's filesystem does, see members_link_mode)
        link_mode = values.get("link-mode")
        setter(self, "link_mode", None if link_mode is None else str(link_mode))
        setter(self, "kind", values.get("kind", KINDS[0]))
        setter(self, "dirs", {key: normal_path(str(values[key])) for key in DIR_KEYS if key in values})
        project = values.get(PROJECT_KEY)
        setter(self, "project_dir", None if project is None else normal_path(str(project)))
        setter(self, "skip_installed", values.get("skip-installed", True))
        setter(self, "origins", origins)
        setter(self, "files", files)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Config is frozen; cannot set {name}")


def link_state_path(config: Config) -> "str | None":
    """Where root's `share setup` records whether reflinks work on the cache's filesystem: beside the config file that
    names the cache (a root-owned dir, as that file is); None without a cache-dir."""
    origin = config.origins.get("cache-dir")
    return None if origin is None else origin + LINK_STATE_SUFFIX


def recorded_link_mode(config: Config) -> "tuple[str, str]":
    """The link mode root recorded for CONFIG's cache, and why it counts; (DEFAULT_LINK_MODE, why not) otherwise.

    Not a file in the cache, nor anything a member could write: a planted "reflinks work" on ext4 would give every
    member uv's fallback, hard links to the group-writable cache. Only a regular file of root's that nobody else can
    write counts, and only for the same cache path on the same filesystem (st_dev) it was probed on. A few system
    calls, on the calls that give a member the cache and no link mode (a probe would write to disk on every call).
    """
    path, cache = link_state_path(config), config.dirs.get("cache-dir")
    if path is None or cache is None:
        return DEFAULT_LINK_MODE, "no cache-dir"
    words = _read_link_state(path)
    if isinstance(words, str):
        return DEFAULT_LINK_MODE, words
    if len(words) != 3 or words[2].rstrip("\n") != cache:
        return DEFAULT_LINK_MODE, f"{path} was probed for another cache (root's 'share setup' probes again)"
    if words[0] != "clone":
        return DEFAULT_LINK_MODE, f"root's probe: no reflinks on the filesystem of {cache} (uv's clone would hard-link)"
    try:
        same = int(words[1]) == os.stat(cache).st_dev
    except (OSError, ValueError):
        same = False
    if not same:
        return DEFAULT_LINK_MODE, f"{path} was probed on another filesystem (root's 'share setup' probes again)"
    return "clone", f"root's probe: a reflink works on the filesystem of {cache} ({path})"


def _read_link_state(path: str) -> "list[str] | str":
    """The words of root's record at PATH (see recorded_link_mode), or why there are none that count."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return f"no reflink probe recorded ({path}: root's 'share setup' makes it)"
    try:
        st = os.fstat(fd)
        import stat

        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            return f"{path} is not root's alone: ignored"
        return os.read(fd, 4096).decode("utf-8", "replace").split(" ", 2)
    except OSError:
        return f"{path} cannot be read"
    finally:
        os.close(fd)


def members_link_mode(config: Config) -> "tuple[str, str]":
    """UV_LINK_MODE for a member given CONFIG's cache (and for root's commands on the tree), and why: the config's
    link-mode, else what root recorded (see recorded_link_mode). (UV_LINK_MODE in the environment wins over both.)"""
    if config.link_mode is not None:
        return config.link_mode, f"link-mode in {config.origins.get('link-mode', 'the config')}"
    return recorded_link_mode(config)


def site_config_dirs(environ: "Mapping[str, str]") -> list[str]:
    """platformdirs' site config dirs for uvshare, most important first (XDG_CONFIG_DIRS order)."""
    if not sys.platform.startswith("linux"):
        import platformdirs

        return platformdirs.site_config_dir(APP, multipath=True).split(os.pathsep)
    dirs = [d for d in environ.get("XDG_CONFIG_DIRS", "").split(os.pathsep) if d.startswith("/")]
    return [os.path.join(d, APP) for d in dirs or ["/etc/xdg"]]


def user_config_dir(environ: "Mapping[str, str]") -> "str | None":
    """platformdirs' user config dir for uvshare, or None when the user has no home to put it in."""
    if not sys.platform.startswith("linux"):
        import platformdirs

        try:
            return platformdirs.user_config_dir(APP)
        except RuntimeError:
            return None
    base = environ.get("XDG_CONFIG_HOME", "")
    if not base.startswith("/"):
        home = environ.get("HOME")
        if home is None or not home.startswith("/"):  # like platformdirs: a relative HOME counts as unset
            try:
                import pwd

                home = pwd.getpwuid(os.getuid()).pw_dir
            except (ImportError, KeyError):
                return None
        base = os.path.join(home, ".config")
    return os.path.join(base, APP)


def config_paths(environ: "Mapping[str, str]") -> list[str]:
    """The config files uvshare reads, in order: later ones override earlier ones key by key."""
    explicit = environ.get(ENV_CONFIG)
    if explicit:
        return [explicit]
    # XDG: the first dir of XDG_CONFIG_DIRS matters most, so it is read last.
    paths = [SYSTEM_CONFIG, *(os.path.join(d, "config.toml") for d in reversed(site_config_dirs(environ)))]
    user = user_config_dir(environ)
    if user is not None:
        paths.append(os.path.join(user, "config.toml"))
    return list(dict.fromkeys(paths))


def default_config_paths() -> list[str]:
    """The config files every login reads without UVSHARE_CONFIG, a user's own aside: /etc/uvshare/config.toml and
    the XDG site dir of an environment that sets no XDG_CONFIG_DIRS (what other users have cannot be known here)."""
    return list(dict.fromkeys([SYSTEM_CONFIG, *(os.path.join(d, "config.toml") for d in site_config_dirs({}))]))


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few lines; anything bigger is not one


def read_file(path: str) -> "dict[str, object] | None":
    """The TOML table in PATH, or None when there is no such file."""
    data = read_bytes(path)
    if data is None:
        return None
    text = data.decode("utf-8", "surrogateescape")
    simple = parse_simple(text)
    if simple is not None:
        return simple
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]  # (a dependency before 3.11 only)
    try:
        table: dict[str, object] = tomllib.loads(data.decode("utf-8"))
        return table
    except UnicodeDecodeError:
        raise config_error(f"{path}: invalid TOML: the file is not UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise config_error(f"{path}: invalid TOML: {e}") from None


def read_bytes(path: str) -> "bytes | None":
    """The content of the config file PATH, or None when there is none.

    As root, the file is trusted first (only root may have written it or the dirs above it), and never read
    otherwise; for anyone it must be a regular file, opened without blocking (a FIFO there must not hang us) and
    read only up to a small size (a device there must not fill memory).
    """
    if not os.path.lexists(path):
        return None
    if os.path.isdir(path):  # (a stat, nothing opened) what it is comes before who could have written it
        raise config_error(f"{path}: is a directory, not a config file")
    if os.geteuid() == 0:
        refuse_untrusted(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise config_error(f"{path}: cannot read the config file: {e.strerror}") from None
    try:
        import stat

        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise config_error(f"{path}: is a directory, not a config file")
        if not stat.S_ISREG(st.st_mode):
            raise config_error(f"{path}: is not a regular file; a config file must be one")
        data = os.read(fd, min(st.st_size, MAX_CONFIG_BYTES) + 1)  # its size: no 1 MiB buffer on every call
        while len(data) <= MAX_CONFIG_BYTES:
            more = os.read(fd, MAX_CONFIG_BYTES + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as e:
        raise config_error(f"{path}: cannot read the config file: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise config_error(f"{path}: is bigger than {MAX_CONFIG_BYTES} bytes, which no uvshare config is")
    return data


def refuse_untrusted(path: str) -> None:
    """As root: ConfigError unless only root could have written the config file PATH (what root reads decides what
    it creates and chmods), naming the path at fault and a fix that is right to follow."""
    from uvshare.safefs import root_may_trust, trust_fix

    reason = root_may_trust(path)
    if reason is not None:
        raise config_error(
            f"{path}: root will not read a config file others could have written: {reason}; "
            + trust_fix(reason, "the config file", path, SYSTEM_CONFIG)
        )


BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def parse_simple(text: str) -> "dict[str, object] | None":
    """Parse TEXT when it is nothing but `key = value` lines with plain strings, integers and booleans.

    None when it holds anything else (tables, escapes, dotted or quoted keys, odd whitespace, errors): then the full
    TOML parser decides. Importing that parser costs more than everything else uvshare does on a call, and uvshare's
    own config never needs more than this; a differential test keeps the two in agreement.
    """
    text = text.replace("\r\n", "\n")
    if "\r" in text or not text.replace("\n", "").replace("\t", "").isprintable():
        return None
    table: dict[str, object] = {}
    for raw in text.split("\n"):
        line = raw.strip(" \t")
        if not line or line[0] == "#":
            continue
        key, sep, rest = line.partition("=")
        key = key.rstrip(" \t")
        if not sep or not key or not BARE_KEY.issuperset(key) or key in table:
            return None
        parsed = _simple_value(rest.lstrip(" \t"))
        if parsed is None:
            return None
        value, tail = parsed
        tail = tail.lstrip(" \t")
        if tail and tail[0] != "#":
            return None
        table[key] = value
    return table


def _simple_value(text: str) -> "tuple[object, str] | None":
    """The plain value at the start of TEXT and what follows it, or None."""
    quote = text[:1]
    if quote in ('"', "'"):
        end = text.find(quote, 1)
        if end < 0 or text[1:end].count("\\") or text.startswith(quote * 3):
            return None
        return text[1:end], text[end + 1 :]
    word = text.split("#", 1)[0].rstrip(" \t")
    if " " in word or "\t" in word:
        return None
    rest = text[len(word) :]
    if word in ("true", "false"):
        return word == "true", rest
    digits = word[1:] if word[:1] in "+-" else word
    if digits.isdigit() and digits.isascii() and (digits == "0" or digits[0] != "0"):
        return int(word), rest
    return None


def load(environ: "Mapping[str, str]") -> "Config | None":
    """Read every config file in order and resolve them into one Config; None when there is none at all."""
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    files: list[str] = []
    explicit = bool(environ.get(ENV_CONFIG))
    for path in config_paths(environ):
        table = read_file(path)
        if table is None:
            if explicit:
                raise config_error(f"{path}: no such file (named by {ENV_CONFIG}); create it or unset {ENV_CONFIG}")
            continue
        files.append(path)
        for key, value in table.items():
            check_value(path, key, value)
            values[key] = value
            origins[key] = path
    if not files:
        return None
    config = Config(values, origins, tuple(files))
    if config.project_dir is not None:
        check_project_dir(config)
    for key in ("uv", "uvx"):
        configured = getattr(config, key)
        if configured is not None:
            check_uv(configured, f"{origins[key]}: key '{key}'", key)
    return config


def check_value(path: str, key: str, value: object) -> None:  # noqa: PLR0912  # one rule per key reads best
    """Refuse an unknown key or a value of the wrong type, naming the file and the key."""
    where = f"{path}: key '{key}'"
    if key not in KEYS:
        import difflib

        near = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.5)
        hint = f"did you mean '{near[0]}'?" if near else f"the keys are: {', '.join(KEYS)}"
        raise config_error(f"{path}: unknown key '{key}'; {hint}")
    if key in ("link-mode", "install-user"):
        _check_word(where, key, value)
    elif key == "kind":
        if value not in KINDS:
            raise config_error(
                f'{where} must be "shared" (members install into the tree) or "curated" (only root installs, '
                f"everyone runs), not {value!r}"
            )
    elif key in ("skip-installed", "acl"):
        if not isinstance(value, bool):
            raise config_error(f"{where} must be true or false, not {value!r}")
    elif key == "group":
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() in ("", "-"):
            raise config_error(f"{where} must be a group name or a numeric gid, not {value!r}")
        if (isinstance(value, int) or (value.isascii() and value.isdigit())) and not 0 <= int(value) <= MAX_GID:
            raise config_error(f"{where} must be a gid from 0 to {MAX_GID}, not {value}")
        if isinstance(value, str) and not value.isprintable():
            raise config_error(f"{where} must be a group name without control characters, not {value!r}")
    elif not isinstance(value, str):
        example = '"0002"' if key == "umask" else '"/opt/uv/python"'
        raise config_error(f"{where} must be a string like {example}, not {value!r}")
    elif key != "umask" and not value.startswith("/"):
        raise config_error(f"{where} must be an absolute path, not {value!r}")
    elif key != "umask" and not value.isprintable():
        raise config_error(f"{where} must be a path without control characters (a NUL, a newline…), not {value!r}")
    elif (key in DIR_KEYS or key == PROJECT_KEY) and is_system_dir(value):
        raise config_error(
            f"{where} is {value}, a system dir: uvshare would make it group-writable; give the shared dirs dirs of "
            "their own (e.g. /opt/uv/python)"
        )


def check_project_dir(config: Config) -> None:
    """Refuse a project dir that holds a shared dir or lies inside one: members could rename a shared dir in a
    project dir they can write, and what uv keeps in the tree is no team's project."""
    project = config.project_dir or ""
    for key, path in config.dirs.items():
        inside = project == path or project.startswith(path.rstrip("/") + "/")
        if inside or path.startswith(project.rstrip("/") + "/"):
            where = f"lies inside the shared dir {path} ({key})" if inside else f"holds the shared dir {path} ({key})"
            raise config_error(
                f"{config.origins[PROJECT_KEY]}: key '{PROJECT_KEY}' is {project}, which {where}; give team projects a "
                "dir of their own beside the shared tree (e.g. /proj/a/work beside /proj/a/uv)"
            )


def _check_word(where: str, key: str, value: object) -> None:
    """Refuse a link-mode uv does not know, or an install-user that cannot be one."""
    if key == "link-mode":
        if value not in LINK_MODES:
            raise config_error(f"{where} must be one of {', '.join(repr(m) for m in LINK_MODES)}, not {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() in ("", "0", "root"):
        raise config_error(
            f"{where} must name the member account root's uv runs as on the shared tree (not root), "
            f'e.g. install-user = "uvshare-install", not {value!r}'
        )
    if isinstance(value, str) and (not value.isprintable() or value.startswith("-")):
        raise config_error(f"{where} must be a user name (no control characters, no leading '-'), not {value!r}")


def _parse_umask(value: object, origin: str) -> int:
    where = f"{origin}: key 'umask'"
    text = str(value)
    if not (1 <= len(text) <= 4 and all(c in "01234567" for c in text)):
        raise config_error(f'{where} must be octal digits like "0002", not {text!r}')
    umask = int(text, 8)
    if not umask & 0o002:
        raise config_error(f'{where} is {text!r}, which leaves new files world-writable; use "0002" or "0007"')
    if umask & 0o060:
        raise config_error(
            f"{where} is {text!r}, which takes group read/write off new files, so group members could not share "
            'them; use "0002" or "0007"'
        )
    return umask


def _resolve_group(group: object, origin: str) -> int:
    if isinstance(group, int):
        return group  # a numeric gid need not be in the group database (images that run arbitrary uids in gid 0)
    import grp

    try:
        return grp.getgrnam(str(group)).gr_gid
    except KeyError:
        if str(group).isascii() and str(group).isdigit():
            return int(str(group))
        raise config_error(
            f"{origin}: key 'group': unknown group '{group}'; create it (groupadd {group}) or name an existing group"
        ) from None


def check_uv(path: str, where: str, program: str = "uv") -> None:
    """Refuse a uv (or uvx) path that is missing, a directory or not executable, naming where it was set."""
    if os.path.isdir(path):
        raise config_error(
            f"{where}: {path} is a directory, not the {program} binary; give the binary's own path "
            f"(e.g. {os.path.join(path, program)}; see 'which -a {program}')"
        )
    if not os.path.isfile(path):
        raise config_error(
            f"{where}: {path} does not exist; point it at the real {program} binary (see 'which -a {program}')"
        )
    if not os.access(path, os.X_OK):
        raise config_error(f"{where}: {path} is not executable; chmod +x it or point it at the real {program} binary")
