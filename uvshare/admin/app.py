"""`uvshare share …`: the plumbum application; each subcommand is registered lazily, by import path."""

from __future__ import annotations

import contextlib
import io
import sys

from uvshare import __version__
from uvshare.admin.common import Command, program_name
from uvshare.errors import UvshareError, message


class Share(Command):
    """uvshare's own commands: set up, check and repair the shared uv dirs."""

    PROGNAME = "uvshare share"
    VERSION = __version__
    CALL_MAIN_IF_NESTED_COMMAND = False
    DESCRIPTION = "Share one set of uv-managed Pythons and tools between the members of a Unix group."

    def main(self, *args: str) -> int:
        """With no subcommand: show the help."""
        if args:
            sys.stderr.write(message("error", f"unknown command {args[0]!r}; see '{self.PROGNAME} --help'"))
            return UvshareError.exit_code
        self.help()
        return 0


# Registered by import path: running one command never imports another's code.
Share.subcommand("setup", "uvshare.admin.setup.Setup")
Share.subcommand("doctor", "uvshare.admin.doctor.Doctor")
Share.subcommand("repair", "uvshare.admin.repair.Repair")
Share.subcommand("config", "uvshare.admin.configcmd.ConfigCommand")
Share.subcommand("completion", "uvshare.admin.completion.Completion")
Share.subcommand("launcher", "uvshare.admin.launcher.Launcher")


def run_admin(args: list[str]) -> int:
    """Run `share ARGS…`; uvshare errors become one line and exit status 2."""
    if args in (["--version"], ["-v"]):  # plumbum would print "uv share X" under the name uv: say whose version
        print(f"uvshare {__version__}")
        return 0
    Share.PROGNAME = program_name()
    # plumbum prints a usage error ("Error: Unknown switch --x") and the whole help on stdout; hold the output so
    # that such an error becomes one line on stderr instead.
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            _, status = Share.run([Share.PROGNAME, *args], exit=False)
    except UvshareError as e:
        sys.stdout.write(out.getvalue())
        sys.stderr.write(message("error", str(e)))
        return e.exit_code
    text = out.getvalue()
    if status == UvshareError.exit_code and text.startswith("Error: "):
        usage = text.splitlines()[0].removeprefix("Error: ")
        command = f"{Share.PROGNAME} {args[0]}" if args and not args[0].startswith("-") else Share.PROGNAME
        sys.stderr.write(message("error", f"{usage}; see '{command} --help'"))
        return UvshareError.exit_code
    sys.stdout.write(text)
    return int(status or 0)
