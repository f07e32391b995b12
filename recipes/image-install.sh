#!/bin/sh
# Put uvshare in front of uv in an image that has no Python yet, using uv alone. Run as root, once, at build time:
#
#   sh image-install.sh WHAT          WHAT: what `uv tool install` takes — a wheel, a source dir, or a package name
#
# 1. writes the config naming the group and the shared dirs;
# 2. installs a Python and uvshare with uv itself into a dir only root can write (uvshare's own home: root runs it,
#    so group members must not be able to change it — not the shared tool dir, which they can);
# 3. writes uvshare's fast launcher as `uv` in a dir ahead of the real uv on PATH: every later `uv …` goes through
#    uvshare, for root and for every user;
# 4. creates the shared dirs (`uv share setup`) and checks them (`uv share doctor`).
#
# Settings (environment): UV (the real uv; default: the uv on PATH), UVSHARE_GROUP (uvshare), UVSHARE_SHARED
# (/opt/uv: the shared dirs go below it), UVSHARE_HOME (/opt/uvshare: uvshare's own Python and venv),
# UVSHARE_CONFIG (/etc/uvshare/config.toml), UVSHARE_LINK_DIR (/usr/local/bin), UVSHARE_PYTHON (3.12).
set -eu

what=${1:?usage: image-install.sh WHEEL-OR-DIR-OR-NAME}
uv=${UV:-$(command -v uv)}
group=${UVSHARE_GROUP:-uvshare}
shared=${UVSHARE_SHARED:-/opt/uv}
home=${UVSHARE_HOME:-/opt/uvshare}
config=${UVSHARE_CONFIG:-/etc/uvshare/config.toml}
link_dir=${UVSHARE_LINK_DIR:-/usr/local/bin}
python=${UVSHARE_PYTHON:-3.12}

getent group "$group" >/dev/null || groupadd "$group"

mkdir -p "$(dirname "$config")"
cat >"$config" <<TOML
group = "$group"
uv = "$uv"
python-install-dir = "$shared/python"
python-bin-dir = "$shared/bin"
python-cache-dir = "$shared/python-cache"
tool-dir = "$shared/tools"
tool-bin-dir = "$shared/tool-bin"
cache-dir = "$shared/cache"
TOML
chmod 0644 "$config"

# uvshare's own Python and venv: root-owned, readable by all, writable by root only.
umask 022
UVSHARE_CONFIG='' UV_PYTHON_INSTALL_DIR="$home/python" UV_PYTHON_BIN_DIR="$home/python-bin" \
    UV_TOOL_DIR="$home/tools" UV_TOOL_BIN_DIR="$home/bin" UV_CACHE_DIR="$home/cache" \
    "$uv" tool install --quiet --compile-bytecode --python "$python" "$what"
rm -rf "$home/cache"

mkdir -p "$link_dir"
UVSHARE_CONFIG="$config" "$home/bin/uvshare" share launcher "$link_dir/uv"

export UVSHARE_CONFIG="$config"
"$link_dir/uv" share setup
"$link_dir/uv" share doctor
