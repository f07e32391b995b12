"""Shell completion: the files in completions/, driven in the real bash, zsh and fish, for `uvshare` and for `uv`.

Each shell loads the file the way a user's shell does and completes a command line with the cursor at its end, in a
clean environment whose PATH holds the installed uvshare and the real uv, so that uv's own completion is really
generated (through uvshare) and delegated to. Nothing may be printed on stderr while completing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import harness

COMPLETIONS = harness.REPO / "completions"
FILES = {"bash": COMPLETIONS / "uvshare.bash", "zsh": COMPLETIONS / "_uvshare", "fish": COMPLETIONS / "uvshare.fish"}
SHELLS = tuple(FILES)
SHARE_COMMANDS = {"init", "setup", "doctor", "repair", "kind", "config", "completion", "launcher", "module", "teardown"}
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
END = "\x1e"  # ends the candidates of one line in the drivers' output

# bash: load bash-completion and the file (sourced, or left to bash-completion's loader when $1 is empty), then for each
# line set COMP_* as readline would and call the function registered for the command word; print COMPREPLY.
BASH_DRIVER = r"""
source /usr/share/bash-completion/bash_completion || exit 3
if [[ -n $1 ]]; then source "$1" || exit 3; fi
shift
for line in "$@"; do
    read -ra COMP_WORDS <<< "$line"
    [[ -z $line || $line == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    # what readline does for a command without a completion yet: bash-completion's default (-D) loader
    complete -p -- "${COMP_WORDS[0]}" &>/dev/null || _completion_loader "${COMP_WORDS[0]}"
    spec=$(complete -p -- "${COMP_WORDS[0]}" 2>/dev/null)
    if [[ $spec =~ -F\ ([^ ]+) ]]; then
        "${BASH_REMATCH[1]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    else
        echo "driver: no completion function for ${COMP_WORDS[0]}" >&2
    fi
    (( ${#COMPREPLY[@]} )) && printf '%s\n' "${COMPREPLY[@]}"
    printf '\x1e\n'
done
"""

# fish: source the file (or let fish autoload it when $argv[1] is empty) and ask fish itself what it would offer.
FISH_DRIVER = r"""
if test -n "$argv[1]"; source $argv[1]; or exit 3; end
for line in $argv[2..-1]
    complete -C $line
    printf '\x1e\n'
end
"""

# zsh: completion only runs inside ZLE, so run an interactive zsh in a pseudo-terminal (zsh/zpty), type each line, TAB
# and Enter into it, and capture what the completion functions add (compadd, wrapped). Its stderr goes to a file.
ZSH_DRIVER = r"""
zmodload zsh/zpty || exit 3
setup=$1 out=$2 err=$3
shift 3
zpty z "zsh -f -i 2>${(q)err}"
zpty -w z "__cap_out=${(q)out} __cap_total=$#; source ${(q)setup}"
for line; do zpty -w z "$line"$'\t'; done  # Enter clears the line (see ZSH_SETUP)
while zpty -r z chunk; do print -rn -- "$chunk"; done
zpty -d z
"""

# Sourced by the interactive zsh: compinit, the completion file (from $fpath or sourced), and the capture.
ZSH_SETUP = r"""
PS1='' PS2='' RPS1=''
bindkey -e
{load}
typeset -ga __cap
typeset -gi __cap_n=0
compadd() {{
    # matching-only calls (-O, -A, -D) are internal to the completion system: not offered, not captured
    if [[ ${{@[1,(i)(-|--)]}} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a hits
    local -A pre
    builtin compadd -A hits "$@"
    zparseopts -E -A pre P: p: 2>/dev/null
    local hit
    for hit in $hits; do __cap+=("${{pre[-p]}}${{pre[-P]}}$hit"); done
    builtin compadd "$@"
}}
__cap_complete() {{
    __cap=()
    _main_complete
    (( __cap_n++ ))
    print -rl -- $__cap > $__cap_out.$__cap_n
    compstate[list]='' compstate[insert]=''
    (( __cap_n < __cap_total )) || exit
}}
zle -C __cap-complete complete-word __cap_complete
bindkey '^I' __cap-complete
# Enter clears the line for the next one instead of running it (^U would be eaten by the tty, as its kill character)
bindkey '^M' kill-whole-line
bindkey '^J' kill-whole-line
(( __cap_total )) || exit  # only loading was asked for
"""
ZSH_LOAD = {
    "installed": "fpath=({dir} $fpath)\nautoload -Uz compinit && compinit -u -D",  # autoloaded from $fpath
    "sourced": "autoload -Uz compinit && compinit -u -D\nsource {file}",  # `source <(uvshare share completion zsh)`
}
# How each shell loads the file unless a test says otherwise; "installed" puts it where the shell looks for it by name,
# also as uv's (bash-completion's completions/uv, fish's uv.fish), as an image would where uvshare is installed as uv.
DEFAULT_LOAD = {"bash": "sourced", "zsh": "installed", "fish": "sourced"}


@dataclass
class Session:
    """A clean environment for the shells: PATH and an empty uvshare config, a scratch HOME."""

    env: dict[str, str]
    scratch: Path


def need_shell(shell: str) -> None:
    """The shells come from Debian packages: skipped where missing, but under CI=true a skip is a failure."""
    missing = shutil.which(shell) is None or (shell == "bash" and not BASH_COMPLETION.is_file())
    if not missing:
        return
    what = "bash-completion" if shell == "bash" else shell
    if os.environ.get("CI") == "true":
        pytest.fail(f"the completion tests need {what} (.ci/run installs it)")
    pytest.skip(f"needs {what}")


def split_records(text: str) -> list[list[str]]:
    """The drivers' output: one list of lines per completed line."""
    records = text.split(END + "\n")
    return [[line for line in record.split("\n") if line] for record in records[:-1]]


def install(file: Path, directory: Path, names: tuple[str, str]) -> None:
    """Put FILE in DIRECTORY under the first of NAMES, and the second as a link to it."""
    directory.mkdir(parents=True)
    shutil.copyfile(file, directory / names[0])
    (directory / names[1]).symlink_to(names[0])


def complete_lines(shell: str, lines: list[str], session: Session, load: str | None = None) -> list[list[str]]:
    """The candidates SHELL offers for each of LINES (cursor at the end), in one shell session with the file loaded."""
    need_shell(shell)
    load = load or DEFAULT_LOAD[shell]
    file = FILES[shell]
    run_dir = Path(tempfile.mkdtemp(prefix=f"{shell}-", dir=session.scratch))
    env = dict(session.env)
    sourced = str(file) if load == "sourced" else ""
    if shell == "bash":
        if load == "installed":
            env["BASH_COMPLETION_USER_DIR"] = str(run_dir / "bash-completion")
            install(file, run_dir / "bash-completion" / "completions", ("uvshare", "uv"))
        cmd = ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", sourced, *lines]
    elif shell == "fish":
        options = ["--no-config"]
        if load == "installed":  # fish autoloads from $XDG_CONFIG_HOME/fish/completions (not with --no-config)
            env["XDG_CONFIG_HOME"] = str(run_dir / "config")
            install(file, run_dir / "config" / "fish" / "completions", ("uvshare.fish", "uv.fish"))
            options = []
        cmd = ["fish", *options, "-c", FISH_DRIVER, sourced, *lines]
    else:
        functions = run_dir / "functions"
        functions.mkdir()
        shutil.copyfile(file, functions / file.name)
        setup = run_dir / "setup.zsh"
        load_code = ZSH_LOAD[load].format(dir=shlex.quote(str(functions)), file=shlex.quote(str(functions / file.name)))
        setup.write_text(ZSH_SETUP.format(load=load_code))
        out, err = run_dir / "out", run_dir / "err"
        cmd = ["zsh", "-f", "-c", ZSH_DRIVER, "zsh", str(setup), str(out), str(err), *lines]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{shell} did not finish completing {lines}: {e.stdout!r} {e.stderr!r}")
    transcript = (
        f"{shell} completing {lines}\n[exit {done.returncode}]\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    )
    assert done.returncode == 0, transcript
    if shell != "zsh":
        assert done.stderr == "", transcript
        records = split_records(done.stdout)
        assert len(records) == len(lines), transcript
        return [[line.split("\t")[0] for line in record] for record in records]
    stderr = err.read_text() if err.exists() else ""
    assert stderr == "", f"{transcript}\n--- zsh's stderr\n{stderr}"
    results = []
    for n in range(1, len(lines) + 1):
        result = out.with_name(f"out.{n}")
        assert result.exists(), f"zsh never completed line {n}\n{transcript}"
        results.append([line for line in result.read_text().split("\n") if line])
    return results


def complete(shell: str, line: str, session: Session) -> list[str]:
    """The candidates SHELL offers for LINE."""
    return complete_lines(shell, [line], session)[0]


def make_session(scratch: Path, *path: Path) -> Session:
    """A session whose PATH is PATH followed by the system dirs."""
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = scratch / "empty-config.toml"  # no group, no dirs: uvshare is a pure pass-through to uv
    config.touch()
    env = {
        "PATH": ":".join([*map(str, path), "/usr/bin", "/bin"]),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "UVSHARE_CONFIG": str(config),
    }
    return Session(env, scratch)


@pytest.fixture(scope="module", params=["uvshare", "uv"])
def named(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, uvshare_bin: Path, newest_uv: Path
) -> tuple[str, Session]:
    """The program name and a session where it runs uvshare: `uvshare` itself, or a link named uv before the real uv."""
    scratch = tmp_path_factory.mktemp(f"completion-{request.param}")
    if request.param == "uv":
        alias = scratch / "alias-bin"
        alias.mkdir()
        (alias / "uv").symlink_to(uvshare_bin / "uvshare")
        return "uv", make_session(scratch, alias, uvshare_bin, newest_uv.parent)
    return "uvshare", make_session(scratch, uvshare_bin, newest_uv.parent)


@pytest.fixture
def session(tmp_path: Path, uvshare_bin: Path, newest_uv: Path) -> Session:
    """A session with the installed uvshare and the real uv on PATH."""
    return make_session(tmp_path, uvshare_bin, newest_uv.parent)


# --- what the issue asks of every shell, under both names ---


@pytest.mark.parametrize("shell", SHELLS)
def test_uv_commands_come_from_uv(shell: str, named: tuple[str, Session]) -> None:
    """`NAME pyt<TAB>` offers python and `NAME python in<TAB>` offers install: uv's own completion, delegated to."""
    name, session = named
    top, sub, option = complete_lines(
        shell, [f"{name} pyt", f"{name} python in", f"{name} python install --no-b"], session
    )
    assert "python" in top
    assert "install" in sub
    assert "--no-bin" in option  # an option of a uv subcommand, also uv's own


@pytest.mark.parametrize("shell", SHELLS)
def test_each_uv_version(shell: str, tmp_path: Path, uvshare_bin: Path, uv_bin: Path) -> None:
    """The delegation works with the completion each supported uv version generates (their scripts differ)."""
    session = make_session(tmp_path, uvshare_bin, uv_bin.parent)
    top, sub, first = complete_lines(shell, ["uvshare pyt", "uvshare python in", "uvshare s"], session)
    assert "python" in top
    assert "install" in sub
    assert {"share", "sync"} <= set(first)


@pytest.mark.parametrize("shell", SHELLS)
def test_share_commands(shell: str, named: tuple[str, Session]) -> None:
    """`NAME share <TAB>` offers the admin commands (and nothing of uv's); `NAME s<TAB>` offers share beside uv's."""
    name, session = named
    commands, first, options, shells = complete_lines(
        shell, [f"{name} share ", f"{name} s", f"{name} share doctor --", f"{name} share completion "], session
    )
    assert set(commands) >= SHARE_COMMANDS
    assert "python" not in commands
    assert {"share", "sync"} <= set(first)
    assert "--json" in options
    assert set(shells) == {"bash", "zsh", "fish"}


@pytest.mark.parametrize("shell", SHELLS)
def test_switch_values_are_not_completed_as_commands(shell: str, named: tuple[str, Session]) -> None:
    """After `repair --timeout` comes a number of seconds: nothing is offered."""
    name, session = named
    assert complete(shell, f"{name} share repair --timeout ", session) == []


@pytest.mark.parametrize("shell", SHELLS)
def test_other_way_of_loading(shell: str, named: tuple[str, Session]) -> None:
    """Installed where the shell finds it by name (bash, fish), or sourced (zsh): the file works the same."""
    name, session = named
    load = "installed" if DEFAULT_LOAD[shell] == "sourced" else "sourced"
    top, commands = complete_lines(shell, [f"{name} pyt", f"{name} share "], session, load)
    assert "python" in top
    assert set(commands) >= SHARE_COMMANDS


# --- robustness ---


@pytest.mark.parametrize("shell", SHELLS)
def test_uv_is_asked_lazily_and_once(shell: str, tmp_path: Path, uvshare_bin: Path, newest_uv: Path) -> None:
    """Loading the file runs nothing; uv's completion is generated on the first completion and kept for the session."""
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    log = tmp_path / "calls.log"
    (wrapper / "uvshare").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {uvshare_bin / "uvshare"} "$@"\n')
    (wrapper / "uvshare").chmod(0o755)
    session = make_session(tmp_path / "session", wrapper, newest_uv.parent)
    complete_lines(shell, [], session, "sourced")
    assert not log.exists(), log.read_text()
    first, second, third = complete_lines(shell, ["uvshare pyt", "uvshare python in", "uvshare share "], session)
    assert "python" in first
    assert "install" in second
    assert set(third) >= SHARE_COMMANDS
    assert log.read_text() == f"generate-shell-completion {shell}\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_no_real_uv(shell: str, tmp_path: Path, uvshare_bin: Path) -> None:
    """Without a real uv to ask, uvshare's error stays off the screen and `share` is still completed."""
    session = make_session(tmp_path, uvshare_bin)
    first, commands = complete_lines(shell, ["uvshare s", "uvshare share "], session)
    assert first == ["share"]
    assert set(commands) >= SHARE_COMMANDS


@pytest.mark.parametrize("shell", SHELLS)
def test_plain_uv_is_not_offered_share(shell: str, tmp_path: Path, newest_uv: Path) -> None:
    """Loaded in a shell where `uv` is the real uv, the file completes uv as uv's own completion does, without share."""
    session = make_session(tmp_path, newest_uv.parent)
    first, sub = complete_lines(shell, ["uv s", "uv python in"], session)
    assert "sync" in first
    assert "share" not in first
    assert "install" in sub


# --- the files against the plumbum app ---


def plumbum_surface() -> dict[str, set[str]]:
    """Each `share` context (a subcommand, or "" for share itself) and the switches the plumbum app binds there."""
    from plumbum import cli

    from uvshare.admin.app import Share

    def switches(app: cli.Application) -> set[str]:
        return {f"-{name}" if len(name) == 1 else f"--{name}" for name in app._switches_by_name}

    share = Share("uvshare share")
    surface = {"": switches(share)}
    for name, subcommand in share._subcommands.items():
        surface[name] = switches(subcommand.get()(f"uvshare share {name}"))
    return surface


@pytest.mark.parametrize("shell", SHELLS)
def test_files_match_the_share_app(shell: str, session: Session) -> None:
    """Each file offers exactly the subcommands registered on Share, and for each exactly the switches plumbum binds."""
    surface = plumbum_surface()
    subcommands = sorted(name for name in surface if name)
    prefixes = ["uvshare share ", "uvshare share -", *(f"uvshare share {name} -" for name in subcommands)]
    offered, *switches = complete_lines(shell, prefixes, session)
    assert set(offered) == set(subcommands), f"{FILES[shell].name} offers other share commands than Share registers"
    mismatched = {
        name or "share": {"missing": sorted(surface[name] - set(got)), "stale": sorted(set(got) - surface[name])}
        for name, got in zip(["", *subcommands], switches)
        if set(got) != surface[name]
    }
    assert mismatched == {}, f"{FILES[shell].name} is out of step with the plumbum app"


def test_surface_is_the_documented_one() -> None:
    """The share commands the completion files are written for are the ones registered on the plumbum app."""
    assert set(plumbum_surface()) - {""} == SHARE_COMMANDS


# --- `uvshare share completion SHELL` ---


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_file(shell: str, session: Session, uvshare_bin: Path) -> None:
    """`uvshare share completion SHELL` from the installed wheel prints the file's bytes, unchanged."""
    done = subprocess.run(
        [uvshare_bin / "uvshare", "share", "completion", shell], env=session.env, capture_output=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == FILES[shell].read_bytes()


def test_completion_command_unknown_shell(session: Session, uvshare_bin: Path) -> None:
    """An unknown shell: one error line naming the shells there are, exit 2."""
    done = subprocess.run(
        [uvshare_bin / "uvshare", "share", "completion", "tcsh"],
        env=session.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("uvshare: error: ") and done.stderr.count("\n") == 1
    assert all(name in done.stderr for name in ("tcsh", "bash", "zsh", "fish"))


@pytest.mark.parametrize("shell", SHELLS)
def test_scripts_are_package_data_of_the_wheel(shell: str, tmp_path: Path, uvshare_bin: Path) -> None:
    """The installed package carries the scripts itself (not read from this checkout), and Completion prints them."""
    probe = (
        "import sys\n"
        "from importlib import resources\n"
        "from uvshare.admin.completion import SCRIPTS, Completion\n"
        "packaged = resources.files('uvshare') / 'completions' / SCRIPTS[sys.argv[1]]\n"
        "assert packaged.is_file() and 'site-packages' in str(packaged), packaged\n"
        "Completion.run(['completion', sys.argv[1]])\n"
    )
    done = subprocess.run(
        [uvshare_bin / "python", "-I", "-c", probe, shell], capture_output=True, cwd=tmp_path, check=False
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == FILES[shell].read_bytes()


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_from_the_checkout(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    """From a source checkout (no package data next to the modules) the scripts come from completions/."""
    from uvshare.admin.completion import Completion

    _, status = Completion.run(["completion", shell], exit=False)
    assert status == 0
    assert capsys.readouterr().out == FILES[shell].read_text()


def test_unknown_shell_names_the_shells() -> None:
    """Completion raises the one uvshare error for an unknown shell, naming the valid ones."""
    from uvshare.admin.completion import Completion
    from uvshare.errors import UvshareError

    with pytest.raises(UvshareError, match=r"'tcsh'.*bash, zsh, fish"):
        Completion.run(["completion", "tcsh"], exit=False)


def test_every_script_is_shipped() -> None:
    """completions/ holds exactly the scripts Completion knows, which pyproject.toml lists as package data."""
    from uvshare.admin.completion import SCRIPTS

    assert (
        sorted(p.name for p in COMPLETIONS.iterdir())
        == sorted(SCRIPTS.values())
        == sorted(f.name for f in FILES.values())
    )
    pyproject = (harness.REPO / "pyproject.toml").read_text()
    assert all(f'"{name}"' in pyproject for name in SCRIPTS.values())


@pytest.mark.parametrize("shell", SHELLS)
def test_uvx_completes_as_the_real_uvx(shell: str, tmp_path: Path, uvshare_bin: Path, newest_uv: Path) -> None:
    """uvshare installed as uvx: the real uvx's own completion (through uvshare), and no `share` word."""
    alias = tmp_path / "alias-bin"
    alias.mkdir()
    (alias / "uvx").symlink_to(uvshare_bin / "uvshare")
    assert (newest_uv.parent / "uvx").exists()
    session = make_session(tmp_path, alias, uvshare_bin, newest_uv.parent)
    option, first = complete_lines(shell, ["uvx --pyth", "uvx --"], session)
    assert "--python" in option
    assert "--from" in first and "share" not in first
