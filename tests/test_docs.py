"""The docs as a newcomer reads them: every fenced block is marked, every block a user pastes runs as written, every
relative link and anchor leads somewhere, and the README stays short.

The blocks of one `scenario=` in one file run in document order in one sandbox: a private mount namespace whose
/opt, /srv, /home, /usr/local, /var and /run are overlays of the machine's own (their upper dirs on a tmpfs of the
namespace's, so nothing a block writes reaches the machine), whose /etc is a copy of the machine's on that tmpfs,
whose /tmp is a fresh tmpfs and whose /root is a fresh home from /etc/skel (as on a new machine: not the test
machine's root with its own Pythons); a copy of
this checkout is at /usr/local/src/uvshare, where docs/install.md tells users to clone it. Each block runs as its
`user=` through a real login shell (`su - USER -c`, root's too: a clean login environment, not the test's). The
network's stand-ins — a local package index holding uvshare's dependencies, uv and the tools the docs install, and
the tests' Python mirror — reach pip and uv through their own environment variables, set for every login by the
sandbox's /etc/profile.d/zz-docs-test.sh: the blocks are never edited. Users and groups a block makes exist in the
sandbox's /etc alone, with ids from a range of their own (the sandbox's /etc/login.defs).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import docblocks, harness
from tests.support.docblocks import Block

OVERLAID = ("/opt", "/srv", "/home", "/usr/local", "/var", "/run")
README_WORDS = 2000
BLOCK_TIMEOUT = 600
# The tools the docs install with `uv tool install` / `uv pip install`, beyond uvshare's own dependencies and uv.
DOC_TOOLS = ("ruff",)
# Ids for the users and groups blocks make (the sandbox's login.defs): no account of the machine has them, so nothing
# a block runs as one of them is the machine's.
ID_RANGES = {"UID_MIN": 70000, "UID_MAX": 79999, "SYS_UID_MIN": 69000, "SYS_UID_MAX": 69999}
ID_LINES = "\n".join(f"{k} {v}\n{k.replace('UID', 'GID')} {v}" for k, v in ID_RANGES.items())

# Run as root inside `unshare --mount --pid --fork --mount-proc` (as its pid 1): the overlays, the checkout, the
# stand-ins; then it prints "ready" and waits on its stdin, so that the namespaces live as long as the test holds
# that pipe.
SETUP = r"""
set -eu
state=$1 clone=$2 profile=$3 ids=$4
mount -t tmpfs -o mode=0700 uvshare-docs "$state"
cd "$state"  # relative paths from here on: once /var is an overlay, "$state" names the lower dir, not the tmpfs
# /etc: a copy, not an overlay, so that the machine's own useradd holding /etc/passwd.lock (a test run beside this one)
# is not seen by the sandbox's: an overlay shows what appears in its lower dir; a lock taken then is not the sandbox's
cp -a /etc etc
rm -f etc/*.lock
mount --bind etc /etc
for dir in $OVERLAID; do
    name=$(printf %s "$dir" | tr / _)
    mkdir "upper$name" "work$name"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=upper$name,workdir=work$name" "$dir"
done
mount -t tmpfs -o mode=1777 uvshare-docs-tmp /tmp
mount -t tmpfs -o mode=0700 uvshare-docs-root /root
cp -a /etc/skel/. /root/
mkdir -p /usr/local/src
cp -a "$clone" /usr/local/src/uvshare
cp "$profile" /etc/profile.d/zz-docs-test.sh
chmod 0644 /etc/profile.d/zz-docs-test.sh
printf '%s\n' "$ids" | while read -r key value; do
    sed -i "/^[[:space:]]*$key[[:space:]]/d" /etc/login.defs
    printf '%s %s\n' "$key" "$value" >> /etc/login.defs
done
echo ready
exec cat >/dev/null
"""


def need_tools() -> None:
    """unshare, nsenter and su come with util-linux and login; under CI=true a skip is a failure."""
    harness.need_root()
    missing = [tool for tool in ("unshare", "nsenter", "su") if shutil.which(tool) is None]
    if missing:
        message = f"the doc scenarios need {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def simple_index(root: Path, wheels: list[Path]) -> Path:
    """A PEP 503 index in ROOT/simple over copies of WHEELS in ROOT/wheels, readable by every user; its path."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "wheels").mkdir(parents=True)
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        copy = root / "wheels" / wheel.name
        shutil.copyfile(wheel, copy)
        projects.setdefault(re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower(), []).append(copy)
    simple = root / "simple"
    simple.mkdir()
    for project, files in projects.items():
        links = "".join(
            f'<a href="../../wheels/{f.name}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">{f.name}</a>\n'
            for f in files
        )
        (simple / project).mkdir()
        (simple / project / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    listing = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{listing}</body></html>\n")
    harness.make_public(root)
    return simple


def tool_wheels() -> list[Path]:
    """The wheels of DOC_TOOLS (from the package index, through this machine's pip settings), fetched once per
    machine under a machine-wide lock."""
    dest = harness.BASE / "doc-wheels"
    with harness.machine_lock("doc-wheels"):
        if not (dest / ".complete").exists():
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps"]
            harness.run_root(*pip, "--python-version", "3.11", "--dest", tmp, *DOC_TOOLS, timeout=600)
            shutil.rmtree(dest, ignore_errors=True)
            (tmp / ".complete").touch()
            tmp.rename(dest)
    return sorted(dest.glob("*.whl"))


@pytest.fixture(scope="module")
def stand_ins(mirror: str, newest_uv: Path) -> Path:
    """What every sandbox gets (see make_stand_ins)."""
    need_tools()
    return make_stand_ins(mirror, newest_uv)


def make_stand_ins(mirror: str, newest_uv: Path) -> Path:
    """The login profile that points pip and uv at the local index and uv at the Python mirror (written into each
    sandbox's /etc/profile.d), and the copy of this checkout the sandboxes get, below this run's dir."""
    from tests.support.images import download_wheels

    base = harness.public_dir(harness.RUN_BASE / "docs")
    version = subprocess.run([newest_uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    index = simple_index(base / "index", [*download_wheels(version).glob("*.whl"), *tool_wheels()])
    profile = base / "zz-docs-test.sh"
    profile.write_text(
        "# tests/test_docs.py's stand-ins for the network, in its sandboxes only\n"
        f"export PIP_INDEX_URL={index.as_uri()} PIP_DISABLE_PIP_VERSION_CHECK=1\n"
        f"export UV_INDEX_URL={index.as_uri()} UV_PYTHON_DOWNLOADS_JSON_URL={mirror}\n"
    )
    profile.chmod(0o644)
    clone = base / "uvshare"
    shutil.rmtree(clone, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=harness.REPO, capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        source = harness.REPO / name
        if source.is_file():  # a file deleted in the working tree is not in a clone made from it
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, clone / name)
            (clone / name).chmod(0o755 if source.stat().st_mode & 0o100 else 0o644)
    harness.make_public(clone)
    return base


class DocSandbox:
    """A private mount namespace with the overlays, held open by a process this test started (ended with it)."""

    def __init__(self, base: Path, name: str) -> None:
        self.state = base / "state" / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir(parents=True, mode=0o700)
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "OVERLAID": " ".join(OVERLAID),
        }
        # a PID namespace too: when the holder (its pid 1) ends, the kernel ends whatever a block left running
        namespaces = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc"]
        cmd = [*namespaces, "--", "sh", "-c", SETUP, "sh"]
        self.holder = subprocess.Popen(
            [*cmd, str(self.state), str(base / "uvshare"), str(base / "zz-docs-test.sh"), ID_LINES],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.holder.stdout is not None
        if self.holder.stdout.readline() != "ready\n":
            self.close()
            assert self.holder.stderr is not None
            raise RuntimeError(f"the doc sandbox could not be set up: {self.holder.stderr.read()}")

    def enter(self, *cmd: str) -> list[str]:
        ns = f"/proc/{self.holder.pid}/ns"  # unshare's own: its mount namespace, its children's PID namespace
        return ["nsenter", f"--mount={ns}/mnt", f"--pid={ns}/pid_for_children", "--", *cmd]

    def run(self, block: Block) -> tuple[int, str]:
        """BLOCK's text as a script (stopping at the first command that fails) in its user's login shell; a `file=`
        block's text written to its path (parents made) by its user, as an editor would. Exit status and output (in
        a file, not a pipe: what a block leaves running in the background holds no pipe open)."""
        if block.kind == "file":
            path = shlex.quote(block.marker["file"] if block.marker else "")
            script, stdin = f'mkdir -p "$(dirname {path})" && cat > {path}', block.text
        else:
            script, stdin = f"set -e\n{block.text}", ""
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(
                self.enter("su", "-", block.user, "-c", script),
                input=stdin,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=BLOCK_TIMEOUT,
                check=False,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                cwd="/",
            )
            out.seek(0)
            return done.returncode, out.read()

    def close(self) -> None:
        """End the holder (closing its stdin ends its `cat`); the namespace goes with its last process."""
        if self.holder.stdin:
            self.holder.stdin.close()
        try:
            self.holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.holder.kill()  # the test's own process
            self.holder.wait()
        shutil.rmtree(self.state, ignore_errors=True)


def groups() -> dict[tuple[str, str], list[Block]]:
    """The scenarios; a marker error here is test_every_block_is_marked's to report."""
    try:
        return docblocks.scenarios()
    except docblocks.MarkerError:
        return {}


SCENARIOS = groups()


@pytest.fixture
def sandbox(stand_ins: Path, request: pytest.FixtureRequest) -> Iterator[DocSandbox]:
    box = DocSandbox(stand_ins, request.node.name)
    try:
        yield box
    finally:
        box.close()


def run_blocks(box: DocSandbox, blocks: list[Block]) -> None:
    """BLOCKS in order in BOX: each exits with its `status=` (default 0) and prints its `expect=`, and a `file=` block
    is written where it says; the first that does not fails the test, naming its file:line and showing its output."""
    for block in blocks:
        try:
            returncode, output = box.run(block)
        except subprocess.TimeoutExpired:
            box.close()  # ends what the block started: everything in the sandbox's PID namespace
            pytest.fail(f"{block.where} (as {block.user}) did not end within {BLOCK_TIMEOUT} s:\n{block.text}")
        status = 0 if block.kind == "file" else block.status
        shown = f"{block.where} (as {block.user}):\n{block.text}--- exit {returncode}, output:\n{output}"
        assert returncode == status, f"expected exit {status}: {shown}"
        assert block.expect in output, f"expected {block.expect!r} in the output: {shown}"


@pytest.mark.parametrize("key", sorted(SCENARIOS), ids=[f"{f}::{s}" for f, s in sorted(SCENARIOS)])
def test_scenario_runs_as_written(key: tuple[str, str], sandbox: DocSandbox) -> None:
    """The blocks of one scenario, in document order in one sandbox, each as its user in a login shell."""
    run_blocks(sandbox, SCENARIOS[key])


PROBE_DOC = """# A probe

1. Make things everywhere:

   <!-- test: scenario=probe user=root -->
   ```sh
   useradd -m {user} && touch {marks}
   sleep 600 &
   ```

<!-- test: file=/etc/{user}-conf/conf.toml scenario=probe user=root -->
```toml
key = "value"
```

<!-- test: scenario=probe user={user} expect='key = "value"' -->
```sh
cat /etc/{user}-conf/conf.toml && id -u
```

<!-- test: scenario=probe user={user} status=3 expect="went wrong" -->
```sh
echo it went wrong; exit 3
echo never here
```

<!-- test: scenario=probe user={user} -->
```sh
false
echo "went $((1 + 1)) commands far"
```
"""


def in_namespace(pid_ns: str) -> list[str]:
    """The processes (their /proc entries) whose PID namespace is PID_NS (`pid:[inode]`): read, never signalled."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "ns" / "pid") == pid_ns:
                found.append(proc.name)
        except OSError:  # gone meanwhile
            continue
    return found


def test_a_scenario_checks_each_block_and_leaves_the_machine_as_it_was(stand_ins: Path, tmp_path: Path) -> None:
    """The runner on a doc of its own: a block in a list item makes an account and files in every overlaid dir, /tmp
    and /root; a written file is read back by that account (whose uid is from the sandbox's own range); an expected
    failure passes; a block whose middle command fails is reported by file:line with its output. Afterwards the
    machine has none of it: no account, no file, no process the blocks left running."""
    user = f"docprobe{os.getpid()}"
    paths = [f"{d}/{user}" for d in (*OVERLAID, "/etc", "/tmp", "/root")]
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(PROBE_DOC.format(user=user, marks=" ".join(paths)))
    (blocks,) = docblocks.scenarios(tmp_path).values()
    box = DocSandbox(stand_ins, "probe")
    try:
        run_blocks(box, blocks[:4])
        id_line = box.run(blocks[2])[1].splitlines()[-1]
        assert ID_RANGES["UID_MIN"] <= int(id_line) <= ID_RANGES["UID_MAX"], id_line
        with pytest.raises(AssertionError) as failed:
            run_blocks(box, blocks[4:])
        assert f"expected exit 0: {blocks[4].where} (as {user})" in str(failed.value), str(failed.value)
        assert "went 2 commands far" not in str(failed.value), str(failed.value)  # it stopped at `false`
        pids = os.readlink(f"/proc/{box.holder.pid}/ns/pid_for_children")
        assert in_namespace(pids), "the block's `sleep 600 &` is not running in the sandbox"
    finally:
        box.close()
    for _ in range(50):  # the kernel ends the namespace's processes when its pid 1 ends; reaping takes a moment
        if not in_namespace(pids):
            break
        time.sleep(0.1)
    assert not in_namespace(pids), "processes of a closed sandbox still run"
    assert not [p for p in [*paths, f"/etc/{user}-conf"] if os.path.lexists(p)]
    assert subprocess.run(["getent", "passwd", user], capture_output=True, check=False).returncode == 2


def marker_problems(root: Path = harness.REPO) -> list[str]:
    """What is wrong with the markers of the docs below ROOT: one line per block, naming its file:line."""
    problems = []
    for path in docblocks.doc_files(root):
        try:
            found = docblocks.blocks_of(path, root)
        except docblocks.MarkerError as e:
            problems.append(str(e))
            continue
        for block in found:
            try:
                block.kind  # noqa: B018  # raises for a missing or wrong marker
            except docblocks.MarkerError as e:
                problems.append(str(e))
    return problems


def test_every_block_is_marked() -> None:
    """Every fenced block of README.md and docs/ says what the tests do with it (a `<!-- test: … -->` line before
    it): run, written, built, or not pasted for a stated reason."""
    problems = marker_problems()
    assert not problems, "\n".join(problems)


def unbuilt(root: Path = harness.REPO) -> list[str]:
    """The `build=` blocks of the docs below ROOT that ROOT's tests/test_images.py does not claim, or that share a
    name: one line each."""
    images = (root / "tests" / "test_images.py").read_text()
    builds: dict[str, list[str]] = {}
    for block in docblocks.all_blocks(root):
        if block.marker and "build" in block.marker:
            builds.setdefault(block.marker["build"], []).append(block.where)
    problems = [f"{', '.join(where)}: build={name} is not unique" for name, where in builds.items() if len(where) > 1]
    problems += [
        f"{where[0]}: build={name}: no test in tests/test_images.py builds it"
        for name, where in builds.items()
        if not re.search(rf"[\"']{re.escape(name)}[\"']", images)
    ]
    return problems


def test_every_dockerfile_is_built_by_a_test() -> None:
    """Each `build=NAME` block is claimed by tests/test_images.py, which builds it from the docs' text: NAME appears
    there as a string, and no two blocks share a NAME."""
    problems = unbuilt()
    assert not problems, "\n".join(problems)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of PATH's headings (outside fenced blocks), repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text().splitlines():
        if docblocks.FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            found.add(f"{base}-{seen[base]}" if base in seen else base)
            seen[base] = seen.get(base, 0) + 1
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """(line, target) of every inline and reference link in PATH, outside fenced blocks and code spans."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if docblocks.FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = re.sub(r"`[^`]*`", "", line)
        for match in re.finditer(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)", prose):
            yield number, match.group(1) or match.group(2)


def broken_links(root: Path = harness.REPO) -> list[str]:
    """The relative links of the docs below ROOT that lead nowhere: one line each, naming its file:line."""
    broken = []
    for path in docblocks.doc_files(root):
        for number, target in links(path):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            where = f"{path.relative_to(root)}:{number}: ({target})"
            if not dest.exists() or root not in (dest, *dest.parents):
                broken.append(f"{where} no such file")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                broken.append(f"{where} no heading with that anchor in {dest.relative_to(root)}")
    return broken


def test_relative_links_and_anchors_lead_somewhere() -> None:
    """Every relative link in README.md and docs/ names a file of the repository, and every `#anchor` a heading of
    its file (GitHub's rules for anchors)."""
    broken = broken_links()
    assert not broken, "\n".join(broken)


def test_readme_is_short() -> None:
    """The README stays a page a newcomer reads in minutes: at most 2,000 words, counted as `wc -w` counts."""
    words = len((harness.REPO / "README.md").read_bytes().split())
    assert words <= README_WORDS, f"README.md has {words} words (at most {README_WORDS}): move reference text to docs/"


def test_slugs_are_githubs() -> None:
    """Anchors as GitHub makes them: punctuation and code marks dropped, spaces as hyphens, a link's text kept."""
    assert slug("Installing uvshare as `uv` and `uvx`") == "installing-uvshare-as-uv-and-uvx"
    assert slug("Quick start: a shared server or JupyterHub") == "quick-start-a-shared-server-or-jupyterhub"
    assert slug("In an image that has no Python yet: `recipes/image-install.sh`") == (
        "in-an-image-that-has-no-python-yet-recipesimage-installsh"
    )
    assert slug("See [the trust model](trust-model.md) — root_squash") == "see-the-trust-model--root_squash"


def test_the_checks_find_what_is_wrong(tmp_path: Path) -> None:
    """On docs of their own, the marker and link checks name each fault by file:line: a block without a marker, `no`
    without a reason, an unknown key, a Python block to run, a scenario-less block (indented in a list item too); a
    link to a missing file, to a missing anchor; and they pass a good anchor (a repeated heading's `-1` too), a link in
    a code span, a web link; a Dockerfile no test builds, two that share a name."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_images.py").write_text('BUILT = ("docker-single", "twice")\n')
    (tmp_path / "docs" / "c.md").write_text(
        "<!-- test: build=docker-single -->\n```dockerfile\nFROM x\n```\n\n<!-- test: build=docker-multi -->\n"
        "```dockerfile\nFROM x\n```\n\n<!-- test: build=twice -->\n```dockerfile\n```\n\n"
        "<!-- test: build=twice -->\n```dockerfile\n```\n"
    )
    (tmp_path / "README.md").write_text(
        "# Top\n\n## Same\n\n## Same\n\n[a](docs/b.md#a-heading) [b](#same-1) `[c](nowhere.md)` [d](https://x.y/z)\n"
        "[e](missing.md) [f](docs/b.md#nope)\n\n```sh\necho unmarked\n```\n"
    )
    (tmp_path / "docs" / "b.md").write_text(
        "# A heading\n\n<!-- test: no -->\n```\nx\n```\n\n<!-- test: colour=blue -->\n```sh\nx\n```\n\n"
        "<!-- test: scenario=s -->\n```python\nx\n```\n\n"
        "1. step\n\n   <!-- test: user=root -->\n   ```sh\n   x\n   ```\n"
    )
    assert broken_links(tmp_path) == [
        "README.md:8: (missing.md) no such file",
        "README.md:8: (docs/b.md#nope) no heading with that anchor in docs/b.md",
    ]
    problems = marker_problems(tmp_path)
    assert [p.split(": ")[0] for p in problems] == [
        "README.md:10",
        "docs/b.md:4",
        "docs/b.md:9",
        "docs/b.md:14",
        "docs/b.md:21",
    ], problems
    assert "without a `<!-- test: … -->` line" in problems[0] and "needs a reason" in problems[1], problems
    assert "unknown key(s) colour" in problems[2] and "only shell blocks run" in problems[3], problems
    assert "needs scenario=NAME" in problems[4], problems
    assert unbuilt(tmp_path) == [
        "docs/c.md:12, docs/c.md:16: build=twice is not unique",
        "docs/c.md:7: build=docker-multi: no test in tests/test_images.py builds it",
    ]
