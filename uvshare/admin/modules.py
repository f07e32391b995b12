"""`share module`: modulefiles that choose a shared tree — Lua for Lmod, Tcl for Environment Modules.

A module is how a user of an HPC site picks a software stack, and how a user in several project groups picks the tree
of the project at hand: `module load uvshare/proja`. It sets UVSHARE_CONFIG to that tree's config (unloading gives
back the value from before: see RESTORE_NOTE) and appends the tree's bin dirs to PATH, for everybody but root. Modules
of the family "uvshare" exclude each other: loading another tree's module switches to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from plumbum import cli

from uvshare.admin.common import Command, group_label, load_group_config
from uvshare.admin.files import check_target, write_atomically
from uvshare.config import ENV_CONFIG, Config
from uvshare.errors import UvshareError, admin

BIN_KEYS = ("python-bin-dir", "tool-bin-dir")
FAMILY = "uvshare"
WRITTEN_BY = "Written by `uvshare share module`"
MAX_MODULEFILE = 1 << 16  # what doctor reads of a loaded modulefile: share module's are a few lines


# What unloading does to UVSHARE_CONFIG, in both systems: it gets back the value it had before the load (unset if it
# was unset or empty), unless it was changed while the module was loaded: then the user's latest choice stays.
RESTORE_NOTE = (
    "-- uvshare (and uv run through it) reads this tree's config. Unloading gives UVSHARE_CONFIG back the value it had",
    "-- before loading (unset if it was unset or empty), unless it was changed while loaded: then that value stays.",
)
BEFORE = "__UVSHARE_CONFIG_BEFORE"  # (Tcl) the value before the load
# Lmod keeps pushenv's stack in base64 (its own, URL-safe alphabet), and its decoder (8.6) mangles the third byte of
# each group of four from 0xC0 up (every UTF-8 lead byte): one byte per group ("XY==") comes back exactly. (Lua has no
# base64 of its own; written for Lua 5.1 to 5.4.)
LUA_STACKED = (
    "local function uvshare_stacked(text)",
    '    local digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"',
    "    local out = {}",
    "    for i = 1, #text do",
    "        local byte = text:byte(i)",
    "        local high, low = math.floor(byte / 4) + 1, byte % 4 * 16 + 1",
    '        out[#out + 1] = digits:sub(high, high) .. digits:sub(low, low) .. "=="',
    "    end",
    "    return table.concat(out)",
    "end",
)


def lua_string(text: str) -> str:
    """TEXT as a Lua string literal: double-quoted, with the backslash and the quote escaped (nothing else has a
    meaning there; TEXT has no control characters, see module_values)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tcl_word(text: str) -> str:
    """TEXT as one Tcl word: double-quoted, with every character that means something there escaped (`\\`, `"`, `$`
    and `[` substitute; braces are escaped too, so the word stays whole inside a braced body such as an if's)."""
    return '"' + "".join("\\" + c if c in '\\"$[]{}' else c for c in text) + '"'


def module_values(config: Config, config_file: str) -> tuple[str, list[str], str]:
    """The config file a module names (absolute), the bin dirs it puts on PATH, and the group's name; UvshareError
    for what no modulefile can say: a path with a control character, a bin dir with ':' (PATH's separator)."""
    config_file = os.path.abspath(config_file)
    bins = [config.dirs[key] for key in BIN_KEYS if key in config.dirs]
    for path in (config_file, *bins):
        if not path.isprintable():
            raise UvshareError(f"{path!r} has a control character, which no modulefile should carry; rename it")
    for key, path in zip(BIN_KEYS, bins):
        if ":" in path:
            raise UvshareError(
                f"{config.origins.get(key, config_file)}: key '{key}' is {path}, which has a ':': PATH cannot hold "
                "it (':' separates its entries); choose a dir without one"
            )
    return config_file, bins, group_label(config)


def describe(group: str, config_file: str) -> str:
    """The module's one-line description."""
    return f"uv's shared Pythons and tools of group {group} (uvshare config {config_file})"


def root_note(bins: list[str]) -> str:
    """What root is told when it loads the module."""
    return (
        f"as root, {' and '.join(bins) or 'no bin dir'} are not put on PATH: members can write them; "
        "uvshare's commands use this tree's config"
    )


