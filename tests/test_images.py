"""Real container builds (podman, one committed layer per step, as Docker's builder makes an image), offline.

Each Dockerfile is text in its test, one `RUN` per step with its check in the same line, so that a failure names the
step that broke. `podman run` does not work on these machines: every check is a `RUN` step (see
tests/support/images.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import docblocks, harness, images

# Pythons from the context's mirror (/mirror): root's, then the member's.
ROOTS_PYTHON, MEMBERS_PYTHON = "3.10", "3.11"


@pytest.fixture(scope="module")
def context(uvshare_wheel: Path) -> images.Context:
    """One build context for the module: uv, the Python mirror, wheels, config files, a fresh clone."""
    images.need_podman()
    return images.make_context(harness.RUN_BASE / "images" / "context", uvshare_wheel)


@pytest.fixture(scope="module")
def debian() -> str:
    """debian:12 as Docker Hub ships it (minimal: no Python), made from Debian's packages."""
    images.need_podman()
    return images.base_image(images.DEBIAN)


@pytest.fixture(scope="module")
def debian_python() -> str:
    """debian:12 after the README's `apt install python3-venv`."""
    images.need_podman()
    return images.base_image(images.DEBIAN_PYTHON)


def readme_line(marker: str) -> str:
    """The README's command on the line ending in `# MARKER`, without that comment (as .ci/run reads it)."""
    for line in (harness.REPO / "README.md").read_text().splitlines():
        if line.endswith(f"# {marker}"):
            return re.sub(rf"\s+# {re.escape(marker)}$", "", line)
    raise AssertionError(f"README.md has no line ending in '# {marker}'")


def test_seed_dockerfile_with_plain_uv_fails_at_the_members_step(debian: str, context: images.Context) -> None:
    """The reproduction, for real: plain uv's variables pointing into a setgid group dir, root installs a Python,
    then the member's first install fails with Permission denied — what uvshare exists for."""
    roots_step = f"RUN uv python install {ROOTS_PYTHON}"
    members_step = f"RUN uv python install {MEMBERS_PYTHON}"
    result = images.build(
        f"""\
FROM {debian}
{context.OFFLINE}
{context.UV}
RUN groupadd uvshare && useradd -m -G uvshare ubuntu
ENV UV_PYTHON_INSTALL_DIR=/opt/uv/python UV_PYTHON_BIN_DIR=/opt/uv/bin \\
    UV_TOOL_DIR=/opt/uv/tools UV_TOOL_BIN_DIR=/opt/uv/tool-bin UV_CACHE_DIR=/opt/uv/cache
RUN mkdir -p /opt/uv && chgrp uvshare /opt/uv && chmod 2775 /opt/uv
{roots_step}
USER ubuntu
{members_step}
RUN echo the member installed a second Python
""",
        context,
    )
    failed = result.failed_step
    assert failed is not None and failed.instruction == members_step, str(result)
    assert "Permission denied" in failed.text, str(result)
    assert f"Installed Python {context.pythons[ROOTS_PYTHON]}" in result.step(roots_step).text, str(result)


# The kernel's xattr layout of a default ACL (acl(5), linux/posix_acl_xattr.h): version 2, then (tag, perm, id)
# entries: user::rwx, group::rwx, other::r-x — what uvshare gives every shared dir.
SET_DEFAULT_ACL = (
    "import os, struct; os.setxattr('/shared', 'system.posix_acl_default', struct.pack('<I', 2) + "
    "b''.join(struct.pack('<HHI', tag, perm, 0xFFFFFFFF) for tag, perm in ((0x01, 7), (0x04, 7), (0x20, 5))))"
)
HAS_DEFAULT_ACL = "import os; assert 'system.posix_acl_default' in os.listxattr('{}'), os.listxattr('{}')"
NO_ACLS = (
    "import os; acls = [(p, x) for p in ('/shared', '/shared/sub', '/shared/made-under-acl') "
    "for x in os.listxattr(p) if x.startswith('system.posix_acl')]; assert not acls, acls"
)


