"""Real container builds for the tests: offline Debian base images, a build context holding everything a build needs,
and `podman build` with one committed layer per step, as Docker's builder makes an image.

What these machines allow (podman 4.3): `podman build --isolation=chroot` works as root, with real overlay layers
and `USER` switches; `podman run` does not (crun may not call setrlimit here, and cgroups are in hybrid mode), nor
does a build with the default OCI isolation, nor `--network` other than the host's. So every check is a `RUN` step,
and a build's result is its exit status and output.

Storage is the tests' own (`BASE/podman`, overlay, configured through CONTAINERS_STORAGE_CONF so that no
storage.conf of the machine's changes the driver or its options): the base images live there across runs; every
build's images are removed when it is done.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import harness, wheels

# Bump to rebuild the base images on every machine (a changed package list rebuilds by itself).
BASE_FORMAT = 1
PODMAN_DIR = harness.BASE / "podman"
RUN_ROOT = Path("/run/uvshare-tests/podman")  # podman's run-time state: locks, mounts (like /run/containers)
STORAGE_CONF = f"""\
# Written by tests/support/images.py: the container tests' own storage, whatever the machine's storage.conf says.
# overlay with the kernel's native diff (ext4 here): each RUN is committed as a layer diff, as Docker's builder does.
[storage]
driver = "overlay"
graphroot = "{PODMAN_DIR / "storage"}"
runroot = "{RUN_ROOT}"
"""
# What Docker Hub's debian:12 says in its config: an imported rootfs has none, and `ENV PATH="$PATH:…"` needs one.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILD_TIMEOUT = 900


def free_uid() -> int:
    """A uid no account of this host has: an image's install-user gets it, so that nothing a build does as that uid
    (a chroot-isolated build shares the host's processes) can reach a host process."""
    import pwd

    taken = {user.pw_uid for user in pwd.getpwall()}
    return next(uid for uid in range(3_500_000, 3_600_000) if uid not in taken)


def install_user(group: str = "uvshare", name: str = "uvshare-install", uid: int | None = None) -> str:
    """The Dockerfile line that makes the image's install-user (what `share setup` would make) with UID, by default
    one no host account has (see free_uid)."""
    return (
        f"RUN useradd --system --uid {free_uid() if uid is None else uid} --gid {group} --no-create-home "
        f"--home-dir /nonexistent --shell /usr/sbin/nologin {name}"
    )


@dataclass(frozen=True)
class BaseImage:
    """A Debian 12 image made from Debian's packages (mmdebstrap), with PACKAGES beyond the minimal base."""

    name: str
    packages: tuple[str, ...]
    why: str

    @property
    def stamp(self) -> str:
        """What the image is made of: a different stamp makes a new image."""
        return json.dumps({"format": BASE_FORMAT, "suite": "bookworm", "packages": sorted(self.packages)})


# Docker Hub's debian:12 is Debian's minimal base (debuerreotype's minbase): no Python, no acl tools, no CA bundle.
DEBIAN = BaseImage("localhost/uvshare-test-debian:12", (), "debian:12 as Docker Hub ships it")
# The same with what the README's first line needs on Debian 12 (`apt install python3-venv`: python3 and ensurepip).
DEBIAN_PYTHON = BaseImage(
    "localhost/uvshare-test-debian-python:12", ("python3-venv",), "debian:12 after `apt install python3-venv`"
)


def need_podman() -> None:
    """Container tests need root, podman and mmdebstrap: skipped elsewhere, but under CI=true a skip is a failure."""
    harness.need_root()
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    if not missing:
        return
    message = f"the container tests need {' and '.join(missing)} (Debian: apt-get install podman mmdebstrap)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def podman_env() -> dict[str, str]:
    """The environment of every podman command: the tests' own storage config (written if missing)."""
    conf = PODMAN_DIR / "storage.conf"
    if not conf.exists() or conf.read_text() != STORAGE_CONF:
        harness.public_dir(PODMAN_DIR)
        tmp = conf.with_name(f".storage.conf.{os.getpid()}")
        tmp.write_text(STORAGE_CONF)
        tmp.rename(conf)
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}