def lua_text(config_file: str, bins: list[str], group: str) -> str:
    """The Lmod modulefile (Lua) for the tree whose config is CONFIG_FILE, with bin dirs BINS, of GROUP."""
    lines = [
        f"-- {WRITTEN_BY} for a shared uv tree; run it again after changing the config (it rewrites this file).",
        f"whatis({lua_string('Description: ' + describe(group, config_file))})",
        f"help({lua_string(describe(group, config_file) + '. Loading another uvshare module switches trees.')})",
        "",
        f"-- One tree at a time: loading another module of the family {FAMILY} swaps it in for this one.",
        f'family("{FAMILY}")',
        *RESTORE_NOTE,
        "-- (Lmod's pushenv alone restores a stale value after a second cycle: its stack is seeded here, at each load,",
        "-- from the value now, and emptied at unload.)",
        *LUA_STACKED,
        f"local uvshare_config = {lua_string(config_file)}",
        'local stack = "__LMOD_STACK_UVSHARE_CONFIG"',
        'if mode() == "load" then',
        '    local before = os.getenv("UVSHARE_CONFIG")',
        '    setenv(stack, (before and before ~= "") and uvshare_stacked(before) or "false")',
        "end",
        'if mode() ~= "unload" or os.getenv("UVSHARE_CONFIG") == uvshare_config then',
        '    pushenv("UVSHARE_CONFIG", uvshare_config)',
        "end",
        'if mode() == "unload" then',
        '    setenv(stack, "")  -- (at unload: unset)',
        "end",
        "",
        "-- Never on root's PATH: members can write these dirs, and root must not run what they put there. (luaposix,",
        "-- which Lmod itself runs on, gives the effective uid without starting a process.)",
        'local posix = require("posix")',
        "if (posix.geteuid or posix.unistd.geteuid)() == 0 then",
        '    if mode() == "load" then',
        f"        LmodMessage(myModuleFullName() .. {lua_string(': ' + root_note(bins))})",
        "    end",
        "else",
        *(f'    append_path("PATH", {lua_string(path)})' for path in bins),
        "end",
        "",
    ]
    return "\n".join(lines)


def tcl_text(config_file: str, bins: list[str], group: str) -> str:
    """The Environment Modules modulefile (Tcl) for the tree whose config is CONFIG_FILE, with bin dirs BINS, of
    GROUP."""
    help_text = describe(group, config_file) + ". Loading another uvshare module switches trees."
    lines = [
        "#%Module1.0",
        f"# {WRITTEN_BY} for a shared uv tree; run it again after changing the config (it rewrites this file).",
        f"module-whatis {tcl_word(describe(group, config_file))}",
        "proc ModulesHelp {} {",
        f"    puts stderr {tcl_word(help_text)}",
        "}",
        "",
        f"# One tree at a time: loading another module of the family {FAMILY} switches to it (this unloads the one",
        "# loaded; family, from Environment Modules 5.1 on, or else a conflict keeps two from being loaded at once).",
        f"if {{[module-info mode load] && [is-loaded {FAMILY}]}} {{",
        f"    module unload {FAMILY}",
        "}",
        "if {[info commands family] ne {}} {",
        f"    family {FAMILY}",
        "} else {",
        f"    conflict {FAMILY}",
        "}",
        *(line.replace("--", "#", 1) for line in RESTORE_NOTE),
        f"set uvshare_config {tcl_word(config_file)}",
        "if {[module-info mode load]} {",
        "    if {[info exists env(UVSHARE_CONFIG)] && $env(UVSHARE_CONFIG) ne {}} {",
        f"        setenv {BEFORE} $env(UVSHARE_CONFIG)",
        "    } else {",
        f"        unsetenv {BEFORE}",
        "    }",
        "    setenv UVSHARE_CONFIG $uvshare_config",
        "} elseif {[module-info mode unload]} {",
        "    if {[info exists env(UVSHARE_CONFIG)] && $env(UVSHARE_CONFIG) eq $uvshare_config} {",
        f"        if {{[info exists env({BEFORE})]}} {{",
        f"            unsetenv UVSHARE_CONFIG $env({BEFORE})",
        "        } else {",
        "            unsetenv --unset-on-unload UVSHARE_CONFIG",
        "        }",
        "    }",
        f"    setenv {BEFORE} {{}}",
        "} else {",
        "    setenv UVSHARE_CONFIG $uvshare_config",
        "}",
        "",
        "# Never on root's PATH: members can write these dirs, and root must not run what they put there. (The",
        "# effective uid from the kernel: Tcl has no geteuid, and reading /proc starts no process.)",
        "set uvshare_euid {}",
        "if {![catch {open /proc/self/status} uvshare_fd]} {",
        "    regexp {\\nUid:\\s+\\d+\\s+(\\d+)} [read $uvshare_fd] -> uvshare_euid",
        "    close $uvshare_fd",
        "}",
        "if {$uvshare_euid eq {}} {",
        "    set uvshare_euid [exec id -u]",
        "}",
        "if {$uvshare_euid == 0} {",
        "    if {[module-info mode load]} {",
        f'        puts stderr "[module-info name]: {tcl_word(root_note(bins))[1:-1]}"',
        "    }",
        "} else {",
        *(f"    append-path PATH {tcl_word(path)}" for path in bins),
        "}",
        "",
    ]
    return "\n".join(lines)


