"""Tiny wheels with one console script, written directly (no build backend, no network) for tool tests."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(dest: Path, name: str, version: str, message: str | None = None) -> Path:
    """Write `NAME-VERSION-py3-none-any.whl` into DEST: a module and a console script NAME printing MESSAGE."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    text = message if message is not None else f"{name} {version}"
    files = {
        f"{module}.py": f"def main():\n    print({text!r})\n".encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: uvshare-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\n{name} = {module}:main\n".encode(),
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


def tool_install_args(wheels: Path, spec: str, command: str = "uvshare") -> list[str]:
    """`COMMAND tool install SPEC` from the local wheels only, on Debian's Python (reachable by every user)."""
    return [command, "tool", "install", "--no-index", "--find-links", str(wheels), "--python", "/usr/bin/python3", spec]
