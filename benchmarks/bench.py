"""Benchmark uvshare against the real uv: pass-through, skip path, cold first call, doctor and repair at scale.

Run by hand (as root or any user; it makes its own shared tree with your own group):

    python3 benchmarks/bench.py            # 30 runs of each, alternating; doctor and repair on 10,000 and 200,000
    python3 benchmarks/bench.py --quick    # 3 runs, 10,000 entries: only shows that it still works (CI)
    python3 benchmarks/bench.py --link-modes-only   # only the UV_LINK_MODE tables below
    python3 benchmarks/bench.py --filesystems-only  # only the per-filesystem table (root: loop filesystems)

It prints a Markdown table of medians; docs/speed.md carries the latest one. The skip-path rows need a managed Python:
it installs one from the local mirror the tests build (pyenv's CPython builds), or uses --python-json.

A second table prices UV_LINK_MODE=copy (a venv's files its own, so that no group member can change another's venv
through the shared cache) against hardlink and clone: a large synthetic package set (--link-set), installed offline
into fresh venvs from a warm cache on one filesystem (--link-dir), timed, and the venv's own disk counted. As root, a
third table does the same on loop filesystems it makes (ext4; XFS with reflink=1, from xfsprogs; btrfs, from
btrfs-progs): uvshare's link mode (what root's reflink probe picks there), copy and clone, as ratios to plain uv's
default, and ten members' venvs kept at once. The per-call cost of the launcher (`uv --version`, `uv run python -c
pass`, `uvx TOOL --version`) is printed as ratios to plain uv as well.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import itertools
import os
import platform
import re
import shutil
import stat
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_PASS_THROUGH_MS = 15.0
BUDGET_LAUNCHER_WORK_MS = 2.0  # the fast launcher's own work above the interpreter's floor and uv's own run
BUDGET_ADMIN_MS = 1000.0
BUDGET_ADMIN_AT_SCALE_MS = 3000.0
SMALL_TREE, BIG_TREE = 10_000, 200_000
MIRROR = Path("/var/tmp/uvshare-tests/mirror")  # noqa: S108  # the tests' mirror, shared on purpose
LINK_MODES = ("copy", "hardlink", "clone")
LINK_SET, LINK_SET_QUICK = "20,5000,300", "3,60,2"  # packages, files, MB: thousands of files and hundreds of MB
MKFS = {  # the loop filesystems of the per-filesystem table (root only): Debian's e2fsprogs, xfsprogs, btrfs-progs
    "ext4": ["mkfs.ext4", "-q", "-F"],
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
}
FS_IOC_FIEMAP, FIEMAP_FLAG_SYNC, FIEMAP_EXTENT_SHARED = 0xC020660B, 0x1, 0x2000  # from linux/fs.h and linux/fiemap.h


def find_real_uv() -> str:
    """The real uv: UVSHARE_UV, else the first `uv` on PATH that is not a uvshare launcher."""
    if os.environ.get("UVSHARE_UV"):
        return os.environ["UVSHARE_UV"]
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(entry or ".", "uv")
        if (
            candidate.is_file()
            and os.access(candidate, os.X_OK)
            and b"uvshare.shim" not in candidate.read_bytes()[:1024]
        ):
            return str(candidate)
    sys.exit("bench: no real uv on PATH (pip install uv)")


def timed_with_memory(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Milliseconds one run of CMD takes, and its peak memory (MB, from wait4's rusage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return (time.perf_counter() - start) * 1000, usage.ru_maxrss / 1024


def timed(cmd: list[str], env: dict[str, str], before: list[str] | None = None) -> float:
    """Milliseconds one run of CMD takes (BEFORE, if given, is removed first and not timed)."""
    for path in before or ():
        shutil.rmtree(path, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def install_uvshare(uv: str, work: Path, interpreter: str) -> str:
    """Install this checkout the way an image would (`uv tool install`, bytecode compiled); its launcher."""
    env = {**os.environ, "UV_TOOL_DIR": str(work / "install"), "UV_TOOL_BIN_DIR": str(work / "install-bin")}
    for var in ("UVSHARE_CONFIG", "VIRTUAL_ENV"):
        env.pop(var, None)
    subprocess.run(
        [uv, "tool", "install", "--quiet", "--compile-bytecode", "--python", interpreter, str(REPO)],
        env=env,
        check=True,
    )
    return str(work / "install-bin" / "uvshare")


def config_text(uv: str, top: Path) -> str:
    """A full shared config below TOP, for the caller's own group."""
    keys = {
        "python-install-dir": "python",
        "python-bin-dir": "bin",
        "python-cache-dir": "python-cache",
        "tool-dir": "tools",
        "tool-bin-dir": "tool-bin",
        "cache-dir": "cache",
    }
    return f'group = {os.getegid()}\nuv = "{uv}"\n' + "".join(f'{k} = "{top / d}"\n' for k, d in keys.items())


