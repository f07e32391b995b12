"""doctor and repair on a box in use, with the real uv, as real users: each test one finding of issue 15 (each failed
before the change it came with)."""

from __future__ import annotations

import json
import re

from tests.support.harness import Sandbox
from tests.test_admin import legacy_tree


def test_doctor_and_repair_agree_about_hard_links_in_a_tree_taken_over_from_plain_uv(box: Sandbox) -> None:
    """Plain uv as root hard-links the cache's files into the tool env: every link lies in the shared dirs (tools
    and the closed cache), so doctor counts them for repair, as repair then fixes them — never "fix by hand"."""
    legacy_tree(box, python=False)
    cache = {(st.st_dev, st.st_ino) for p in (box.shared / "cache").rglob("*") if (st := p.lstat()).st_nlink > 1}
    tools = [p for p in (box.shared / "tools").rglob("*") if (p.lstat().st_dev, p.lstat().st_ino) in cache]
    assert tools, "plain uv made no hard link between the cache and the tool env: this test tests nothing"
    doctor = box.run("root", "uvshare", "share", "doctor")
    assert doctor.returncode == 1, str(doctor)
    assert "hard link" not in doctor.stdout and "by hand" not in doctor.stdout, doctor.stdout
    checks = json.loads(box.run("root", "uvshare", "share", "doctor", "--json").stdout)["checks"]
    assert not [c for c in checks if c["status"] == "warning" and "repair leaves alone" in c["message"]], checks
    dry = box.ok("root", "uvshare", "share", "repair", "--dry-run")
    assert "left alone" not in dry.stdout and re.search(r"hard links: [1-9]\d* would fix", dry.stdout), dry.stdout
    repaired = box.ok("root", "uvshare", "share", "repair")
    assert "left alone" not in repaired.stdout, repaired.stdout
    healthy = box.run("root", "uvshare", "share", "doctor")
    assert healthy.returncode == 0, str(healthy)
    assert all(p.stat().st_mode & 0o060 == 0o060 for p in tools if not p.is_symlink())