def test_layers_drop_default_acls_and_keep_modes_and_owners(debian_python: str, context: images.Context) -> None:
    """What the design builds on: a default ACL works within its `RUN` and is gone in the next layer (with the
    default ACL its subdir inherited); mode bits, setgid, owner and group survive, and then the umask rules again."""
    result = images.build(
        f"""\
FROM {debian_python}
RUN groupadd uvshare && useradd -m -G uvshare ubuntu
RUN mkdir /shared && chown ubuntu:uvshare /shared && chmod 2775 /shared
# Within one RUN the default ACL decides: umask 022, yet a group-writable file; the new subdir inherits the ACL.
RUN python3 -c "{SET_DEFAULT_ACL}" && umask 022 && touch /shared/made-under-acl && mkdir /shared/sub && stat -c '%n %a' /shared/made-under-acl && test "$(stat -c %a /shared/made-under-acl)" = 664 && python3 -c "{HAS_DEFAULT_ACL.format("/shared/sub", "/shared/sub")}"
# The next layer has no ACLs at all.
RUN python3 -c "{NO_ACLS}"
# Mode bits, setgid, owner and group are kept.
RUN stat -c '%n %a %U %G' /shared /shared/sub /shared/made-under-acl && test "$(stat -c '%a %U %G' /shared)" = "2775 ubuntu uvshare" && test "$(stat -c '%a %U %G' /shared/sub)" = "2775 root uvshare" && test "$(stat -c '%a %G' /shared/made-under-acl)" = "664 uvshare"
# Without its ACL the dir follows the umask again.
RUN umask 022 && touch /shared/made-after && stat -c '%n %a' /shared/made-after && test "$(stat -c %a /shared/made-after)" = 644
""",  # noqa: E501  # one RUN a line, each with its check: a failure names the fact that broke
        context,
    )
    assert result.ok, str(result)


def test_readme_first_line_from_a_fresh_clone_on_debian_12(debian_python: str, context: images.Context) -> None:
    """The README's first command, as written, in a fresh clone on debian:12 with only what the README says to
    `apt install` first: it installs uvshare and uv (offline here, from /wheels), sets up a shared tree that doctor
    calls healthy, and runs uv through uvshare; the system's Python is left alone."""
    apt = f"apt install {' '.join(images.DEBIAN_PYTHON.packages)}"
    assert f"`{apt}`" in (harness.REPO / "README.md").read_text(), f"the README no longer says to `{apt}` first"
    first_line = readme_line("install uvshare and set up a shared tree")
    result = images.build(
        f"""\
FROM {debian_python}
{context.OFFLINE}
COPY uvshare /src/uvshare
WORKDIR /src/uvshare
RUN {first_line}
RUN cd / && ! python3 -c "import uvshare" 2>/dev/null && ! python3 -m pip --version 2>/dev/null
""",
        context,
    )
    assert result.ok, str(result)
    printed = result.step(f"RUN {first_line}").text.splitlines()
    assert "healthy" in printed, str(result)
    assert printed[-1] == "/tmp/uvshare-demo/tree/tools", str(result)  # `uv tool dir`, through uvshare


# A Docker image as the docs had it before the quick start (the bin dirs on PATH for root's steps too, an app's venv
# under ARG UVSHARE_BUILD=1: both still work), then every member step of the story, each its own layer; `hello-a` and
# `hello-b` stand in for ruff (the context's /wheels). TREE lists what a re-run of the recipe must leave alone.
TREE = (
    "find /opt/uv /etc/uvshare /usr/local/bin/uv /usr/local/bin/uvx /etc/profile.d/uvshare.sh "
    "-printf '%p %m %U %G %s %T@ %l\\n' | sort"
)


