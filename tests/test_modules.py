"""`uvshare share module`: modulefiles that pick a shared tree, loaded by the real Lmod and Environment Modules.

The unit tests evaluate the generated text in the real Lua and Tcl interpreters (the ones Lmod and Environment
Modules run on) with the module commands recorded, so that every value arrives exactly as configured, however it is
spelt. The multi-user tests load the written files with the real module systems in bash, zsh and fish, as members
and as root, with two trees, and with a user in two groups.
"""

from __future__ import annotations

import grp
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import UV_VERSIONS
from tests.support import harness
from tests.support.harness import GROUP, INSTALLER, PREFIX, Sandbox, toml_value
from tests.support.modsys import SHELLS, SYSTEMS, ModuleSystem, init_script
from tests.support.wheels import tool_install_args, wheels_dir
from uvshare.admin.modules import Module, lua_text, module_values, tcl_text
from uvshare.config import load
from uvshare.errors import UvshareError

LUA = "/usr/bin/lua5.3"
TCLSH = "/usr/bin/tclsh8.6"
# Every character with a meaning in a Lua string, a Tcl word or a shell, and one that is not ASCII.
ODD = ("a b", 'quote"d', "it's", "$HOME", "[exec id]", "{brace", "brace}", "back\\slash", "end\\", "é")

# Runs a Lua modulefile with Lmod's functions recorded: each call a record of NUL-separated fields.
LUA_STUB = r"""
local text, euid = arg[1], tonumber(arg[2])  -- (arg[3]: UVSHARE_CONFIG before the load, "" for unset)
local function recorder(name)
    return function(...)
        io.write(name)
        for _, v in ipairs({...}) do io.write("\0", tostring(v)) end
        io.write("\30")
    end
end
local env = {
    whatis = recorder("whatis"), help = recorder("help"), family = recorder("family"),
    pushenv = recorder("pushenv"), append_path = recorder("append_path"), prepend_path = recorder("prepend_path"),
    setenv = recorder("setenv"), LmodMessage = recorder("LmodMessage"),
    os = {getenv = function(name) return arg[3] ~= "" and name == "UVSHARE_CONFIG" and arg[3] or nil end},
    math = math, table = table,
    mode = function() return "load" end, myModuleFullName = function() return "uvshare/proja" end,
    require = function(name) assert(name == "posix"); return {geteuid = function() return euid end} end,
}
local chunk = assert(load(text, "modulefile", "t", env))
chunk()
"""

# Runs a Tcl modulefile with Environment Modules' commands recorded, and /proc/self/status saying the effective uid.
TCL_STUB = r"""
lassign $argv file status
proc record {name args} {
    puts -nonewline [join [list $name {*}$args] "\0"]
    puts -nonewline "\x1e"
}
foreach name {module-whatis family conflict pushenv append-path prepend-path setenv unsetenv module} {
    interp alias {} $name {} record $name
}
proc is-loaded {args} { return 0 }
proc module-info {what args} {
    switch -- $what { mode { expr {$args eq {} ? {load} : $args eq {load}} } name { return uvshare/proja } }
}
rename open real_open
proc open {path args} {
    if {$path eq {/proc/self/status}} { set path $::status }
    real_open $path {*}$args
}
fconfigure stdout -translation binary -encoding utf-8
source -encoding utf-8 $file
"""


def records(output: bytes) -> list[list[str]]:
    """The recorded calls: each a list of the command's name and its arguments."""
    return [r.split("\0") for r in output.decode().split("\x1e") if r]


