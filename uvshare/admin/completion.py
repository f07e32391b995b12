"""`uvshare share completion SHELL`: print the completion script uvshare ships for SHELL."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from uvshare.admin.common import Command
from uvshare.errors import UvshareError

# The files of the top-level completions/ dir, shipped in the wheel as the package data uvshare/completions/.
SCRIPTS = {"bash": "uvshare.bash", "zsh": "_uvshare", "fish": "uvshare.fish"}


def script(shell: str) -> str:
    """The completion script for SHELL, from the installed package or else from the source checkout."""
    name = SCRIPTS.get(shell)
    if name is None:
        raise UvshareError(f"unknown shell {shell!r}; the shells uvshare completes are {', '.join(SCRIPTS)}")
    installed = resources.files("uvshare") / "completions" / name
    if installed.is_file():
        return installed.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "completions" / name  # running from a source checkout
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    raise UvshareError(f"the {shell} completion script {name} is missing from the uvshare package; reinstall uvshare")


class Completion(Command):
    """Print the completion script for bash, zsh or fish."""

    DESCRIPTION = "Print the shell completion script for SHELL (bash, zsh or fish), to source or install."

    def main(self, shell: str) -> int:
        """Write the script, unchanged, to stdout."""
        sys.stdout.write(script(shell))
        return 0