def test_readme_docker_recipe_layer_by_layer(debian: str, context: images.Context) -> None:
    """The Docker recipe with a uv-only base: root's installs (a Python and tools) and the app's
    venv during the build (ARG UVSHARE_BUILD=1); then as members, each step its own layer (where no ACL survives):
    "already installed", another version, a tool by name, its upgrade, uvx, a venv of their own, uninstalling root's
    Python, a tool run directly by one member then upgraded and uninstalled by another; doctor healthy in a later
    layer for members and root; the recipe run again changes nothing."""
    result = images.build(
        f"""\
FROM {debian}
{context.OFFLINE}
{context.UV}
RUN groupadd uvshare && useradd -m -G uvshare ubuntu && useradd -m -G uvshare bob
{images.install_user()}
COPY uvshare /src/uvshare
RUN sh /src/uvshare/recipes/image-install.sh /src/uvshare   # as the README writes it: the source dir
ENV PATH="$PATH:/opt/uv/bin:/opt/uv/tool-bin"
ARG UVSHARE_BUILD=1
RUN uv python install 3.12 3.10 && uv tool install hello-b
RUN mkdir /app && printf '[project]\\nname = "app"\\nversion = "1"\\nrequires-python = ">=3.12"\\ndependencies = ["hello-a==1.0"]\\n' > /app/pyproject.toml
RUN cd /app && uv venv --python 3.12 && uv sync && rm -rf /root/.cache/uv && .venv/bin/hello-a | grep -x 'hello-a 1.0'
RUN stat -c '%n %U:%G %a' /opt/uv/tools/hello-b /opt/uv/tool-bin/hello-b && test "$(stat -c %U /opt/uv/tools/hello-b)" = uvshare-install
USER ubuntu
RUN uv python install 3.12 2>&1 | tee /dev/stderr | grep -q 'already installed'
RUN uv python install 3.11
RUN hello-b | grep -x 'hello-b 1.0'
RUN uv tool install hello-a==1.0 && hello-a | grep -x 'hello-a 1.0'
RUN uv tool install hello-a==2.0 && hello-a | grep -x 'hello-a, version 2.0'
RUN uvx --python 3.11 --from hello-a==1.0 hello-a | grep -x 'hello-a 1.0'
RUN uv venv --python 3.12 ~/venv && uv pip install --python ~/venv/bin/python hello-b && ~/venv/bin/hello-b
RUN uv python uninstall 3.10
RUN umask 022 && hello-b && /opt/uv/bin/python3.12 -c 'import json, email.mime.text'
USER bob
RUN uv tool upgrade hello-b && uv tool uninstall hello-b && uv tool uninstall hello-a
RUN uv share doctor
USER root
RUN uv share doctor
RUN {TREE} > /tmp/before && sh /src/uvshare/recipes/image-install.sh /src/uvshare && {TREE} | diff /tmp/before -
""",  # noqa: E501  # one RUN a line, each with its check: a failure names the README step that broke
        context,
    )
    assert result.ok, str(result)
    assert "healthy" in result.step("RUN uv share doctor").text.splitlines(), str(result)


def test_openshift_arbitrary_uid_in_group_0(debian: str, context: images.Context) -> None:
    """The README's OpenShift variant: the recipe with the group 0, then a uid with no passwd entry in gid 0 uses and
    adds to the tree, and doctor is healthy for it."""
    wheel = context.uvshare_wheel
    result = images.build(
        f"""\
FROM {debian}
{context.OFFLINE}
{context.UV}
{images.install_user(group="0")}
COPY uvshare /src/uvshare
RUN UVSHARE_GROUP=0 sh /src/uvshare/recipes/image-install.sh {wheel}
ENV PATH="$PATH:/opt/uv/bin:/opt/uv/tool-bin"
RUN uv python install 3.12 && uv tool install hello-b
USER 12345:0
RUN uv python install 3.12 2>&1 | tee /dev/stderr | grep -q 'already installed'
RUN uv python install 3.11 && uv tool install hello-a==1.0 && hello-a && hello-b
RUN uv tool uninstall hello-b && uv python uninstall 3.12
RUN uv share doctor
""",
        context,
    )
    assert result.ok, str(result)
    assert "healthy" in result.step("RUN uv share doctor").text.splitlines(), str(result)