def loaded_module(environ: Mapping[str, str]) -> str | None:
    """The loaded module (Lmod's or Environment Modules') that set UVSHARE_CONFIG as it is in ENVIRON, or None.

    Both systems list the loaded modules' names in LOADEDMODULES and their files in _LMFILES_, in the same order; the
    one meant is a file of `share module`'s that pushes exactly this config.
    """
    config = environ.get(ENV_CONFIG)
    names, files = environ.get("LOADEDMODULES", ""), environ.get("_LMFILES_", "")
    if not config or not names or not files:
        return None
    config = os.path.abspath(config)
    lines = (f"local uvshare_config = {lua_string(config)}", f"set uvshare_config {tcl_word(config)}")
    for name, path in zip(names.split(":"), files.split(":")):
        try:
            with open(path, "rb") as f:
                text = f.read(MAX_MODULEFILE).decode("utf-8", "replace")
        except OSError:
            continue
        if WRITTEN_BY in text and any(line in text.splitlines() for line in lines):
            return name
    return None


class Module(Command):
    """Write modulefiles that choose the tree of the config in effect: Lua for Lmod, Tcl for Environment Modules"""

    lua = cli.SwitchAttr(
        "--lua", str, argname="FILE", help="write the Lmod modulefile to FILE (e.g. /opt/modulefiles/uvshare/proja.lua)"
    )
    tcl = cli.SwitchAttr(
        "--tcl",
        str,
        argname="FILE",
        help="write the Environment Modules modulefile to FILE (e.g. /opt/modulefiles/uvshare/proja)",
    )

    def main(self) -> int:
        targets = [(path, kind) for path, kind in ((self.lua, "lua"), (self.tcl, "tcl")) if path]
        if not targets:
            raise UvshareError(
                f"'{admin('module')}' needs --lua FILE (Lmod) or --tcl FILE (Environment Modules), or both; see "
                f"'{admin('module')} --help'"
            )
        config, _ = load_group_config()
        if len(config.files) != 1:
            raise UvshareError(
                f"the config in effect comes from {len(config.files)} files ({', '.join(config.files)}), and a "
                "module names one (it sets UVSHARE_CONFIG): put the tree's settings in one file and run this with "
                "UVSHARE_CONFIG=FILE"
            )
        config_file, bins, group = module_values(config, config.files[0])
        targets = [(p if p.startswith("/") else os.path.join(os.getcwd(), p), kind) for p, kind in targets]
        for path, _ in targets:
            check_target(path)  # as root, both are checked before either is written
        if not bins:
            self.say("warning", "no python-bin-dir or tool-bin-dir configured: the modules set only UVSHARE_CONFIG")
        for path, kind in targets:
            text = (lua_text if kind == "lua" else tcl_text)(config_file, bins, group)
            system = "Lmod" if kind == "lua" else "Environment Modules"
            if write_atomically(path, text):
                self.say("ok", f"wrote {path} ({system}): UVSHARE_CONFIG={config_file}; PATH += {', '.join(bins)}")
            else:
                self.say("ok", f"unchanged: {path} ({system}) already says this")
        return 0