def podman(
    *args: str | os.PathLike[str], check: bool = True, timeout: float = 300, merge: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS` on the tests' storage (libpod's own state kept beside it), output captured (with MERGE,
    stderr into stdout, in the order written)."""
    cmd = ["podman", "--tmpdir", str(RUN_ROOT / "libpod"), *(str(a) for a in args)]
    done = subprocess.run(
        cmd,
        env=podman_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def _label(name: str) -> str | None:
    """The stamp label of image NAME, or None if there is no such image."""
    done = podman("image", "inspect", "--format", '{{ index .Config.Labels "uvshare-test.stamp" }}', name, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def base_image(image: BaseImage) -> str:
    """IMAGE's name, made first if it is missing or stale: `mmdebstrap --variant=minbase` from Debian's packages,
    then `podman import` with Docker Hub's PATH; shared by every run on the machine, made under a machine-wide lock."""
    with harness.machine_lock("base-images"):
        if _label(image.name) == image.stamp:
            return image.name
        work = PODMAN_DIR / f".base-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            rootfs = work / "rootfs.tar"
            cmd = ["mmdebstrap", "--variant=minbase", "--quiet", "bookworm", str(rootfs)]
            if image.packages:
                cmd.insert(2, f"--include={','.join(image.packages)}")
            started = time.monotonic()
            harness.run_root(*cmd, timeout=900)
            made = time.monotonic() - started
            old = podman("image", "inspect", "--format", "{{.Id}}", image.name, check=False).stdout.strip()
            podman(
                "import",
                "--change",
                f"ENV PATH={IMAGE_PATH}",
                "--change",
                'CMD ["bash"]',
                "--change",
                f"LABEL uvshare-test.stamp={image.stamp}",
                rootfs,
                image.name,
            )
            if old:  # the stale image lost its name to the new one
                podman("rmi", "--ignore", old, check=False)
            print(f"images: made {image.name} ({image.why}) in {made:.1f} s", file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return image.name


# The test tools in the context's wheels dir: an upgrade needs two versions of one.
# hello-a 2.0 prints a longer line than 1.0: bytecode is checked against its source's mtime (in seconds) and size, and
# an upgrade within the same second to a module of the same size would run the old bytecode (see Known limits).
# ruff stands in for itself where the docs' Dockerfiles install it: a `ruff` command that prints "ruff 0.9.0".
TOOL_WHEELS = (
    ("hello-a", "1.0", None),
    ("hello-a", "2.0", "hello-a, version 2.0"),
    ("hello-b", "1.0", None),
    ("ruff", "0.9.0", None),
)
# What uvshare needs from PyPI at build time, and at install time on Debian's Python 3.11 and on the mirror's
# Pythons (tomli before 3.11), plus what `pip install .` needs to build it (setuptools).
DEPENDENCIES = ("plumbum", "platformdirs", "setuptools")


@dataclass(frozen=True)
class Context:
    """A build context: `uv/` (the real uv and uvx), `offline/` (copied onto / by `COPY offline/ /`: /etc/uv/uv.toml,
    /etc/pip.conf, the Python mirror in /mirror, the wheels in /wheels), `uvshare/` (a fresh clone) and `app/` (a
    project that needs hello-a)."""

    path: Path
    uv_version: str
    pythons: dict[str, str]  # minor version -> the mirror's full version ("3.12" -> "3.12.1")
    uvshare_wheel: str  # its path inside the image, under /wheels

    # The Dockerfile lines that make a build offline: uv and pip read their config files, uv its Python mirror.
    OFFLINE = "COPY offline/ /"
    UV = "COPY uv/uv uv/uvx /usr/bin/"


def download_wheels(uv_version: str) -> Path:
    """A dir with the wheels of uvshare's dependencies and of uv UV_VERSION, from PyPI (through this machine's pip
    settings), fetched once per machine under a machine-wide lock."""
    dest = harness.BASE / "image-wheels" / f"uv-{uv_version}"
    with harness.machine_lock("image-wheels"):
        if (dest / ".complete").exists():
            return dest
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(tmp)]
        # Debian 12's Python is 3.11; tomli is only for Pythons before 3.11, so take its pure-Python wheel.
        harness.run_root(*pip, "--python-version", "3.11", *DEPENDENCIES, f"uv=={uv_version}", timeout=600)
        harness.run_root(
            *pip, "--no-deps", "--python-version", "3.9", "--implementation", "py", "--abi", "none", "--platform",
            "any", "tomli", timeout=600,
        )  # fmt: skip
        shutil.rmtree(dest, ignore_errors=True)
        (tmp / ".complete").touch()
        tmp.rename(dest)
    return dest


def _copy_public(source: Path, dest: Path) -> None:
    """Copy the file SOURCE to DEST, readable by all (mode 0644, or 0755 for what is executable)."""
    shutil.copyfile(source, dest)
    dest.chmod(0o755 if source.stat().st_mode & 0o100 else 0o644)


def _mkdirs(path: Path) -> Path:
    """PATH and its missing parents, each mode 0755 (COPY gives a dir in the image its mode in the context)."""
    for p in reversed([path, *path.parents]):
        if not p.exists():
            p.mkdir()
            p.chmod(0o755)
    return path


def make_context(dest: Path, uvshare_wheel: Path, uv: Path | None = None) -> Context:
    """A build context in DEST (emptied first) with everything a build needs, so that nothing in it needs the network:
    the real uv and uvx (UV, default the newest), the local Python mirror with a downloads.json whose file:// URLs
    name /mirror, the test tools' wheels, UVSHARE_WHEEL and its dependencies' wheels, uv's and pip's config files
    pointing at /wheels, and a fresh clone of this checkout (`git ls-files`, as the working tree has them)."""
    from tests.support.pymirror import JSON_NAME, build_mirror

    uv = uv or harness.install_uv(harness.NEWEST)
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    shutil.rmtree(dest, ignore_errors=True)
    _mkdirs(dest)
    for name in ("uv", "uvx"):
        _copy_public(uv.parent / name, _mkdirs(dest / "uv") / name)

    offline = _mkdirs(dest / "offline")
    mirror = _mkdirs(offline / "mirror")
    downloads = json.loads(Path(build_mirror(harness.BASE / "mirror")).read_text())
    pythons = {}
    for entry in downloads.values():
        archive = Path(entry["url"].removeprefix("file://"))
        _copy_public(archive, mirror / archive.name)
        entry["url"] = f"file:///mirror/{archive.name}"
        pythons[f"{entry['major']}.{entry['minor']}"] = f"{entry['major']}.{entry['minor']}.{entry['patch']}"
    (mirror / JSON_NAME).write_text(json.dumps(downloads, indent=2, sort_keys=True) + "\n")

    wheel_dir = _mkdirs(offline / "wheels")
    for wheel in download_wheels(version).glob("*.whl"):
        _copy_public(wheel, wheel_dir / wheel.name)
    _copy_public(uvshare_wheel, wheel_dir / uvshare_wheel.name)
    for name, tool_version, message in TOOL_WHEELS:
        wheels.make_wheel(wheel_dir, name, tool_version, message)

    # uv 0.13 has no UV_NO_INDEX: its system config file says it, for root and every user alike.
    (_mkdirs(offline / "etc" / "uv") / "uv.toml").write_text(
        "# The test context's: no package index, the wheels in /wheels, the Pythons in /mirror.\n"
        'no-index = true\nfind-links = ["/wheels"]\npython-downloads-json-url = "/mirror/downloads.json"\n'
    )
    (offline / "etc" / "pip.conf").write_text("[global]\nno-index = true\nfind-links = /wheels\n")
    for conf in (offline / "etc" / "uv" / "uv.toml", offline / "etc" / "pip.conf"):
        conf.chmod(0o644)

    # The app of the docs' Dockerfile with an app (docs/acls-and-images.md): the user's own project, beside the clone.
    (_mkdirs(dest / "app") / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.12"\ndependencies = ["hello-a==1.0"]\n'
    )
    (dest / "app" / "pyproject.toml").chmod(0o644)

    clone = _mkdirs(dest / "uvshare")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=harness.REPO, capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        source = harness.REPO / name
        if source.is_file():  # a file deleted in the working tree is not in a clone made from it
            _copy_public(source, _mkdirs((clone / name).parent) / Path(name).name)
    return Context(dest, version, pythons, f"/wheels/{uvshare_wheel.name}")


@dataclass
class Step:
    """One build step as podman reported it: its number, its instruction (as written) and what it printed."""

    number: int
    instruction: str
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What the step's commands printed, without podman's own lines (layer ids, commits)."""
        noise = re.compile(r"--> [0-9a-f]{6,}|COMMIT\b|Getting image source signatures|Copying |Writing manifest|"
                           r"Storing signatures|Successfully tagged|[0-9a-f]{64}$|subprocess exited with status \d+$|"
                           r"Error: building at STEP ")  # fmt: skip
        return "".join(f"{line}\n" for line in self.output if not noise.match(line))


@dataclass(repr=False)  # a failed assertion shows str(): the report, the Dockerfile, the output
class Build:
    """The result of one `podman build`: exit status, the whole output, and the steps it ran."""

    dockerfile: str
    returncode: int
    output: str
    steps: list[Step]
    seconds: float
    tag: str  # the image's name, while it is kept (`build(..., keep=True)`): a later Dockerfile may start FROM it

    def remove(self) -> None:
        """Remove the image and the layers this build made (what build() does unless told to keep them)."""
        remove_build(self.tag, self.output)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def failed_step(self) -> Step | None:
        """The step the build stopped at (None when it passed): the one podman's error names, else the last run."""
        if self.ok:
            return None
        named = re.search(r'^Error: building at STEP "(.*)": ', self.output, re.MULTILINE)
        if named:
            for step in reversed(self.steps):
                if step.instruction == named.group(1):
                    return step
        return self.steps[-1] if self.steps else None

    def step(self, instruction: str) -> Step:
        """The step whose instruction is INSTRUCTION (the last of several), failing the test if it did not run."""
        found = [s for s in self.steps if s.instruction == instruction]
        assert found, f"the build never reached `{instruction}`\n{self}"
        return found[-1]

    def report(self) -> str:
        """One line saying how the build went, naming the step that failed and what it printed."""
        if self.ok:
            return f"the build passed ({len(self.steps)} steps, {self.seconds:.1f} s)"
        step = self.failed_step
        if step is None:
            return f"the build failed (exit {self.returncode}) before its first step:\n{self.output}"
        return f"the build failed at step {step.number} `{step.instruction}`:\n{step.text}"

    def __str__(self) -> str:
        return f"{self.report()}\n--- Dockerfile\n{self.dockerfile}--- whole output\n{self.output}"

    def __repr__(self) -> str:
        return f"<Build: exit {self.returncode}, {len(self.steps)} steps>"


def _parse_steps(output: str) -> list[Step]:
    """The steps in podman build's output: each begins with a `STEP n/m: INSTRUCTION` line (`[s/t] STEP n/m: …` in a
    multi-stage build)."""
    steps: list[Step] = []
    for line in output.splitlines():
        header = re.match(r"(?:\[\d+/\d+\] )?STEP (\d+)/\d+: (.*)$", line)
        if header:
            steps.append(Step(int(header.group(1)), header.group(2)))
        elif steps:
            steps[-1].output.append(line)
    return steps


_builds = iter(range(1, 1 << 30))


def build(dockerfile: str, context: Context | Path, *, keep: bool = False) -> Build:
    """Build DOCKERFILE (text) in CONTEXT with podman, one committed layer per step; the images it made are removed
    afterwards (unless KEEP: then call the result's remove(); or UVSHARE_TEST_KEEP is set, to look at them with
    `CONTAINERS_STORAGE_CONF=BASE/podman/storage.conf podman images`). Never raises on a failed build: look at the
    result (`ok`, `failed_step`, `step(instruction).text`; `str()` for an assertion message).

    `--isolation=chroot` (the only kind that runs here), `--layers` (every step committed as a layer diff, which is
    what drops ACLs between steps, as Docker's builder does), `--no-cache` (every step runs each time: a cached step
    would not check anything, and the layers made are then this build's alone to remove), `--pull=never` (the base
    images are local; nothing is fetched).
    """
    base = context.path if isinstance(context, Context) else context
    work = harness.public_dir(harness.RUN_BASE / "images" / "dockerfiles")
    number = next(_builds)
    file = work / f"Dockerfile.{number}"
    file.write_text(dockerfile)
    tag = f"localhost/uvshare-test-build:{harness.RUN_ID}-{number}"
    cmd = ["build", "--isolation=chroot", "--layers", "--no-cache", "--pull=never", "--force-rm"]
    started = time.monotonic()
    # the steps' stdout and stderr and podman's own messages, in the order written
    done = podman(*cmd, "--file", file, "--tag", tag, base, check=False, timeout=BUILD_TIMEOUT, merge=True)
    output = done.stdout
    result = Build(dockerfile, done.returncode, output, _parse_steps(output), time.monotonic() - started, tag)
    if not (keep or os.environ.get("UVSHARE_TEST_KEEP")):
        result.remove()
    return result


def remove_build(tag: str, output: str) -> None:
    """Remove the image TAG and the layers of its build (named in OUTPUT), children first: all of them this build's
    own, since it used no cache; a failed build leaves no tag, only its layers."""
    layers = re.findall(r"^--> ([0-9a-f]{6,})$", output, re.MULTILINE)
    podman("rmi", "--ignore", tag, check=False)
    for layer in reversed(layers):
        podman("rmi", "--ignore", layer, check=False)


# The images the docs' Dockerfiles start from, by the names a user's Docker finds them under.
DOCS_DEBIAN = "docker.io/library/debian:12"
DOCS_UV = "ghcr.io/astral-sh/uv:latest"


def stand_ins(context: Context) -> None:
    """Make the images the docs' Dockerfiles name (`FROM debian:12`, `COPY --from=ghcr.io/astral-sh/uv:latest`) in the
    tests' own storage, from local things, so that a doc's Dockerfile is built exactly as written and offline:
    debian:12 is the tests' Debian with the context's offline files (uv's and pip's config: the Python mirror and the
    wheels, ruff's stand-in among them), the uv image holds the context's uv and uvx at /, as Astral's does. Made
    again on every run (the context's wheels change), under a machine-wide lock; the images they replace are
    removed."""
    with harness.machine_lock("docs-stand-ins"):
        for name, tag, dockerfile in (
            ("debian", DOCS_DEBIAN, f"FROM {base_image(DEBIAN)}\n{Context.OFFLINE}\n"),
            ("uv", DOCS_UV, "FROM scratch\nCOPY uv/uv uv/uvx /\n"),
        ):
            old = podman("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
            file = harness.public_dir(harness.RUN_BASE / "images" / "dockerfiles") / f"Dockerfile.stand-in-{name}"
            file.write_text(dockerfile)
            podman("build", "--isolation=chroot", "--pull=never", "--no-cache", "-f", file, "-t", tag, context.path)
            new = podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
            if old and old != new:
                podman("rmi", "--ignore", old, check=False)  # (in use by another run's build: it stays, untagged)


def roots_steps_with_path(dockerfile: str, dirs: tuple[str, ...]) -> list[str]:
    """The RUN steps of DOCKERFILE that run as root with one of DIRS on PATH (set by an ENV line): members can write
    them, so root would run their programs. Each stage (FROM) starts as root with the base image's PATH."""
    found = []
    user, path = "root", ""
    for line in dockerfile.splitlines():
        word = line.split(maxsplit=1)[0].upper() if line.strip() else ""
        rest = line.split(maxsplit=1)[1] if len(line.split(maxsplit=1)) > 1 else ""
        if word == "FROM":
            user, path = "root", ""
        elif word == "USER":
            user = rest.split(":")[0].strip()
        elif word == "ENV" and re.match(r"PATH[= ]", rest):
            path = rest
        elif word == "RUN" and user in ("root", "0") and any(d in path for d in dirs):
            found.append(line)
    return found