def test_a_chroot_build_ends_no_host_process_of_its_install_users_uid(debian: str, context: images.Context) -> None:
    """A chroot-isolated build (podman's, buildah's: its RUN steps share the host's processes, and the kernel refuses
    them a PID namespace) runs root's tree commands as the image's install-user; a host process with that uid (a
    host's service account, where the image's useradd --system took the same number) lives on."""
    import subprocess
    import time

    uid = images.free_uid()
    host = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "600"])
    try:
        time.sleep(0.3)
        result = images.build(
            f"""\
FROM {debian}
{context.OFFLINE}
{context.UV}
RUN groupadd uvshare
{images.install_user(uid=uid)}
COPY uvshare /src/uvshare
RUN sh /src/uvshare/recipes/image-install.sh {context.uvshare_wheel}
RUN uv python install 3.12 && uv python list --only-installed && uv tool install hello-b
""",
            context,
        )
        assert result.ok, str(result)
        assert host.poll() is None, "the build's root command killed a host process of its install-user's uid"
    finally:
        host.kill()  # the test's own
        host.wait()


def test_curated_image_layer_by_layer(debian: str, context: images.Context) -> None:
    """A curated image (README: *Curated trees*): the recipe, then `share kind curated`; root installs a Python and a
    tool at build time, and its own `uv run` uses the curated Python; then a member and an outsider, each step its own
    layer: "already installed", a version of their own in their home, the tree's tool by its command, a tool of their
    own, the curated Python by uv and by name, no write into the tree, its Python not theirs to uninstall; doctor
    healthy for the member and for root."""
    python = "/opt/uv/python/cpython-3.12"
    result = images.build(
        f"""\
FROM {debian}
{context.OFFLINE}
{context.UV}
RUN groupadd uvshare && useradd -m -G uvshare ubuntu && useradd -m dave
{images.install_user()}
COPY uvshare /src/uvshare
RUN sh /src/uvshare/recipes/image-install.sh /src/uvshare
RUN uv share kind curated
ENV PATH="$PATH:/opt/uv/bin:/opt/uv/tool-bin"
RUN uv python install 3.12 && uv tool install hello-b
RUN find /opt/uv -mindepth 1 -path /opt/uv/cache -prune -o ! -type l \\( -perm -g+w -o -perm -o+w -o ! -user uvshare-install \\) -print | tee /tmp/open && test ! -s /tmp/open
RUN test "$(stat -c %a /opt/uv/cache)" = 700
RUN uv run --no-project --python 3.12 python -c 'import sys; print(sys.base_prefix)' | grep '^{python}'
USER ubuntu
RUN uv python install 3.12 2>&1 | tee /dev/stderr | grep -q 'already installed'
RUN uv python install 3.11 && ls -d ~/.local/share/uv/python/cpython-3.11.*
RUN hello-b | grep -x 'hello-b 1.0'
RUN uv tool install hello-a==1.0 && ~/.local/bin/hello-a | grep -x 'hello-a 1.0' && test -d ~/.local/share/uv/tools/hello-a
RUN uv run --no-project --python 3.12 python -c 'import sys; print(sys.base_prefix)' | grep '^{python}'
RUN python3.12 -c 'import sys; print(sys.base_prefix)' | grep '^{python}'
RUN ! touch {python}.1-linux-x86_64-gnu/lib/python3.12/sitecustomize.py && ! rm -f /opt/uv/tool-bin/hello-b
RUN ! uv python uninstall 3.12 2>/tmp/err && grep "curated tree's" /tmp/err
RUN uv share doctor
USER dave
RUN uv run --no-project --python 3.12 python -c 'import sys; print(sys.base_prefix)' | grep '^{python}' && hello-b
USER root
RUN uv share doctor
""",  # noqa: E501  # one RUN a line, each with its check: a failure names the step that broke
        context,
    )
    assert result.ok, str(result)
    assert "healthy" in result.step("RUN uv share doctor").text.splitlines(), str(result)


