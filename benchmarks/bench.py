"""Benchmark uvshare against the real uv: pass-through, skip path, cold first call, doctor and repair.

Run by hand (as root or any user; it makes its own shared tree with your own group):

    python3 benchmarks/bench.py            # 30 runs of each, alternating
    python3 benchmarks/bench.py --quick    # 3 runs: only shows that it still works (CI)

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
BUDGET_ADMIN_MS = 1000.0
TREE_ENTRIES = 10_000
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
    """ENTRIES files and dirs below TOP, a few levels deep, left group-unfriendly (0644/0755) for repair to fix."""
    made = 0
    for i in range(entries // 101 + 1):
        sub = top / f"pkg{i:04d}" / "lib"
        sub.mkdir(parents=True, exist_ok=True)
        for j in range(100):
            if made >= entries:
                return
            (sub / f"m{j:03d}.py").write_text("x = 1\n")
            made += 1


def report(med: dict[str, float], uv: str, interpreter: str, python: str, runs: int, *, quick: bool) -> None:
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
    for version_row, skip_row in (
        ("uvshare --version", f"uvshare python install {python} (installed)"),
        ("uvshare --version (fast launcher)", f"uvshare python install {python} (installed, fast launcher)"),
    ):
        overhead = med[version_row] - med["uv --version"]
        skip = med[skip_row] - skip_uv
        notes[version_row] = f"overhead {overhead:.1f} ms (budget {BUDGET_PASS_THROUGH_MS:g})"
        notes[skip_row] = f"{skip:+.1f} ms vs uv (budget: <= 0)"
        verdicts.append(overhead <= BUDGET_PASS_THROUGH_MS and skip <= 0)
    for name, value in med.items():
        note = notes.get(name, f"budget {BUDGET_ADMIN_MS:g} ms" if "share" in name else "")
        print(f"| {name} | {value:.1f} | {note} |")
    admin_ok = all(v <= BUDGET_ADMIN_MS for k, v in med.items() if " share " in k)
    within = admin_ok and verdicts[1]
    if admin_ok and verdicts[0]:
        summary = "the budget holds with either launcher"
    elif within:
        summary = "the budget holds with the fast launcher (uvshare share launcher), not with the console script"
    else:
        summary = "the budget is MISSED"
    if quick:
        print("\nquick mode: too few runs to judge the budget")
    else:
        print(f"\n{summary}")


def main() -> int:  # one straight script: set up, measure, print
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
    args = parser.parse_args()
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
        cases = {
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

        tree = dirs["tools"] / "big"
        make_tree(tree, TREE_ENTRIES)
        admin = {
            "uvshare share doctor (10,000 entries)": [args.uvshare, "share", "doctor"],
            "uvshare share repair (10,000 entries)": [args.uvshare, "share", "repair"],
        }
        for _ in range(max(3, runs // 5)):
            for p in tree.rglob("*"):
                p.chmod(0o755 if p.is_dir() else 0o644)
            for name, cmd in admin.items():
                start = time.perf_counter()
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                rows.setdefault(name, []).append((time.perf_counter() - start) * 1000)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(
        {name: statistics.median(times) for name, times in rows.items()},
        uv,
        args.interpreter,
        args.python,
        runs,
        quick=args.quick,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
