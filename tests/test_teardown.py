"""`share teardown` removes only what uvshare made, says what it leaves, and --dry-run removes nothing.

(The whole round — the README's first line, then the undo it prints, an account made and removed — runs in
tests/test_first_line.py, in a namespace with its own /etc; here nothing in /etc is made or removed.)
"""

from __future__ import annotations

from tests.support.harness import INSTALLER, Sandbox


def test_teardown_leaves_what_uvshare_did_not_make_and_dry_run_removes_nothing(box1: Sandbox) -> None:
    """A config written by hand stays (exit 1); an install-user uvshare did not make stays; --dry-run says what it
    would remove and removes nothing; then the config init wrote goes, with its link-mode record, and the tree's
    data stays, with the rm -rf that would remove it."""
    box = box1
    by_hand = box.run("root", "uvshare", "share", "teardown", "--config", box.config)
    assert by_hand.returncode == 1, str(by_hand)
    assert f"! left {box.config}: 'share init' did not write it" in by_hand.stdout, str(by_hand)
    assert f"· left the account {INSTALLER}: uvshare did not make it" in by_hand.stdout, str(by_hand)
    assert box.config.exists()

    box.config.unlink()
    box.ok("root", *box.init_args())
    record = box.config.with_name(box.config.name + ".link-mode")
    assert record.exists()
    dry = box.ok("root", "uvshare", "share", "teardown", "--config", box.config, "--dry-run")
    assert f"· would remove the config {box.config}" in dry.stdout, str(dry)
    assert "nothing was removed (--dry-run)" in dry.stdout, str(dry)
    assert box.config.exists() and record.exists()

    done = box.ok("root", "uvshare", "share", "teardown", "--config", box.config)
    assert f"✓ removed the config {box.config}" in done.stdout, str(done)
    assert f"✓ removed {record}" in done.stdout, str(done)
    assert f"'rm -rf {box.shared}' removes it" in done.stdout, str(done)
    assert not box.config.exists() and not record.exists()
    assert (box.shared / "python").is_dir() and (box.shared / "cache").is_dir()  # the data stays

    gone = box.run("root", "uvshare", "share", "teardown", "--config", box.config)
    assert gone.returncode == 2 and gone.stderr.startswith("uvshare: error: "), str(gone)
    assert len(gone.stderr.splitlines()) == 1 and "no such config" in gone.stderr, str(gone)