# The docs' Dockerfiles, as written there (README.md, docs/**/*.md: each marked `<!-- test: build=NAME -->`).
DOC_DOCKERFILES = [block for block in docblocks.all_blocks() if "build" in (block.marker or {})]
# What members can write (the shared bin dirs), or where a venv's `python` runs a shared Python members can write.
MEMBERS_BINS = ("/opt/uv/bin", "/opt/uv/tool-bin", "/.venv/bin")


def test_the_docs_show_a_single_and_a_multi_stage_image() -> None:
    """The README's Docker quick start has both images, the docs an app's too, each ending with the run user's doctor;
    no two share a name."""
    names = [name(doc) for doc in DOC_DOCKERFILES]
    assert {"docker-quick-start", "docker-multi-stage", "docker-app"} <= set(names), names
    for doc in DOC_DOCKERFILES:
        if name(doc).startswith("docker-"):  # each ends with what the run user's doctor says
            assert doc.text.rstrip().endswith("uv share doctor"), doc.where
    assert len(names) == len(set(names)), names


@pytest.fixture(scope="module")
def stand_ins(debian: str, context: images.Context) -> None:
    """debian:12 and ghcr.io/astral-sh/uv:latest, made here from local things (see images.stand_ins)."""
    images.stand_ins(context)


def name(doc: docblocks.Block) -> str:
    """The name a Dockerfile in the docs is marked with (build=NAME)."""
    return (doc.marker or {})["build"]


@pytest.mark.parametrize("doc", DOC_DOCKERFILES, ids=name)
def test_docs_dockerfile_builds_as_written(doc: docblocks.Block, stand_ins: None, context: images.Context) -> None:
    """Each Dockerfile in the docs, built by podman from the doc's own text (offline through its base images, see
    images.stand_ins), a layer per step: every step passes; no step run as root has a dir on PATH that members can
    write (a shared bin dir) or whose `python` they can (a venv on a shared Python); no step printed a problem or a
    warning; each `uv share doctor` says healthy and says in one short line that the layers dropped the ACLs (once,
    not once per shared dir)."""
    assert not images.roots_steps_with_path(doc.text, MEMBERS_BINS), f"{doc.where}: root's steps with {MEMBERS_BINS}"
    result = images.build(doc.text, context)
    assert result.ok, f"{doc.where}: {result}"
    for step in result.steps:
        flagged = [line for line in step.text.splitlines() if line.startswith(("! ", "✗ "))]
        assert not flagged, f"{doc.where}: step `{step.instruction}` printed {flagged}\n{result}"
    for step in [step for step in result.steps if "uv share doctor" in step.instruction]:
        lines = step.text.splitlines()
        assert "healthy" in lines, f"{doc.where}: {step.instruction}\n{result}"
        about_acls = [line for line in lines if "ACL" in line]
        assert len(about_acls) == 1, f"{doc.where}: doctor's lines about ACLs: {about_acls}"
        assert "dropped" in about_acls[0] and len(about_acls[0]) <= 120, about_acls


def test_multi_stage_setup_will_not_take_another_groups_gid(debian: str, context: images.Context) -> None:
    """A multi-stage final stage whose base has another group at the copied tree's gid: `share setup` says so in one
    line (exit 2) and makes no group (the tree's files would be that group's members' to change)."""
    result = images.build(
        f"""\
FROM {debian} AS build
{context.OFFLINE}
{context.UV}
COPY uvshare /src/uvshare
RUN sh /src/uvshare/recipes/image-install.sh /src/uvshare
RUN test "$(stat -c %g /opt/uv/python)" = 1000

FROM {debian}
{context.UV}
RUN groupadd ubuntu && test "$(getent group ubuntu | cut -d: -f3)" = 1000
COPY --from=build /opt /opt
COPY --from=build /etc/uvshare /etc/uvshare
COPY --from=build /usr/local/bin/uv /usr/local/bin/uvx /usr/local/bin/
RUN uv share setup 2>/tmp/err; test $? = 2 && cat /tmp/err && test "$(wc -l < /tmp/err)" = 1
RUN grep "belong to gid 1000, which is group 'ubuntu' here" /tmp/err && ! getent group uvshare
""",
        context,
    )
    assert result.ok, str(result)
