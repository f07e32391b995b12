"""Unit tests: reading /proc/self/mountinfo and what NFS lock modes mean for uv."""

from __future__ import annotations

from uvshare.admin.mounts import lock_warning, mount_of, parse

SAMPLE = r"""22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:45 / /shared rw,relatime shared:20 - nfs4 fs1:/export/shared rw,vers=4.2,local_lock=none,addr=10.0.0.1
41 22 0:46 / /scratch rw,relatime - nfs fs2:/scratch rw,vers=3,local_lock=all,addr=10.0.0.2
42 22 0:47 / /proj\040space rw,relatime - nfs4 fs3:/proj rw,vers=4.1,local_lock=flock
43 22 0:48 / /tmp rw - tmpfs tmpfs rw
garbage line
"""


def test_parse_fields_and_escapes() -> None:
    mounts = parse(SAMPLE)
    assert [m.mount_point for m in mounts] == ["/", "/shared", "/scratch", "/proj space", "/tmp"]
    assert mounts[1].fstype == "nfs4" and mounts[1].source == "fs1:/export/shared"
    assert "local_lock=none" in mounts[1].options


def test_nfs_local_lock_modes() -> None:
    by_point = {m.mount_point: m for m in parse(SAMPLE)}
    assert lock_warning(by_point["/shared"]) is None
    assert lock_warning(by_point["/"]) is None
    scratch = lock_warning(by_point["/scratch"])
    assert scratch is not None and "local_lock=all" in scratch and "local to one node" in scratch
    proj = lock_warning(by_point["/proj space"])
    assert proj is not None and "local_lock=flock" in proj


def test_mount_of_picks_the_longest_mount_point() -> None:
    mounts = parse(SAMPLE)
    found = mount_of("/shared/uv/python", mounts)
    assert found is not None and found.mount_point == "/shared"
    root = mount_of("/sharedx/uv", mounts)
    assert root is not None and root.mount_point == "/"