def make_tree(top: Path, entries: int) -> None:
    """About ENTRIES files and dirs below TOP, a few levels deep (like a tool's venv)."""
    made = 0
    for i in range(entries // 101 + 1):
        sub = top / f"pkg{i:05d}" / "lib"
        sub.mkdir(parents=True, exist_ok=True)
        made += 2
        for j in range(100):
            if made >= entries:
                return
            fd = os.open(sub / f"m{j:03d}.py", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x = 1\n")
            os.close(fd)
            made += 1


def break_tree(top: Path) -> None:
    """Leave TOP group-unfriendly (files 0644, dirs 0755, no ACLs), as plain uv as root would: repair fixes it all."""
    subprocess.run(["chmod", "-R", "u=rwX,go=rX", str(top)], check=True)
    if shutil.which("setfacl"):
        subprocess.run(["setfacl", "-R", "-b", str(top)], check=True)


def file_sizes(files: int, total: int) -> list[int]:
    """FILES sizes adding up to TOTAL bytes, as many in each of twelve octaves (many small files, a few big ones)."""
    weights = [1 << (i * 7 % 12) for i in range(files)]
    sizes = [max(1, w * total // sum(weights)) for w in weights]
    sizes[sizes.index(max(sizes))] += total - sum(sizes)
    return sizes


def record_line(name: str, data: bytes) -> str:
    """NAME's line in a wheel's RECORD."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_big_wheel(dest: Path, name: str, sizes: list[int]) -> None:
    """Write `NAME-1.0-py3-none-any.whl` into DEST: package NAME, files of SIZES random bytes (stored), RECORD."""
    dist = f"{name}-1.0.dist-info"
    payload = ((f"{name}/sub{i // 100:02d}/m{i:04d}.bin", os.urandom(size)) for i, size in enumerate(sizes))
    meta = [
        (f"{name}/__init__.py", b""),
        (f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()),
        (f"{dist}/WHEEL", b"Wheel-Version: 1.0\nGenerator: uvshare-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = []
    with zipfile.ZipFile(dest / f"{name}-1.0-py3-none-any.whl", "w") as zf:
        for arcname, data in itertools.chain(payload, meta):
            zf.writestr(arcname, data)
            record.append(record_line(arcname, data))
        zf.writestr(f"{dist}/RECORD", "\n".join([*record, f"{dist}/RECORD,,"]) + "\n")


def make_link_set(dest: Path, packages: int, files: int, megabytes: int) -> list[str]:
    """PACKAGES wheels in DEST holding FILES files of MEGABYTES MB in all (and 4 small files each); their names."""
    sizes = file_sizes(files, megabytes << 20)
    dest.mkdir(parents=True)
    names = [f"bigpkg{i:03d}" for i in range(packages)]
    for i, name in enumerate(names):
        write_big_wheel(dest, name, sizes[i::packages])
    return names


def reflinked(path: str) -> bool:
    """Whether PATH's first extent is shared with another file (FIEMAP's SHARED flag: a reflink, or a snapshot)."""
    request = bytearray(struct.pack("=QQIIII", 0, 2**64 - 1, FIEMAP_FLAG_SYNC, 0, 1, 0) + bytes(56))
    try:
        with open(path, "rb") as f:
            fcntl.ioctl(f, FS_IOC_FIEMAP, request)
    except OSError:  # no FIEMAP here (tmpfs, some network filesystems): no reflinks either
        return False
    mapped, flags = struct.unpack_from("=I", request, 20)[0], struct.unpack_from("=I", request, 32 + 40)[0]
    return mapped > 0 and bool(flags & FIEMAP_EXTENT_SHARED)


def venv_blocks(venv: Path) -> tuple[int, int, int, int]:
    """VENV's own bytes (st_blocks*512 of every entry but files shared), its files, those hard-linked, reflinked."""
    own, files, linked, cloned = os.lstat(venv).st_blocks * 512, 0, 0, 0
    for top, dirs, names in os.walk(venv):
        for name in dirs + names:
            path = os.path.join(top, name)
            st = os.lstat(path)
            files += stat.S_ISREG(st.st_mode)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                linked += 1
            elif stat.S_ISREG(st.st_mode) and st.st_size and reflinked(path):
                cloned += 1
            else:
                own += st.st_blocks * 512
    return own, files, linked, cloned


def fs_used(path: Path) -> int:
    """Bytes in use on PATH's filesystem (statvfs), after a sync so that delayed allocation has happened."""
    os.sync()
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def filesystem(path: Path) -> str:
    """The type of the filesystem PATH is on (the longest mount point above it in /proc/self/mounts)."""
    best, kind = "", "?"
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype = line.split()[:3]
        if (str(path.resolve()) + "/").startswith(point.rstrip("/") + "/") and len(point) > len(best):
            best, kind = point, fstype
    return kind


def what_uv_said(stderr: str) -> str:
    """The first warning or fallback in uv's -v output, its paths elided, and whether only -v shows it; or ''."""
    for line in stderr.splitlines():
        if re.search(r"^warning|falling back", line, re.IGNORECASE):
            text = re.sub(r"`[^`]*`", "…", line.removeprefix("DEBUG ").strip())
            return f"only `uv -v` says: {text}" if line.startswith("DEBUG") else f"uv says: {text}"
    return ""


def link_env(work: Path, mode: str | None) -> dict[str, str]:
    """uv's environment for the link-mode runs: its cache in WORK, offline, and UV_LINK_MODE=MODE (None: uv's own)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": str(work / "cache"),
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    return env if mode is None else {**env, "UV_LINK_MODE": mode}


def measure_modes(
    uv: str, interpreter: str, work: Path, names: list[str], *, modes: tuple[str | None, ...], runs: int
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Install the wheels NAMES (in WORK/wheels) into a fresh venv from a warm cache (WORK/cache), per link mode of
    MODES (None: uv's default), alternating RUNS times; the medians per mode (by name, None as "default") and what uv
    said about each (its fallbacks)."""
    wheels, venv = work / "wheels", work / "venv"
    create = [uv, "venv", "--quiet", "--python", interpreter, str(venv)]
    install = [uv, "pip", "install", "--python", str(venv), "--no-index", "--find-links", str(wheels), *names]
    samples: dict[str, dict[str, list[float]]] = {mode or "default": {} for mode in modes}
    said: dict[str, str] = {}
    for mode in modes:  # warms the cache (the first one unpacks the wheels), and hears uv's fallbacks
        timed(create, link_env(work, mode), [str(venv)])
        verbose = [uv, "-v", *install[1:]]
        done = subprocess.run(verbose, env=link_env(work, mode), capture_output=True, text=True, check=True)
        said[mode or "default"] = what_uv_said(done.stderr)
    for run in range(runs):  # alternate, and rotate who goes first: drift and what the last one left hit all alike
        for mode in modes[run % len(modes) :] + modes[: run % len(modes)]:
            shutil.rmtree(venv)
            used = fs_used(work)
            timed(create, link_env(work, mode))
            row = samples[mode or "default"]
            row.setdefault("install", []).append(timed(install, link_env(work, mode)))
            start = time.perf_counter()
            row.setdefault("delta", []).append(fs_used(work) - used)
            row.setdefault("sync", []).append((time.perf_counter() - start) * 1000)
            for key, value in zip(("own", "files", "linked", "cloned"), venv_blocks(venv)):
                row.setdefault(key, []).append(value)
    shutil.rmtree(venv, ignore_errors=True)
    return {mode: {k: statistics.median(v) for k, v in row.items()} for mode, row in samples.items()}, said


def link_modes(uv: str, interpreter: str, top: str, link_set: str, runs: int) -> None:
    """Install a big package set into fresh venvs from a warm cache, per UV_LINK_MODE, alternating; print a table."""
    started = time.perf_counter()
    packages, files, megabytes = (int(n) for n in link_set.split(","))
    work = Path(tempfile.mkdtemp(prefix="uvshare-bench-links-", dir=top))
    try:
        names = make_link_set(work / "wheels", packages, files, megabytes)
        med, said = measure_modes(uv, interpreter, work, names, modes=LINK_MODES, runs=runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    link_report(
        med,
        said,
        uv=uv,
        where=f"{filesystem(Path(top))} ({top})",
        link_set=(packages, files + 4 * packages, megabytes),
        runs=runs,
        seconds=time.perf_counter() - started,
    )


@contextlib.contextmanager
def loop_filesystem(kind: str, where: Path, megabytes: int) -> Iterator[Path]:
    """(Root) A fresh filesystem of KIND on a sparse file of MEGABYTES in WHERE, mounted at WHERE/KIND; unmounted and
    removed afterwards."""
    image, mount = where / f"{kind}.img", where / kind
    with open(image, "wb") as f:
        f.truncate(megabytes << 20)
    subprocess.run([*MKFS[kind], str(image)], check=True, capture_output=True)
    mount.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)
        image.unlink()


def members_at_once(
    uv: str, interpreter: str, work: Path, names: list[str], *, mode: str | None, members: int
) -> float:
    """Milliseconds for MEMBERS fresh venvs (one after another, all kept: the caller removes them) with link mode
    MODE."""
    total = 0.0
    for i in range(members):
        venv = work / f"member{i}"
        total += timed([uv, "venv", "--quiet", "--python", interpreter, str(venv)], link_env(work, mode))
        install = [uv, "pip", "install", "--python", str(venv), "--no-index", "--find-links", str(work / "wheels")]
        total += timed([*install, *names], link_env(work, mode))
    return total


def filesystem_rows(uv: str, interpreter: str, link_set: str, runs: int, members: int) -> None:
    """(Root) The issue's table: on loop ext4, XFS (reflink=1) and btrfs, uvshare's link mode (what root's probe
    picks: clone where a reflink works, else copy), copy and clone against plain uv's default, as ratios."""
    if os.geteuid() != 0:
        print("\n(not root: no loop filesystems, so no per-filesystem table)")
        return
    from uvshare.admin.linkmode import reflinks_work

    started = time.perf_counter()
    packages, files, megabytes = (int(n) for n in link_set.split(","))
    size = megabytes * (members + 4) + 1024  # the cache, a venv's copy per member, room to spare (sparse)
    columns: dict[str, dict[str, str]] = {}
    for kind in MKFS:
        if not shutil.which(MKFS[kind][0]):
            print(f"\n({MKFS[kind][0]} not installed: no {kind} column; apt install xfsprogs btrfs-progs)")
            continue
        top = Path(tempfile.mkdtemp(prefix="uvshare-bench-fs-", dir="/var/tmp"))  # private (mkdtemp)
        try:
            with loop_filesystem(kind, top, size) as mount:
                names = make_link_set(mount / "wheels", packages, files, megabytes)
                chosen = "clone" if reflinks_work(str(mount))[0] else "copy"
                med, said = measure_modes(uv, interpreter, mount, names, modes=(None, "copy", "clone"), runs=runs)
                many: dict[str, list[tuple[float, float]]] = {"default": [], chosen: []}
                for order in ((None, chosen), (chosen, None)):  # each first once: drift hits both alike
                    for mode in order:  # every member's venv kept: the disk they take together
                        used = fs_used(mount)
                        ms = members_at_once(uv, interpreter, mount, names, mode=mode, members=members)
                        many[mode or "default"].append((ms, fs_used(mount) - used))
                        for venv in mount.glob("member*"):
                            shutil.rmtree(venv)
                ten = {
                    mode: (statistics.mean(t for t, _ in v), statistics.mean(d for _, d in v))
                    for mode, v in many.items()
                }
                columns[kind] = fs_column(med, said, chosen, ten)
        finally:
            shutil.rmtree(top, ignore_errors=True)
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(
        f"\nLink modes per filesystem: {packages} packages, {files + 4 * packages:,} files, {megabytes} MB, installed "
        f"offline into a fresh venv from a warm cache on a loop filesystem; {version}; {runs} interleaved runs each "
        f"(medians), {members} members one after another; {time.perf_counter() - started:.0f} s in all\n"
    )
    kinds = list(columns)
    print("| | " + " | ".join(KIND_NAMES[k] for k in kinds) + " |")
    print("| --- |" + " ---: |" * len(kinds))
    for row in FS_ROWS:
        label = row.replace("ten members", "ten members" if members == 10 else f"{members} members")
        print(f"| {label} | " + " | ".join(columns[k][row] for k in kinds) + " |")
    print(
        "\nRatios to plain uv (no UV_LINK_MODE: uv's default, clone falling back to hard links). uvshare's mode: what "
        "root's probe (`share setup`) picks on that filesystem. Disk: the venv's own blocks (files it shares with the "
        "cache, by inode or by extent, not counted); ten members: "
        "their venvs made one after another and kept, the mean of two rounds (time: `uv venv` and `uv pip install`; "
        "disk: df's delta)."
    )


TIMES = "\N{MULTIPLICATION SIGN}"
KIND_NAMES = {"ext4": "ext4", "xfs": "XFS (reflink=1)", "btrfs": "btrfs"}
FS_ROWS = (
    "uvshare's mode vs plain uv's default, time",
    "disk per venv",
    "ten members, total time / disk",
    "`copy` vs plain uv, time",
    "`clone` vs plain uv, time",
)


def fs_column(
    med: dict[str, dict[str, float]], said: dict[str, str], chosen: str, ten: dict[str, tuple[float, float]]
) -> dict[str, str]:
    """One filesystem's cells of the table (see filesystem_rows)."""
    mb = 1 << 20
    plain = med["default"]

    def did(mode: str) -> str:
        row = med[mode]
        if row["linked"] > row["files"] / 2:
            return "hard links"
        return "reflinks" if row["cloned"] > row["files"] / 2 else "copies"

    def time_ratio(mode: str) -> str:
        ms, base_ms = med[mode]["install"], plain["install"]
        return f"{ms / base_ms:.2f}{TIMES} ({ms:.0f} vs {base_ms:.0f} ms)"

    own, base = med[chosen]["own"] / mb, plain["own"] / mb
    (ten_ms, ten_disk), (ten_plain_ms, ten_plain_disk) = ten[chosen], ten["default"]
    return {
        FS_ROWS[0]: f"`{chosen}`: {time_ratio(chosen)}",
        FS_ROWS[1]: f"{own / max(base, 0.1):.1f}{TIMES} ({own:.1f} vs {base:.1f} MB)",
        FS_ROWS[2]: f"{ten_ms / ten_plain_ms:.1f}{TIMES} / {ten_disk / mb:.0f} vs {ten_plain_disk / mb:.0f} MB",
        FS_ROWS[3]: f"{time_ratio('copy')}, {did('copy')}",
        FS_ROWS[4]: f"{time_ratio('clone')}, {did('clone')}" + (f" ({said['clone']})" if said["clone"] else ""),
    }


def link_report(
    med: dict[str, dict[str, float]],
    said: dict[str, str],
    *,
    uv: str,
    where: str,
    link_set: tuple[int, int, int],
    runs: int,
    seconds: float,
) -> None:
    """Print the UV_LINK_MODE table: install time, the venv's own disk, and what uv actually did."""
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    packages, files, megabytes = link_set
    print(
        f"\nUV_LINK_MODE: {packages} packages, {files:,} files, {megabytes} MB, installed offline "
        f"(`uv pip install --no-index --find-links`) into a fresh venv from a warm cache, cache and venvs on {where}; "
        f"{uv_version}; {runs} runs each (medians); {seconds:.0f} s in all\n"
    )
    print("| UV_LINK_MODE | install ms | sync ms | venv's own MB | df delta MB | files linked/cloned/all | uv did |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    mb = 1 << 20
    for mode, row in med.items():
        if row["linked"] > row["files"] / 2:
            did = "hard links (the cache's inodes)"
        elif row["cloned"] > row["files"] / 2:
            did = "reflinks (the cache's blocks, copy-on-write)"
        else:
            did = "copies"
        if said[mode]:
            did += f"; {said[mode]}"
        print(
            f"| {mode} | {row['install']:.0f} | {row['sync']:.0f} | {row['own'] / mb:.1f} | {row['delta'] / mb:.1f} "
            f"| {row['linked']:,.0f} / {row['cloned']:,.0f} / {row['files']:,.0f} | {did} |"
        )
    print(
        "\ninstall ms: `uv pip install` alone (the venv made before, untimed); sync ms: the `sync` that follows it "
        "(the copy's writeback). venv's own MB: st_blocks*512 of every entry in the venv but the files it shares: "
        "hard-linked ones (st_nlink > 1: the cache's inode) and cloned ones (FIEMAP says their extents are shared: "
        "a reflink). df delta: statvfs used bytes after `uv venv` and the install, less before (a sync each); "
        "other writers to the filesystem make it noisy."
    )


PER_CALL = (
    "uv --version",
    "uv run python -c pass",
    "uvx benchtool --version",
)  # plain uv's rows; uvshare's: `uvshare …`


def per_call_cases(
    uv: str, uvshare: str, work: Path, env: dict[str, str], plain: dict[str, str]
) -> dict[str, tuple[list[str], dict[str, str], None]]:
    """The per-call rows, plain uv and uvshare alike: `run` in an empty project dir, and a cached `uvx` tool from a
    local wheel (uvshare as `uvx`: a link of that name to it)."""
    from tests.support.wheels import make_wheel

    wheels, project = work / "tool-wheels", work / "project"
    make_wheel(wheels, "benchtool", "1.0")
    project.mkdir()
    (work / "as-uvx").mkdir()
    (work / "as-uvx" / "uvx").symlink_to(uvshare)
    real_uvx = str(Path(uv).parent / "uvx")
    tool = ["--no-index", "--find-links", str(wheels), "benchtool", "--version"]
    run = ["--directory", str(project), "run", "python", "-c", "pass"]
    cases = {
        "uv run python -c pass": ([uv, *run], plain, None),
        "uvshare run python -c pass": ([uvshare, *run], env, None),
        "uvx benchtool --version": ([real_uvx, *tool], plain, None),
        "uvshare as uvx benchtool --version": ([str(work / "as-uvx" / "uvx"), *tool], env, None),
    }
    for cmd, cmd_env, _ in cases.values():  # the tool's env made, the cache warm: what every later call finds
        timed(cmd, cmd_env)
    return cases


def per_call_report(med: dict[str, float]) -> None:
    """The launcher's cost per call as ratios to plain uv."""
    who = "root (its fence included)" if os.geteuid() == 0 else "a member of your own group"
    print(f"\nPer call, as {who}: uvshare (its console script) against plain uv with the same dirs\n")
    print("| per call | plain uv ms | through uvshare ms | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name in PER_CALL:
        mine = med[name.replace("uvx ", "uvshare as uvx ") if name.startswith("uvx") else "uvshare " + name[3:]]
        print(f"| `{name}` | {med[name]:.1f} | {mine:.1f} | {mine / med[name]:.2f}{TIMES} |")


def report(
    med: dict[str, float], memory: dict[str, float], *, uv: str, interpreter: str, python: str, runs: int, quick: bool
) -> None:
    """Print the table of medians, with the overheads and whether the budget holds."""
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(
        f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"{uv_version}, uvshare on {interpreter}, {runs} runs each (medians)\n"
    )
    print("| command | median ms | note |")
    print("| --- | ---: | --- |")
    skip_uv = med[f"uv python install {python} (installed)"]
    notes: dict[str, str] = {}
    verdicts = []
    floor = med["python -I -S -c pass (the interpreter's floor)"]
    work = med["uvshare --version (fast launcher)"] - med["uv --version"] - floor
    launcher_ok = work <= BUDGET_LAUNCHER_WORK_MS
    for version_row, skip_row in (  # the console script's and the fast launcher's budgets
        ("uvshare --version", f"uvshare python install {python} (installed)"),
        ("uvshare --version (fast launcher)", f"uvshare python install {python} (installed, fast launcher)"),
    ):
        overhead = med[version_row] - med["uv --version"]
        skip = med[skip_row] - skip_uv
        notes[version_row] = f"overhead {overhead:.1f} ms (budget {BUDGET_PASS_THROUGH_MS:g})"
        notes[skip_row] = f"{skip:+.1f} ms vs uv (budget: <= 0)"
        verdicts.append(overhead <= BUDGET_PASS_THROUGH_MS and skip <= 0)
    notes["uvshare --version (fast launcher)"] += (
        f"; its own work {work:.1f} ms over the floor and uv (budget {BUDGET_LAUNCHER_WORK_MS:g})"
    )

    def budget(name: str) -> float:
        return BUDGET_ADMIN_AT_SCALE_MS if f"{BIG_TREE:,}" in name else BUDGET_ADMIN_MS

    for name, value in med.items():
        note = notes.get(name, f"budget {budget(name):g} ms" if " share " in name else "")
        if name in memory:
            note += f"; peak memory {memory[name]:.0f} MB"
        print(f"| {name} | {value:.1f} | {note} |")
    admin_ok = all(v <= budget(k) for k, v in med.items() if " share " in k)
    within = admin_ok and verdicts[1] and launcher_ok
    if within and verdicts[0]:
        summary = "the budget holds with either launcher"
    elif within:
        summary = "the budget holds with the fast launcher (uvshare share launcher), not with the console script"
    else:
        summary = "the budget is MISSED"
    if quick:
        print("\nquick mode: too few runs to judge the budget")
    else:
        print(f"\n{summary}")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs each: check that it works, not how fast")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--uvshare",
        help="the uvshare launcher to measure (default: this checkout, installed with "
        "`uv tool install --compile-bytecode` on --interpreter into a scratch dir)",
    )
    parser.add_argument("--interpreter", default="/usr/bin/python3", help="the Python to install uvshare on")
    parser.add_argument("--python", default="3.12", help="the Python version the skip path asks for")
    parser.add_argument("--python-json", help="UV_PYTHON_DOWNLOADS_JSON_URL for installing it (default: test mirror)")
    parser.add_argument("--link-modes-only", action="store_true", help="only the UV_LINK_MODE table")
    parser.add_argument(
        "--link-set",
        metavar="PACKAGES,FILES,MB",
        help=f"the synthetic package set of the UV_LINK_MODE table (default {LINK_SET}; --quick {LINK_SET_QUICK})",
    )
    parser.add_argument("--link-runs", type=int, default=9, help="runs of each UV_LINK_MODE (--quick: 3)")
    parser.add_argument(
        "--filesystems-only",
        action="store_true",
        help="only the per-filesystem table (root: loop ext4, XFS with reflink=1, btrfs)",
    )
    parser.add_argument("--members", type=int, default=10, help="venvs kept at once in that table (--quick: 2)")
    parser.add_argument(
        "--link-dir",
        default="/var/tmp",  # noqa: S108  # mkdtemp makes a private dir in it
        help="where its cache and venvs go, in one dir (one filesystem)",
    )
    return parser.parse_args()


def link_tables(
    uv: str, args: argparse.Namespace, link_args: tuple[str, int], members: int, *, one_filesystem: bool
) -> None:
    """The link-mode tables: on --link-dir (ONE_FILESYSTEM), then per loop filesystem (root)."""
    if one_filesystem:
        link_modes(uv, args.interpreter, args.link_dir, *link_args)
    filesystem_rows(uv, args.interpreter, *link_args, members)


def main() -> int:  # one straight script: set up, measure, print
    args = parse_args()
    sys.path.insert(0, str(REPO))  # tests.support (the mirror, wheels) and uvshare's own probe
    runs = 3 if args.quick else args.runs
    uv = find_real_uv()
    link_args = (args.link_set or (LINK_SET_QUICK if args.quick else LINK_SET), 3 if args.quick else args.link_runs)
    members = 2 if args.quick else args.members
    if args.link_modes_only or args.filesystems_only:
        link_tables(uv, args, link_args, members, one_filesystem=args.link_modes_only)
        return 0
    work = Path(tempfile.mkdtemp(prefix="uvshare-bench-", dir="/var/tmp"))
    if not args.uvshare:
        args.uvshare = install_uvshare(uv, work, args.interpreter)
    shared, cold = work / "shared", work / "cold"
    dirs = {k: shared / k for k in ("python", "bin", "python-cache", "tools", "tool-bin", "cache")}
    config, cold_config = work / "config.toml", work / "cold.toml"
    config.write_text(config_text(uv, shared))
    cold_config.write_text(config_text(uv, cold))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), "LANG": "C.UTF-8", "UVSHARE_CONFIG": str(config)}
    launcher_python = str(Path(args.uvshare).resolve().parent / "python")  # the interpreter uvshare runs on
    plain = {
        **env,
        "UVSHARE_CONFIG": "",
        "UV_PYTHON_INSTALL_DIR": str(dirs["python"]),
        "UV_PYTHON_BIN_DIR": str(dirs["bin"]),
        "UV_CACHE_DIR": str(dirs["cache"]),
    }
    try:
        json_url = args.python_json
        if json_url is None:
            from tests.support.pymirror import build_mirror

            json_url = str(build_mirror(MIRROR))
        env["UV_PYTHON_DOWNLOADS_JSON_URL"] = plain["UV_PYTHON_DOWNLOADS_JSON_URL"] = json_url
        # The shared tree, as uvshare makes it (setup: root's own commands off the tree do not prepare it; without an
        # install-user in the config setup exits 1 as root, having made everything else)
        subprocess.run([args.uvshare, "share", "setup"], env=env, stdout=subprocess.DEVNULL, check=False)
        # The Python with plain uv: through uvshare, root's install would run as a config's install-user, an account
        # the benchmark does not make (the skip rows it serves never run uv).
        timed([uv, "python", "install", args.python], plain)
        fast = str(work / "fast" / "uvshare")
        (work / "fast").mkdir()
        # (with no config in effect: with one, `share launcher` checks that the group's members can run it, and
        # nobody but root can enter the benchmark's private dir)
        timed([args.uvshare, "share", "launcher", fast], plain)

        rows: dict[str, list[float]] = {}
        memory: dict[str, float] = {}
        if not Path(launcher_python).exists():  # --uvshare given: the interpreter of its #! line
            launcher_python = Path(args.uvshare).read_text().splitlines()[0][2:].split()[0]
        cases = {
            "python -I -S -c pass (the interpreter's floor)": ([launcher_python, "-I", "-S", "-c", "pass"], env, None),
            "uv --version": ([uv, "--version"], plain, None),
            "uvshare --version": ([args.uvshare, "--version"], env, None),
            "uvshare --version (fast launcher)": ([fast, "--version"], env, None),
            f"uv python install {args.python} (installed)": ([uv, "python", "install", args.python], plain, None),
            f"uvshare python install {args.python} (installed)": (
                [args.uvshare, "python", "install", args.python],
                env,
                None,
            ),
            f"uvshare python install {args.python} (installed, fast launcher)": (
                [fast, "python", "install", args.python],
                env,
                None,
            ),
            "uvshare --version, cold (creates the shared tree; as root: off the tree, prepares nothing)": (
                [args.uvshare, "--version"],
                {**env, "UVSHARE_CONFIG": str(cold_config)},
                [str(cold)],
            ),
            "uvshare --version, warm": ([args.uvshare, "--version"], env, None),
            **per_call_cases(uv, args.uvshare, work, env, plain),
        }
        for _ in range(runs):  # alternate, so that drift hits every command alike
            for name, (cmd, cmd_env, before) in cases.items():
                rows.setdefault(name, []).append(timed(cmd, cmd_env, before))

        for entries in (SMALL_TREE,) if args.quick else (SMALL_TREE, BIG_TREE):
            tree = dirs["tools"] / f"big-{entries}"
            make_tree(tree, entries)
            for _ in range(3 if entries == BIG_TREE else max(3, runs // 5)):
                break_tree(tree)
                for command in ("doctor", "repair"):
                    name = f"uvshare share {command} ({entries:,} entries)"
                    ms, mb = timed_with_memory([args.uvshare, "share", command], env)
                    rows.setdefault(name, []).append(ms)
                    memory[name] = max(memory.get(name, 0.0), mb)
            shutil.rmtree(tree)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(
        {name: statistics.median(times) for name, times in rows.items()},
        memory,
        uv=uv,
        interpreter=args.interpreter,
        python=args.python,
        runs=runs,
        quick=args.quick,
    )
    per_call_report({name: statistics.median(times) for name, times in rows.items()})
    link_tables(uv, args, link_args, members, one_filesystem=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
