"""Tiny wheels with one console script, written directly (no build backend, no network) for tool tests."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(
    dest: Path, name: str, version: str, message: str | None = None, extra: Mapping[str, bytes] | None = None
) -> Path:
    """Write `NAME-VERSION-py3-none-any.whl` into DEST: a module and a console script NAME printing MESSAGE (and the
    EXTRA files, by path inside the wheel)."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    text = message if message is not None else f"{name} {version}"
    files = {
        f"{module}.py": f"def main():\n    print({text!r})\n".encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: uvshare-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\n{name} = {module}:main\n".encode(),
        **(extra or {}),
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    path.chmod(0o644)
    return path


def wheels_dir(dest: Path, *specs: tuple[str, str]) -> Path:
    """DEST (every user may read it) with a wheel for each (name, version) of SPECS."""
    for name, version in specs:
        make_wheel(dest, name, version)
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    return dest


def tool_install_args(wheels: Path, spec: str, command: str = "uvshare") -> list[str]:
    """`COMMAND tool install SPEC` from the local wheels only, on Debian's Python (reachable by every user)."""
    return [command, "tool", "install", "--no-index", "--find-links", str(wheels), "--python", "/usr/bin/python3", spec]


# A PEP 517 backend kept inside the sdist itself (`backend-path`), so that building needs nothing from an index.
BACKEND = """
import base64, hashlib, zipfile

NAME, MODULE, VERSION = {name!r}, {module!r}, {version!r}


def get_requires_for_build_wheel(config_settings=None):
    return []


def _line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{{name}},sha256={{digest}},{{len(data)}}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = f"{{MODULE}}-{{VERSION}}.dist-info"
    files = {{
        f"{{MODULE}}.py": open(f"{{MODULE}}.py", "rb").read(),
        f"{{dist}}/METADATA": f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode(),
        f"{{dist}}/WHEEL": (
            b"Wheel-Version: 1.0\\nGenerator: uvshare-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
        ),
    }}
    record = [_line(n, d) for n, d in files.items()] + [f"{{dist}}/RECORD,,"]
    files[f"{{dist}}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    wheel = f"{{MODULE}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(f"{{wheel_directory}}/{{wheel}}", "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return wheel
"""


def make_sdist(dest: Path, name: str, version: str) -> Path:
    """Write `NAME-VERSION.tar.gz` into DEST: an sdist whose module says hello, built by a backend inside it."""
    import io
    import tarfile

    module = name.replace("-", "_")
    top = f"{module}-{version}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "pyproject.toml": (
            f'[project]\nname = "{name}"\nversion = "{version}"\n\n'
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        ),
        "backend.py": BACKEND.format(name=name, module=module, version=version),
        f"{module}.py": f"def hello():\n    return {name + ' ' + version!r}\n",
    }
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    path.chmod(0o644)
    return path
