"""Benchmark uvshare against the real uv: pass-through, skip path, cold first call, doctor and repair at scale.

Run by hand (as root or any user; it makes its own shared tree with your own group):

    python3 benchmarks/bench.py            # 30 runs of each, alternating; doctor and repair on 10,000 and 200,000
    python3 benchmarks/bench.py --quick    # 3 runs, 10,000 entries: only shows that it still works (CI)

It prints a Markdown table of medians; the README carries the latest one. The skip-path rows need a managed Python:
it installs one from the local mirror the tests build (pyenv's CPython builds), or uses --python-json.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_PASS_THROUGH_MS = 15.0
BUDGET_LAUNCHER_WORK_MS = 2.0  # the fast launcher's own work above the interpreter's floor and uv's own run
BUDGET_ADMIN_MS = 1000.0
BUDGET_ADMIN_AT_SCALE_MS = 3000.0
SMALL_TREE, BIG_TREE = 10_000, 200_000
MIRROR = Path("/var/tmp/uvshare-tests/mirror")  # noqa: S108  # the tests' mirror, shared on purpose


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
    return parser.parse_args()


def main() -> int:  # one straight script: set up, measure, print
    args = parse_args()
    runs = 3 if args.quick else args.runs
    uv = find_real_uv()
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
            sys.path.insert(0, str(REPO))
            from tests.support.pymirror import build_mirror

            json_url = str(build_mirror(MIRROR))
        env["UV_PYTHON_DOWNLOADS_JSON_URL"] = plain["UV_PYTHON_DOWNLOADS_JSON_URL"] = json_url
        timed([args.uvshare, "python", "install", args.python], env)
        fast = str(work / "fast" / "uvshare")
        (work / "fast").mkdir()
        timed([args.uvshare, "share", "launcher", fast], env)

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
            "uvshare --version, cold (creates the shared tree)": (
                [args.uvshare, "--version"],
                {**env, "UVSHARE_CONFIG": str(cold_config)},
                [str(cold)],
            ),
            "uvshare --version, warm": ([args.uvshare, "--version"], env, None),
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