def run_lua(text: str, euid: int, tmp_path: Path, before: str = "") -> list[list[str]]:
    """What the Lua modulefile TEXT calls in Lmod at load, for a caller of effective uid EUID, with UVSHARE_CONFIG
    BEFORE ("": unset)."""
    need(LUA)
    script = tmp_path / "stub.lua"
    script.write_text(LUA_STUB)
    done = subprocess.run([LUA, script, text, str(euid), before], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return records(done.stdout)


def run_tcl(text: str, euid: int, tmp_path: Path) -> list[list[str]]:
    """What the Tcl modulefile TEXT calls in Environment Modules, for a caller of effective uid EUID."""
    need(TCLSH)
    modulefile, status = tmp_path / "modulefile", tmp_path / "status"
    modulefile.write_text(text, encoding="utf-8")
    status.write_text(f"Name:\ttclsh\nUid:\t{euid}\t{euid}\t{euid}\t{euid}\nGid:\t0\t0\t0\t0\n")
    script = tmp_path / "stub.tcl"
    script.write_text(TCL_STUB)
    environ = {k: v for k, v in os.environ.items() if k != "UVSHARE_CONFIG"}
    done = subprocess.run([TCLSH, script, modulefile, status], capture_output=True, check=False, env=environ)
    assert done.returncode == 0, done.stderr.decode()
    return records(done.stdout)


def need(program: str) -> None:
    """Skip without PROGRAM (a failure under CI: .ci/run installs it)."""
    if not os.access(program, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{program} is missing (see .ci/run's apt-get line)")
        pytest.skip(f"{program} is missing")


# --- the text of each modulefile ---


@pytest.mark.parametrize("odd", ODD)
@pytest.mark.parametrize("kind", ["lua", "tcl"])
@pytest.mark.parametrize("euid", [1000, 0])
def test_values_arrive_exactly(kind: str, odd: str, euid: int, tmp_path: Path) -> None:
    """However the config file and the bin dirs are spelt, the module pushes exactly that config, appends exactly
    those dirs for a member, in order, and for root appends nothing but names the dirs it leaves out."""
    config, bins = f"/proj/{odd}/uvshare.toml", [f"/proj/{odd}/bin", f"/proj/{odd}/tool-bin"]
    text = (lua_text if kind == "lua" else tcl_text)(config, bins, f"grp{odd}")
    calls = run_lua(text, euid, tmp_path) if kind == "lua" else run_tcl(text, euid, tmp_path)
    # (Lua: Lmod's stack of the value before, seeded: unset; Tcl: the value before kept, none)
    seed = ["setenv", "__LMOD_STACK_UVSHARE_CONFIG", "false"]
    sets = [seed, ["pushenv", "UVSHARE_CONFIG", config]] if kind == "lua" else [["setenv", "UVSHARE_CONFIG", config]]
    assert [c for c in calls if c[0] in ("setenv", "unsetenv", "pushenv") and c[1] != "__UVSHARE_CONFIG_BEFORE"] == sets
    assert ["family", "uvshare"] in calls
    assert not [c for c in calls if c[0] in ("prepend_path", "prepend-path", "conflict")]
    if kind == "lua":  # the value before, however spelt, as Lmod's pushenv keeps it: base64, one byte a group
        import base64

        seeded = [c for c in run_lua(text, euid, tmp_path, before=config) if c[0] == "setenv"]
        stacked = "".join(base64.urlsafe_b64encode(bytes([b])).decode() for b in config.encode())
        assert seeded == [["setenv", "__LMOD_STACK_UVSHARE_CONFIG", stacked]]
    appended = [c[2] for c in calls if c[0] in ("append_path", "append-path") and c[1] == "PATH"]
    messages = [c for c in calls if c[0] == "LmodMessage"]
    if euid == 0:
        assert appended == []
        if kind == "lua":  # (Tcl's note goes to stderr: see test_root_gets_the_config_not_the_bin_dirs)
            assert len(messages) == 1 and all(b in messages[0][1] for b in bins), calls
    else:
        assert appended == bins
        assert messages == []
    description = [c for c in calls if c[0] in ("whatis", "module-whatis")]
    assert len(description) == 1 and config in description[0][1] and f"grp{odd}" in description[0][1]


@pytest.mark.parametrize("kind", ["lua", "tcl"])
def test_text_depends_on_the_tree_alone(kind: str) -> None:
    """The same tree gives the same bytes (no date, no host, no module name: it may be installed under any name), so
    writing it again changes nothing; another tree gives another text."""
    make = lua_text if kind == "lua" else tcl_text
    first = make("/proj/a/uvshare.toml", ["/proj/a/uv/bin"], "proja")
    assert first == make("/proj/a/uvshare.toml", ["/proj/a/uv/bin"], "proja")
    assert first != make("/proj/b/uvshare.toml", ["/proj/b/uv/bin"], "projb")
    assert first.endswith("\n") and "proja.lua" not in first


@pytest.mark.parametrize("kind", ["lua", "tcl"])
def test_doctor_finds_the_module_that_set_the_config(kind: str, tmp_path: Path) -> None:
    """Of the loaded modules, the one named is share module's file that pushes exactly this UVSHARE_CONFIG: not a
    foreign module, not the file of another tree, and none when UVSHARE_CONFIG was set by hand."""
    from uvshare.admin.modules import loaded_module

    make = lua_text if kind == "lua" else tcl_text
    odd = "/proj/a b$[x]{y}\\/uvshare.toml"
    files = {
        "gcc/12": "#%Module1.0\nprepend-path PATH /opt/gcc/bin\n",
        "uvshare/projb": make("/proj/b/uvshare.toml", ["/proj/b/bin"], "projb"),
        "uvshare/proja": make(odd, ["/proj/a/bin"], "proja"),
    }
    for n, text in enumerate(files.values()):
        (tmp_path / str(n)).write_text(text)
    environ = {"LOADEDMODULES": ":".join(files), "_LMFILES_": ":".join(str(tmp_path / str(n)) for n in range(3))}
    assert loaded_module({**environ, "UVSHARE_CONFIG": odd}) == "uvshare/proja"
    assert loaded_module({**environ, "UVSHARE_CONFIG": "/proj/b/uvshare.toml"}) == "uvshare/projb"
    assert loaded_module({**environ, "UVSHARE_CONFIG": "/proj/c/uvshare.toml"}) is None
    assert loaded_module({"UVSHARE_CONFIG": odd}) is None


def write_config(path: Path, **keys: object) -> Path:
    """A config file with the caller's group and KEYS."""
    values = {"group": os.getgid(), **{k.replace("_", "-"): v for k, v in keys.items()}}
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in values.items()))
    return path


def test_module_writes_once_then_says_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`share module` writes both files (dirs made), names the tree; run again it writes nothing and says so."""
    config = write_config(tmp_path / "proja.toml", python_bin_dir="/proj/a/uv/bin", tool_bin_dir="/proj/a/uv/tools bin")
    monkeypatch.setenv("UVSHARE_CONFIG", str(config))
    lua, tcl = tmp_path / "modulefiles" / "uvshare" / "proja.lua", tmp_path / "modulefiles" / "uvshare" / "proja"
    _, status = Module.run(["module", "--lua", str(lua), "--tcl", str(tcl)], exit=False)
    out = capsys.readouterr().out
    assert status == 0 and f"wrote {lua} (Lmod)" in out and f"wrote {tcl} (Environment Modules)" in out, out
    assert f"UVSHARE_CONFIG={config}" in out and "/proj/a/uv/tools bin" in out
    assert lua.read_text() == lua_text(
        str(config), ["/proj/a/uv/bin", "/proj/a/uv/tools bin"], grp.getgrgid(os.getgid()).gr_name
    )
    assert tcl.read_text().startswith("#%Module")
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (lua, tcl)]
    _, status = Module.run(["module", "--lua", str(lua), "--tcl", str(tcl)], exit=False)
    out = capsys.readouterr().out
    assert status == 0 and out.count("unchanged: ") == 2, out
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (lua, tcl)] == before
    assert sorted(p.name for p in lua.parent.iterdir()) == ["proja", "proja.lua"]  # no temporary file left


def test_what_no_modulefile_can_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bin dir with ':' cannot be on PATH; a config made of several files cannot be named by UVSHARE_CONFIG; a
    relative UVSHARE_CONFIG is named absolute; neither --lua nor --tcl is one line saying what is needed."""
    config = write_config(tmp_path / "c.toml", python_bin_dir="/proj/a:b/bin")
    with pytest.raises(UvshareError, match=r"'python-bin-dir' is /proj/a:b/bin, which has a ':'"):
        module_values(load({"UVSHARE_CONFIG": str(config)}), str(config))  # type: ignore[arg-type]
    write_config(tmp_path / "c.toml", python_bin_dir="/proj/a/bin")
    monkeypatch.chdir(tmp_path)
    loaded = load({"UVSHARE_CONFIG": "c.toml"})
    assert loaded is not None
    assert module_values(loaded, "c.toml")[0] == str(tmp_path / "c.toml")
    monkeypatch.setenv("UVSHARE_CONFIG", "c.toml")
    with pytest.raises(UvshareError, match=r"needs --lua FILE \(Lmod\) or --tcl FILE"):
        Module.run(["module"], exit=False)
    system, user = write_config(tmp_path / "system.toml"), tmp_path / "xdg" / "uvshare" / "config.toml"
    user.parent.mkdir(parents=True)
    write_config(user, tool_bin_dir="/proj/a/tool-bin")
    monkeypatch.delenv("UVSHARE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "no-such-dir"))
    monkeypatch.setattr("uvshare.config.SYSTEM_CONFIG", str(system))
    with pytest.raises(UvshareError, match=r"comes from 2 files .* a module names one"):
        Module.run(["module", "--lua", str(tmp_path / "x.lua")], exit=False)
    assert not (tmp_path / "x.lua").exists()


# --- the real module systems, as members and root, in bash, zsh and fish ---

# The shell code of each step: define `report`, which prints what a test checks as `key=value` lines.
REPORT = {
    "posix": r"""
report() {
    printf 'stage=%s\n' "$1"
    printf 'config=%s\n' "${UVSHARE_CONFIG-<unset>}"
    printf 'path=%s\n' "$PATH"
    for c in python3.12 python3.13 toola toolb; do printf '%s=%s\n' "$c" "$(command -v "$c")"; done
    for t in toola toolb; do command -v "$t" >/dev/null && printf 'run=%s\n' "$("$t")"; done
    for p in python3.12 python3.13; do
        command -v "$p" >/dev/null && printf 'prefix=%s\n' "$("$p" -c 'import sys; print(sys.base_prefix)')"
    done
    true
}
""",
    "fish": r"""
function report
    printf 'stage=%s\n' $argv[1]
    if set -q UVSHARE_CONFIG; printf 'config=%s\n' $UVSHARE_CONFIG; else; printf 'config=<unset>\n'; end
    printf 'path=%s\n' (string join : $PATH)
    for c in python3.12 python3.13 toola toolb; printf '%s=%s\n' $c (command -v $c); end
    for t in toola toolb; if command -v $t >/dev/null; printf 'run=%s\n' ($t); end; end
    for p in python3.12 python3.13
        if command -v $p >/dev/null; printf 'prefix=%s\n' ($p -c 'import sys; print(sys.base_prefix)'); end
    end
end
""",
}


def shell_command(shell: str, system: ModuleSystem, steps: str) -> list[str]:
    """SHELL running STEPS (`module …` and `report NAME` lines) after SYSTEM's init script, and nothing else: no
    startup files, no /etc/profile."""
    init = init_script(system, shell)
    if shell == "fish":
        return ["fish", "--no-config", "-c", f"source {init}\n{REPORT['fish']}\n{steps}"]
    options = ["-f"] if shell == "zsh" else ["--norc", "--noprofile"]
    return [shell, *options, "-c", f". {init}\n{REPORT['posix']}\n{steps}"]


def reports(output: str) -> dict[str, dict[str, str]]:
    """Each stage's report, by stage name."""
    stages: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "stage":
            current = stages.setdefault(value, {})
        else:
            current[key] = value
    return stages


class Trees:
    """Two shared trees of the test group, proja (Python 3.12, tool toola) and projb below a dir with a space
    (Python 3.13, tool toolb), each with its own config; their modulefiles side by side in one dir, as a site keeps
    them: modulefiles/uvshare/proja.lua for Lmod, modulefiles/uvshare/proja for Environment Modules."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.a_config, self.a = box.config, box.shared
        self.b = box.root / "proj b" / "uv"
        self.b_config = box.root / "etc" / "projb.toml"
        self.modulepath = box.root / "modulefiles"

    def config(self, prefix: Path, group: str, install_user: str) -> str:
        """The config text of a tree below PREFIX."""
        keys = {"group": group, "install-user": install_user, "python-install-dir": prefix / "python"}
        keys |= {"python-bin-dir": prefix / "bin", "tool-dir": prefix / "tools", "tool-bin-dir": prefix / "tool-bin"}
        keys["cache-dir"] = prefix / "cache"
        return "".join(f"{k} = {toml_value(str(v))}\n" for k, v in keys.items())

    def write_modules(self, name: str, config: Path) -> str:
        """`share module` for CONFIG's tree as root, as uvshare/NAME for both systems; its output."""
        files = self.modulepath / "uvshare" / name
        args: list[str | Path] = ["uvshare", "share", "module", "--lua", f"{files}.lua", "--tcl", files]
        return self.box.ok("root", *args, env={"UVSHARE_CONFIG": str(config)}).stdout


@pytest.fixture(scope="module")
def trees(
    request: pytest.FixtureRequest,
    users: dict[str, harness.User],
    mirror: str,
    uvshare_bin: Path,
    newest_uv: Path,
) -> Iterator[Trees]:
    """Both trees, set up once for the module's tests: root installs the Pythons, alice the tools, root writes the
    modulefiles (twice: the second time nothing changes)."""
    from tests.conftest import _sandbox

    with _sandbox(request, users, mirror, uvshare_bin, newest_uv) as box:
        trees = Trees(box)
        trees.b_config.write_text(trees.config(trees.b, GROUP, INSTALLER))
        wheels = wheels_dir(box.root / "wheels", ("toola", "1.0"), ("toolb", "1.0"))
        for config, version, tool in ((trees.a_config, "3.12", "toola"), (trees.b_config, "3.13", "toolb")):
            env = {"UVSHARE_CONFIG": str(config)}
            box.ok("root", "uvshare", "python", "install", version, env=env)
            box.ok("alice", *tool_install_args(wheels, tool), env=env)
        for name, config in (("proja", trees.a_config), ("projb", trees.b_config)):
            assert "✓ wrote" in trees.write_modules(name, config)
            again = trees.write_modules(name, config)
            assert again.count("✓ unchanged: ") == 2, again
        yield trees


def run_shell(trees: Trees, user: str, shell: str, system: ModuleSystem, steps: str, **extra: str) -> harness.Result:
    """STEPS in SHELL as USER, with the trees' modulefiles on MODULEPATH and no UVSHARE_CONFIG to begin with (and the
    EXTRA variables)."""
    env = {"MODULEPATH": str(trees.modulepath), "UVSHARE_CONFIG": None, **extra}
    return trees.box.ok(user, *shell_command(shell, system, steps), env=env)


def on_path(report: dict[str, str]) -> list[str]:
    return report["path"].split(":")


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_load_switch_unload(trees: Trees, system: ModuleSystem, shell: str) -> None:
    """A member's `module load uvshare/proja` gives proja's config, Python (python3.12 by name) and tool; loading
    uvshare/projb switches to projb's alone (Lmod: family; Environment Modules: the module unloads the other);
    `module switch uvshare/proja` switches back; `module unload` leaves PATH as it was and UVSHARE_CONFIG unset."""
    a, b = trees.a, trees.b
    steps = """
report init
module load uvshare/proja
report a
module load uvshare/projb
report b
module switch uvshare/proja
report switched
module unload uvshare/proja
report unloaded
"""
    result = run_shell(trees, "alice", shell, system, steps)
    stages = reports(result.stdout)
    assert list(stages) == ["init", "a", "b", "switched", "unloaded"], str(result)
    init = stages["init"]
    assert init["config"] == "<unset>" and init["toola"] == init["python3.12"] == "", str(result)
    for stage in ("a", "switched"):
        got = stages[stage]
        assert got["config"] == str(trees.a_config), str(result)
        assert got["python3.12"] == f"{a}/bin/python3.12" and got["toola"] == f"{a}/tool-bin/toola", str(result)
        assert got["python3.13"] == got["toolb"] == "", str(result)
        assert got["run"] == "toola 1.0" and got["prefix"].startswith(f"{a}/python/cpython-3.12"), str(result)
        assert on_path(got) == [*on_path(init), f"{a}/bin", f"{a}/tool-bin"], str(result)  # appended, as the profile
    got = stages["b"]
    assert got["config"] == str(trees.b_config), str(result)
    assert got["python3.13"] == f"{b}/bin/python3.13" and got["toolb"] == f"{b}/tool-bin/toolb", str(result)
    assert got["python3.12"] == got["toola"] == "", str(result)
    assert got["run"] == "toolb 1.0" and got["prefix"].startswith(f"{b}/python/cpython-3.13"), str(result)
    assert on_path(got) == [*on_path(init), f"{b}/bin", f"{b}/tool-bin"], str(result)
    assert stages["unloaded"]["config"] == "<unset>", str(result)
    assert stages["unloaded"]["path"] == init["path"], str(result)


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_unload_restores_a_config_set_before(trees: Trees, system: ModuleSystem) -> None:
    """UVSHARE_CONFIG set before loading (a user's own choice) is back after unloading: the module pushes it. While
    it is loaded, doctor names the module that set UVSHARE_CONFIG."""
    steps = f"""
export UVSHARE_CONFIG={trees.b_config}
module load uvshare/proja
report a
uvshare share doctor | grep -F 'UVSHARE_CONFIG is set by'
module unload uvshare/proja
report unloaded
"""
    result = run_shell(trees, "bob", "bash", system, steps)
    stages = reports(result.stdout)
    assert stages["a"]["config"] == str(trees.a_config), str(result)
    assert "· config: UVSHARE_CONFIG is set by the module uvshare/proja\n" in result.stdout, str(result)
    assert stages["unloaded"]["config"] == str(trees.b_config), str(result)


# Each cycle of load/unload (and switch) from a value of UVSHARE_CONFIG set just before, and what unloading leaves.
LOAD_A, LOAD_B, SET = "module load uvshare/proja", "module load uvshare/projb", "export UVSHARE_CONFIG="
CYCLES = (
    ("first", f"{SET}/x/1.toml; {LOAD_A}", "/x/1.toml"),
    ("second", f"{SET}/x/2.toml; {LOAD_A}", "/x/2.toml"),  # (Lmod 8.6's pushenv: /x/1.toml)
    ("unset", f"unset UVSHARE_CONFIG; {LOAD_A}; {LOAD_B}", "<unset>"),
    ("empty", f"{SET}; {LOAD_A}", "<unset>"),
    ("swapped", f"{SET}/x/3.toml; {LOAD_A}; {LOAD_B}", "/x/3.toml"),
    ("switched", f"{SET}/x/4.toml; {LOAD_A}; module switch uvshare/projb", "/x/4.toml"),
    ("changed", f"{SET}/x/5.toml; {LOAD_A}; {SET}/x/mine.toml", "/x/mine.toml"),
    ("odd", f"{SET}'/x/a b $y \"q\" é:it'\\''s'; {LOAD_B}", '/x/a b $y "q" é:it\'s'),
    ("again", f"{SET}/x/again.toml; {LOAD_A}", "/x/again.toml"),
)


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_unload_restores_exactly_cycle_after_cycle(trees: Trees, system: ModuleSystem) -> None:
    """Set a value, load, unload — again and again in one shell, with a new value set before each load, through
    switches and family swaps: unloading gives back exactly the value from before that load (unset for unset or
    empty), and a value the user set while loaded stays. (Lmod 8.6's pushenv gave the first cycle's value back to
    every later one.)"""
    steps = "".join(
        f"{setup}\nreport {name}-loaded\nmodule {'purge' if name == 'switched' else 'unload uvshare'}\nreport {name}\n"
        for name, setup, _ in CYCLES
    )
    result = run_shell(trees, "bob", "bash", system, steps)
    stages = reports(result.stdout)
    assert [stages[name]["config"] for name, _, _ in CYCLES] == [want for _, _, want in CYCLES], str(result)
    assert stages["unset-loaded"]["config"] == stages["swapped-loaded"]["config"] == str(trees.b_config)
    assert stages["first-loaded"]["config"] == str(trees.a_config), str(result)


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_root_gets_the_config_not_the_bin_dirs(trees: Trees, system: ModuleSystem) -> None:
    """Root's `module load uvshare/proja` sets proja's config (its uvshare commands act on that tree) but puts none of
    the dirs members can write on root's PATH, and says so."""
    steps = "report init\nmodule load uvshare/proja\nreport a\nuvshare share config\n"
    result = run_shell(trees, "root", "bash", system, steps)
    stages = reports(result.stdout)
    assert stages["a"]["config"] == str(trees.a_config), str(result)
    assert stages["a"]["path"] == stages["init"]["path"], str(result)
    assert f"uvshare/proja: as root, {trees.a}/bin and {trees.a}/tool-bin are not put on PATH" in " ".join(
        result.stderr.split()
    ), str(result)
    assert str(trees.a_config) in result.stdout.split("stage=a")[1], str(result)  # share config reads proja's


@pytest.mark.parametrize("uv_version", UV_VERSIONS)
def test_user_in_two_groups_installs_into_the_loaded_tree(trees: Trees, uv_version: str) -> None:
    """carol, in the test group and in a second project group with a tree of its own: after `module load
    uvshare/proja` her `uvshare python install` lands in proja's tree; after `module switch uvshare/projc`, in
    projc's, group-owned by that project's group. Nothing to type but the module's name. With each uv version."""
    box = trees.box
    group, installer = f"{PREFIX}-pc", f"{PREFIX}-pcinst"
    c, c_config = box.root / f"proj c {uv_version}" / "uv", box.root / "etc" / f"projc-{uv_version}.toml"
    box.extra_env["UVSHARE_UV"] = str(harness.install_uv(uv_version))
    try:
        harness.run_root("groupadd", group)
        harness.run_root("usermod", "-aG", group, box.users["carol"].name)
        c_config.write_text(trees.config(c, group, installer))
        box.ok("root", "uvshare", "share", "setup", env={"UVSHARE_CONFIG": str(c_config)})  # creates the installer
        trees.write_modules("projc", c_config)
        gid = grp.getgrnam(group).gr_gid
        for system in SYSTEMS:
            steps = """
module load uvshare/proja
uvshare python install 3.11
module switch uvshare/projc
uvshare python install 3.10
report c
module unload uvshare
"""
            result = run_shell(trees, "carol", "bash", system, steps)
            assert reports(result.stdout)["c"]["config"] == str(c_config), str(result)
            in_a = [p.name for p in (trees.a / "python").glob("cpython-3.1*")]
            in_c = [p.name for p in (c / "python").glob("cpython-3.1*")]
            assert any(n.startswith("cpython-3.11.") for n in in_a), str(result)
            assert not any(n.startswith("cpython-3.10.") for n in in_a), str(result)
            assert any(n.startswith("cpython-3.10.") for n in in_c), str(result)
            assert not any(n.startswith(("cpython-3.11.", "cpython-3.12.")) for n in in_c), str(result)
            assert all(p.stat().st_gid == gid for p in (c / "python").glob("cpython-3.10*")), str(result)
            # the next module system starts from nothing installed
            box.ok("carol", "uvshare", "python", "uninstall", "3.11", env={"UVSHARE_CONFIG": str(trees.a_config)})
            box.ok("carol", "uvshare", "python", "uninstall", "3.10", env={"UVSHARE_CONFIG": str(c_config)})
        no_module_loaded(trees, c, c_config, group)
    finally:
        del box.extra_env["UVSHARE_UV"]
        subprocess.run(["userdel", "-f", installer], capture_output=True, check=False)
        subprocess.run(["groupdel", group], capture_output=True, check=False)


def no_module_loaded(trees: Trees, c: Path, c_config: Path, group: str) -> None:
    """With the trees' configs in the trees dir and no module loaded (no UVSHARE_CONFIG, no default config): carol,
    in both groups, is told both trees and how to pick one — nothing installed anywhere —, but is never stopped
    where nothing needs a tree (`--version`) or where her current dir says which (projc's project dir); alice, in
    one of the groups, simply gets its tree."""
    box = trees.box
    tree_dir = box.root / "etc" / "trees"
    tree_dir.mkdir(exist_ok=True)
    (tree_dir / "proja.toml").write_text(trees.a_config.read_text())
    project = c.parent / "work"
    (tree_dir / "projc.toml").write_text(c_config.read_text() + f"project-dir = {toml_value(str(project))}\n")
    env = {"UVSHARE_TREES_DIR": str(tree_dir), "UVSHARE_CONFIG": None}
    box.ok("root", "uvshare", "share", "setup", env={"UVSHARE_CONFIG": str(tree_dir / "projc.toml")})
    before = sorted(p.name for tree in (trees.a, c) for p in (tree / "python").iterdir())
    result = box.run("carol", "uvshare", "python", "install", "3.11", env=env)
    assert result.returncode == 2, str(result)
    line = result.stderr
    assert line.startswith("uvshare: error: this command needs a shared uv tree, and you are in the groups of 2: ")
    for name, tree, label in (("proja", trees.a, GROUP), ("projc", c, group)):
        assert f"{name} (group {label}, {tree}, config {tree_dir / name}.toml)" in line, line
    assert "module load uvshare/proja" in line, line
    assert line.count("\n") == 1, line
    assert sorted(p.name for tree in (trees.a, c) for p in (tree / "python").iterdir()) == before
    assert box.ok("carol", "uvshare", "--version", env=env).stdout.startswith("uv ")
    # in projc's project dir, her uv is projc's: its cache
    box.ok("carol", "mkdir", project / "app", env=env)
    box.ok("carol", "uvshare", "venv", "--python", harness.SYSTEM_PYTHON, cwd=project / "app", env=env)
    assert box.ok("carol", "uvshare", "cache", "dir", cwd=project / "app", env=env).stdout.strip() == str(c / "cache")
    mine = box.ok("carol", "uvshare", "cache", "dir", env={**env, "UVSHARE_CONFIG": str(trees.a_config)}).stdout
    assert mine.strip() == str(trees.a / "cache")  # the module's (UVSHARE_CONFIG) wins over the project dir
    assert (project / "app" / ".venv").stat().st_gid == grp.getgrnam(group).gr_gid
    # root: the same choice for a command on a tree; root's uv kept out of every tree's project dir all the same
    result = box.run("root", "uvshare", "python", "install", "3.11", env=env)
    assert result.returncode == 2 and "and this machine has 2: proja (" in result.stderr, str(result)
    result = box.run("root", "uvshare", "venv", "/nonexistent/v", cwd=project / "app", env=env)
    assert result.returncode == 2 and f"root does not run uv in the team project dir {project}" in result.stderr
    # alice is in one of them: hers, with nothing to say
    found = box.ok("alice", "uvshare", "python", "find", "3.12", env=env).stdout.strip()
    assert found.startswith(f"{trees.a}/python/"), found
