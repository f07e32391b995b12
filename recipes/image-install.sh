#!/bin/sh
# Put uvshare in front of uv (and uvx) in an image that has no Python yet, using uv alone. Run as root at build
# time; run it again to upgrade uvshare (a newer wheel or package) — what is already right is left as it is.
#
#   sh image-install.sh WHAT          WHAT: what `uv tool install` takes — a wheel, a source dir, or a package name
#
# 1. installs a Python and uvshare with the real uv into a dir only root can write (uvshare's own home: root runs
#    it, so group members must not be able to change it — not the shared tool dir, which they can);
# 2. `uvshare share init`: writes the config (the group, the real uv, the shared dirs below UVSHARE_SHARED), creates
#    the shared tree with its default ACLs, writes the login profile that puts the shared bin dirs on PATH, and
#    ends with doctor's verdict;
# 3. writes uvshare's fast launcher as `uv` and `uvx` in a dir ahead of the real ones on PATH: every later `uv …`
#    and `uvx …` goes through uvshare, for root and for every user.
#
# Settings (environment): UV (the real uv; default: the first uv on PATH that is not a uvshare launcher),
# UVSHARE_GROUP (uvshare), UVSHARE_SHARED (/opt/uv), UVSHARE_HOME (/opt/uvshare: uvshare's own Python and venv),
# UVSHARE_CONFIG (/etc/uvshare/config.toml), UVSHARE_LINK_DIR (/usr/local/bin), UVSHARE_PYTHON (3.12),
# UVSHARE_PROFILE (/etc/profile.d/uvshare.sh; empty: none), UVSHARE_FORCE (1: replace a config that says otherwise).
set -eu

what=${1:?usage: image-install.sh WHEEL-OR-DIR-OR-NAME}
group=${UVSHARE_GROUP:-uvshare}
shared=${UVSHARE_SHARED:-/opt/uv}
home=${UVSHARE_HOME:-/opt/uvshare}
config=${UVSHARE_CONFIG:-/etc/uvshare/config.toml}
link_dir=${UVSHARE_LINK_DIR:-/usr/local/bin}
python=${UVSHARE_PYTHON:-3.12}
profile=${UVSHARE_PROFILE-/etc/profile.d/uvshare.sh}

# A uvshare launcher or console script names its entry module in its first lines.
is_uvshare() { head -c 1024 "$1" 2>/dev/null | grep -q 'uvshare\.shim'; }

# The real uv: never a uvshare launcher (a second run finds the one this script wrote, as `uv`, first on PATH).
real_uv() {
    if [ -n "${UV:-}" ]; then
        printf '%s\n' "$UV"
        return 0
    fi
    old_ifs=$IFS
    IFS=:
    for dir in $PATH; do
        candidate="${dir:-.}/uv"
        if [ -f "$candidate" ] && [ -x "$candidate" ] && ! is_uvshare "$candidate"; then
            IFS=$old_ifs
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    IFS=$old_ifs
    return 1
}
uv=$(real_uv) || {
    echo "image-install.sh: no real uv on PATH (only uvshare's launcher); set UV=/path/to/uv" >&2
    exit 2
}
if is_uvshare "$uv"; then
    echo "image-install.sh: $uv is uvshare, not the real uv; set UV=/path/to/the/real/uv" >&2
    exit 2
fi

getent group "$group" >/dev/null || groupadd "$group"

# uvshare's own Python and venv: root-owned, readable by all, writable by root only. A different wheel or a newer
# release upgrades it; a source dir is reinstalled (uv cannot see that its version changed).
if [ -d "$what" ]; then refresh=--reinstall-package; else refresh=--upgrade-package; fi
umask 022
UVSHARE_CONFIG='' UV_PYTHON_INSTALL_DIR="$home/python" UV_PYTHON_BIN_DIR="$home/python-bin" \
    UV_TOOL_DIR="$home/tools" UV_TOOL_BIN_DIR="$home/bin" UV_CACHE_DIR="$home/cache" \
    "$uv" tool install --quiet --compile-bytecode --python "$python" "$refresh" uvshare "$what"
rm -rf "$home/cache"

set -- --group "$group" --prefix "$shared" --config "$config" --uv "$uv"
if [ -n "$profile" ]; then set -- "$@" --profile-file "$profile"; fi
if [ "${UVSHARE_FORCE:-}" = 1 ]; then set -- "$@" --force; fi
mkdir -p "$link_dir"
for name in uv uvx; do
    UVSHARE_CONFIG="$config" "$home/bin/uvshare" share launcher "$link_dir/$name"
done
UVSHARE_CONFIG="$config" "$home/bin/uvshare" share init "$@"
