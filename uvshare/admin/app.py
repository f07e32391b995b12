"""`uvshare share …`: the plumbum application; each subcommand is registered lazily, by import path."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, TextIO

from uvshare import __version__
from uvshare.admin.common import Command, program_name, use_colors
from uvshare.errors import EXIT_PROBLEMS, UvshareError, say


class Share(Command):
    """uvshare's own commands: set up, check and repair the shared uv dirs."""

    PROGNAME = "uvshare share"
    VERSION = __version__
    CALL_MAIN_IF_NESTED_COMMAND = False
    DESCRIPTION = "Share one set of uv-managed Pythons and tools between the members of a Unix group."

    def main(self, *args: str) -> int:
        """With no subcommand: show the help."""
        if args:
            say("error", f"unknown command {args[0]!r}; see '{self.PROGNAME} --help'")
            return UvshareError.exit_code
        self.help()
        return 0


# Registered by import path: running one command never imports another's code.
Share.subcommand("init", "uvshare.admin.init.Init")
Share.subcommand("setup", "uvshare.admin.setup.Setup")
Share.subcommand("doctor", "uvshare.admin.doctor.Doctor")
Share.subcommand("repair", "uvshare.admin.repair.Repair")
Share.subcommand("kind", "uvshare.admin.kind.Kind")
Share.subcommand("config", "uvshare.admin.configcmd.ConfigCommand")
Share.subcommand("completion", "uvshare.admin.completion.Completion")
Share.subcommand("launcher", "uvshare.admin.launcher.Launcher")
Share.subcommand("module", "uvshare.admin.modules.Module")
Share.subcommand("teardown", "uvshare.admin.teardown.Teardown")


# What each command that takes an argument needs, for the one-line error when it is missing.
NEEDS = {
    "kind": "the kind of tree: shared or curated",
    "completion": "the shell: bash, zsh or fish",
    "launcher": "the launcher's path (e.g. /usr/local/bin/uv)",
}


def clean_help(text: str) -> str:
    """plumbum's help without its artefacts: `DIR:str` (every value is a string), a default said twice (`(default
    60); the default is 60`), and `.;` where a description that ends a sentence meets plumbum's `; see …`."""
    import re

    text = re.sub(r"(\b[A-Z][A-Z_-]*):str\b", r"\1    ", text)  # (padded: the columns stay aligned)
    text = re.sub(r"\(default(\s+)([^)\s]+)\);\s+the\s+default\s+is\s+\2\b", r"(default\1\2)", text)
    return text.replace(".;", ";")


def usable_stdout() -> None:
    """A closed stdout (`>&-`) becomes /dev/null; names that the terminal's encoding lacks are escaped, not fatal."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # for the life of the process
    elif isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def run_admin(args: list[str]) -> int:
    """Run `share ARGS…`; uvshare errors become one line and exit status 2; a broken stdout ends it quietly."""
    usable_stdout()
    try:
        return _run(args)
    except BrokenPipeError:  # `uv share doctor | head -1`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return 130


class UsageCatcher:
    """stdout while a `share` command runs: everything passes straight through (progress and waiting lines show as
    they happen), except plumbum's usage error — its "Error: …" line, a rule and the whole help — which is held, to
    become one line on stderr."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.state = "start"  # then "live" or "held"
        self.held: list[str] = []

    def write(self, text: str) -> int:
        if self.state == "start" and text:
            self.state = "held" if text.startswith("Error: ") else "live"
        if self.state == "held":
            self.held.append(text)
            return len(text)
        return self.real.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding: the real stream's
        return getattr(self.real, name)


def _run(args: list[str]) -> int:
    if args in (["--version"], ["-v"]):  # plumbum would print "uv share X" under the name uv: say whose version
        print(f"uvshare {__version__}")
        return 0
    use_colors()
    Share.PROGNAME = program_name()
    helping = not args or any(a in ("-h", "--help", "--help-all") for a in args)
    buffer = io.StringIO()  # help is cleaned of plumbum's artefacts before it is shown
    catcher = UsageCatcher(buffer if helping else sys.stdout)
    try:
        with contextlib.redirect_stdout(catcher):
            _, status = Share.run([Share.PROGNAME, *args], exit=False)
        if helping:
            print(clean_help(buffer.getvalue()), end="")
    except UvshareError as e:
        flush_stdout()
        say("error", str(e))
        return e.exit_code
    except OSError as e:  # a filesystem failure nobody planned for: still one line, never a traceback
        if isinstance(e, BrokenPipeError):
            raise
        flush_stdout()
        say("error", f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
        return UvshareError.exit_code
    if catcher.state == "held":
        usage = "".join(catcher.held).splitlines()[0].removeprefix("Error: ")
        command = f"{Share.PROGNAME} {args[0]}" if args and not args[0].startswith("-") else Share.PROGNAME
        if usage.startswith("Expected at least") and args and args[0] in NEEDS:  # plumbum's words for it
            usage = f"'{command}' needs {NEEDS[args[0]]}"
        say("error", f"{usage}; see '{command} --help'")
        return UvshareError.exit_code
    flush_stdout()
    return int(status or 0)


def flush_stdout() -> None:
    """Flush what the command wrote; a reader gone by then (`| head -1`) changes nothing about how it ended."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        Command.lose_stdout()
