"""`uvshare share completion SHELL`: print the completion script uvshare ships for SHELL."""

from __future__ import annotations

import contextlib
import os
import sys
from importlib import resources
from pathlib import Path

from plumbum import cli

from uvshare.errors import UvshareError

# The files of the top-level completions/ dir, shipped in the wheel as the package data uvshare/completions/.
SCRIPTS = {"bash": "uvshare.bash", "zsh": "_uvshare", "fish": "uvshare.fish"}


def script(shell: str) -> bytes:
    """The completion script for SHELL, from the installed package or else from the source checkout."""
    name = SCRIPTS.get(shell)
    if name is None:
        raise UvshareError(f"unknown shell {shell!r}; the shells uvshare completes are {', '.join(SCRIPTS)}")
    installed = resources.files("uvshare") / "completions" / name
    if installed.is_file():
        return installed.read_bytes()
    checkout = Path(__file__).resolve().parents[2] / "completions" / name  # running from a source checkout
    if checkout.is_file():
        return checkout.read_bytes()
    raise UvshareError(f"the {shell} completion script {name} is missing from the uvshare package; reinstall uvshare")


class Completion(cli.Application):
    """Print the completion script for bash, zsh or fish."""

    DESCRIPTION = "Print the shell completion script for SHELL (bash, zsh or fish), to source or install."

    def main(self, shell: str) -> int:
        """Write the script's bytes unchanged to stdout."""
        data = script(shell)
        sys.stdout.flush()
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # `… | head`: stop quietly, and keep the interpreter's final flush from failing too
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        return 0


# plumbum's own --completions switch generates bash/fish scripts from the root app only: this command replaces it.
Completion.unbind_switches("--completions")
