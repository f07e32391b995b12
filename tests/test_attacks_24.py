"""The attack review of issue 24's changes, as tests: each mounts a member's (or outsider's) attack for real and
fails on the code before its fix. See tests/test_attacks.py for the earlier review."""

from __future__ import annotations

from pathlib import Path

from tests.support.harness import Sandbox


def test_root_curated_install_ignores_a_members_uv_toml(box1: Sandbox) -> None:
    """A member's `uv.toml` in the team project dir (uv reads the nearest one upward from the current dir) names
    where Pythons come from. Root's `uv python install` on a curated tree runs as its install-user, which owns the
    tree members cannot write: from a dir below the project dir it would have installed the member's choice of
    Python into the curated tree that every member (and root's own uv) runs. Root is refused there, as root's
    other commands are; nothing lands in the tree."""
    box = box1
    project = box.root / "proj"
    box.ok("root", *box.init_args("--curated", "--force", "--project-dir", str(project)))
    work = project / "alice-work"
    box.ok("alice", "mkdir", work)
    pythons = work / "pythons.json"  # her copy: she could point each version at a build of her own making
    box.ok("alice", "cp", box.mirror, pythons)
    box.ok("alice", "sh", "-c", f"echo 'python-downloads-json-url = \"{pythons}\"' > {project / 'uv.toml'}")

    # (root names no downloads list of its own: uv's would be used, but for the member's file)
    env: dict[str, str] = {"UV_PYTHON_DOWNLOADS_JSON_URL": None}  # type: ignore[dict-item]  # (None: unset)
    done = box.run("root", "uvshare", "python", "install", "3.12", cwd=work, env=env)
    assert not list(Path(box.shared, "python").glob("cpython-3.12*")), f"a member chose a curated Python: {done}"
    assert done.returncode == 2 and "uvshare: error:" in done.stderr and str(project) in done.stderr, str(done)
    assert "Traceback" not in done.stderr, str(done)
