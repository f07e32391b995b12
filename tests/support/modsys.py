"""The real module systems, Lmod (Debian's `lmod`) and Environment Modules (`environment-modules`), for tests that load
uvshare's modulefiles in bash, zsh and fish.

Debian 12 cannot install the two packages together (each `Conflicts:` the other: both define the shell function
`module` in /etc/profile.d). So each is used where it is installed, and otherwise its own Debian package is fetched
(`apt-get download`), unpacked below BASE and its absolute paths rewritten to point there: the same code, driven the
same way (`. INIT/bash`), only in another place. .ci/run installs lmod and what Environment Modules needs to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import harness

SHELLS = ("bash", "zsh", "fish")


@dataclass(frozen=True)
class ModuleSystem:
    """One module system: its Debian package, where its shell init scripts are, and the programs it runs."""

    name: str  # as tests are named: lmod, envmodules
    package: str
    init_dir: str  # where the package puts the init scripts (bash, zsh, fish)
    owned: tuple[str, ...]  # the package's own absolute paths, which an unpacked copy must be rewritten away from
    needs: tuple[str, ...]  # programs it runs, from other packages (.ci/run installs them)
    suffix: str  # of the modulefile it reads: ".lua" for Lmod, none for a Tcl modulefile


LMOD = ModuleSystem(
    "lmod",
    "lmod",
    "/usr/share/lmod/lmod/init",
    ("/usr/share/lmod", "/usr/lib/lmod", "/etc/lmod"),
    ("/usr/bin/lua5.3",),
    ".lua",
)
ENVIRONMENT_MODULES = ModuleSystem(
    "envmodules",
    "environment-modules",
    "/usr/share/modules/init",
    # (the modulecmd.tcl and library paths carry Debian's multiarch dir: matched with a pattern below)
    (
        "/usr/share/modules",
        "/etc/environment-modules",
        "/usr/lib/modulecmd.tcl",
        "/usr/bin/modulecmd",
        "/usr/bin/envml",
    ),
    ("/usr/bin/tclsh8.6",),
    "",
)
SYSTEMS = (LMOD, ENVIRONMENT_MODULES)


def init_script(system: ModuleSystem, shell: str) -> Path:
    """The script that defines SYSTEM's `module` command in SHELL: the installed package's, or an unpacked copy's."""
    missing = [p for p in system.needs if not os.access(p, os.X_OK)]
    if missing:
        message = f"{system.package} needs {', '.join(missing)} (see .ci/run's apt-get line)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    installed = Path(system.init_dir) / shell
    if installed.is_file():
        return installed
    root = unpacked(system)
    return root / system.init_dir.lstrip("/") / shell


def unpacked(system: ModuleSystem) -> Path:
    """SYSTEM's Debian package unpacked below BASE with its paths rewritten to lie there (once per machine and
    version, under a machine-wide lock); the root it is unpacked in."""
    with harness.machine_lock(f"unpack-{system.package}"):
        complete = sorted(harness.BASE.glob(f"{system.package}-*/.complete"))
        if complete:
            return complete[-1].parent
        work = Path(tempfile.mkdtemp(prefix=f".{system.package}-", dir=harness.public_dir(harness.BASE)))
        try:
            done = subprocess.run(
                ["apt-get", "download", system.package], cwd=work, capture_output=True, text=True, check=False
            )
            debs = list(work.glob(f"{system.package}_*.deb"))
            if done.returncode != 0 or not debs:
                pytest.fail(f"apt-get download {system.package} failed (run apt-get update first?): {done.stderr}")
            version = harness.run_root("dpkg-deb", "--field", debs[0], "Version").stdout.strip()
            target = harness.BASE / f"{system.package}-{version}"
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                harness.run_root("dpkg-deb", "--extract", debs[0], work / "root")
                relocate(work / "root", target, system)
                (work / "root").rename(target)
                (target / ".complete").touch()
                harness.make_public(target)
            return target
        finally:
            shutil.rmtree(work, ignore_errors=True)


def relocate(tree: Path, target: Path, system: ModuleSystem) -> None:
    """Rewrite SYSTEM's own absolute paths in the text files and symlinks unpacked in TREE to lie below TARGET."""
    owned = "|".join(re.escape(p) for p in sorted(system.owned, key=len, reverse=True))
    # Debian's multiarch dir (/usr/lib/x86_64-linux-gnu/modulecmd.tcl, …libtclenvmodules.so) for Environment Modules
    pattern = re.compile(rf"(?<![\w/.-])({owned}|/usr/lib/[\w-]+-linux-gnu\w*/(?:modulecmd\.tcl|libtclenvmodules\.so))")
    prefix = str(target)
    for path in tree.rglob("*"):
        if path.is_symlink():
            link = os.readlink(path)
            new = pattern.sub(lambda m: prefix + m.group(1), link)
            if new != link:
                path.unlink()
                path.symlink_to(new)
        elif path.is_file():
            data = path.read_bytes()
            if b"\0" in data:  # a binary: its strings cannot change length
                continue
            text = data.decode("utf-8", "surrogateescape")
            new = pattern.sub(lambda m: prefix + m.group(1), text)
            if new != text:
                path.write_bytes(new.encode("utf-8", "surrogateescape"))
