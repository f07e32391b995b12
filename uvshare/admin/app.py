"""`uvshare share …`: the plumbum application; each subcommand is registered lazily, by import path."""

from __future__ import annotations

import os
import sys

from plumbum import cli

from uvshare import __version__
from uvshare.errors import UvshareError, message


def program_name() -> str:
    """`uv share` when uvshare runs under the name uv, else `uvshare share`."""
    name = os.path.basename(sys.argv[0]) if sys.argv else "uvshare"
    return "uv share" if name == "uv" else "uvshare share"


class Share(cli.Application):
    """uvshare's own commands: set up, check and repair the shared uv dirs."""

    PROGNAME = "uvshare share"
    VERSION = __version__
    DESCRIPTION = "Share one set of uv-managed Pythons and tools between the members of a Unix group."

    def main(self, *args: str) -> int:
        """With no subcommand: show the help."""
        if args:
            sys.stderr.write(message("error", f"unknown command {args[0]!r}; see '{self.PROGNAME} --help'"))
            return UvshareError.exit_code
        self.help()
        return 0


# plumbum's generated completion covers bash and fish only and its bash switch completion is broken: uvshare ships
# its own files (`share completion SHELL`).
Share.unbind_switches("--completions")


def run_admin(args: list[str]) -> int:
    """Run `share ARGS…`; uvshare errors become one line and exit status 2."""
    if args in (["--version"], ["-v"]):  # plumbum would print "uv share X" under the name uv: say whose version
        print(f"uvshare {__version__}")
        return 0
    Share.PROGNAME = program_name()
    try:
        _, status = Share.run([Share.PROGNAME, *args], exit=False)
    except UvshareError as e:
        sys.stderr.write(message("error", str(e)))
        return e.exit_code
    return int(status or 0)
