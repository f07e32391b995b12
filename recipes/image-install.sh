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
# UVSHARE_PROFILE (/etc/profile.d/uvshare.sh; empty: none), UVSHARE_FORCE (1: replace a config that says otherwise),
# UVSHARE_INSTALL_USER (the group's name and -install, uvshare-install for the default group: the account root's uv
# commands on the shared tree run as, with the group; created in a group of its own).
set -eu

# Root runs only what root owns: the system programs this script runs (getent, groupadd; stat, head, grep, …) come
# from the system dirs, never from the caller's PATH, which may hold dirs members can write (the shared bin dirs, as
# a Dockerfile's ENV PATH puts them there). The caller's PATH is only searched for the real uv, each candidate checked.
caller_path=${PATH:-}
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

what=${1:?usage: image-install.sh WHEEL-OR-DIR-OR-NAME}
group=${UVSHARE_GROUP:-uvshare}
shared=${UVSHARE_SHARED:-/opt/uv}
home=${UVSHARE_HOME:-/opt/uvshare}
config=${UVSHARE_CONFIG:-/etc/uvshare/config.toml}
link_dir=${UVSHARE_LINK_DIR:-/usr/local/bin}
python=${UVSHARE_PYTHON:-3.12}
profile=${UVSHARE_PROFILE-/etc/profile.d/uvshare.sh}
install_user=${UVSHARE_INSTALL_USER:-}

# A uvshare launcher or console script names its entry module in its first lines.
is_uvshare() { head -c 1024 "$1" 2>/dev/null | grep -q 'uvshare\.shim'; }

# Whether nobody but root can have written the dir $1 (lstat): root's, no write for group or others.
root_alone_writes() {
    [ -n "$1" ] || set -- /
    # shellcheck disable=SC2046  # owner and octal mode, two words
    set -- $(stat -c '%u %a' -- "$1" 2>/dev/null) || return 1
    [ "${1:-}" = 0 ] && [ $((0${2:-2} & 022)) -eq 0 ]
}

# Whether root may run $1: uvshare's own rule (safefs.root_may_trust). Walked one name at a time from /: every dir on
# the way is root's and writable by root alone (a root-owned dir in a root-owned sticky dir, as /var/tmp/x, also
# counts), every symlink on the way is followed from there, `..` is walked, and the file is root's and writable by
# root alone. A `uv` in a dir a member can write (the shared tool bin dir on root's PATH) is never run.
root_may_run() {
    rest=$1 current="" hops=0
    case $rest in /*) ;; *) rest=$(pwd)/$rest ;; esac
    while [ -n "$rest" ]; do
        rest=${rest#/}
        name=${rest%%/*}
        if [ "$name" = "$rest" ]; then rest=""; else rest=/${rest#*/}; fi
        case $name in
            "" | .) continue ;;
            ..) current=${current%/*}; continue ;;
        esac
        here="$current/$name"
        if ! root_alone_writes "$current"; then
            # shellcheck disable=SC2046
            set -- $(stat -c '%u %a' -- "${current:-/}" 2>/dev/null)
            [ "${1:-}" = 0 ] && [ $((0${2:-0} & 01000)) -ne 0 ] && [ -d "$here" ] && [ ! -L "$here" ] \
                && root_alone_writes "$here" || return 1
        fi
        if [ -L "$here" ]; then
            hops=$((hops + 1))
            [ "$hops" -le 40 ] || return 1
            target=$(readlink -- "$here") || return 1
            case $target in
                /*) current="" rest="$target$rest" ;;
                *) rest="/$target$rest" ;;
            esac
            continue
        fi
        [ -e "$here" ] || return 1
        current=$here
    done
    [ -f "$current" ] && root_alone_writes "$current"
}

# The real uv: never a uvshare launcher (a second run finds the one this script wrote, as `uv`, first on PATH), and
# never one root may not run.
real_uv() {
    if [ -n "${UV:-}" ]; then
        if ! root_may_run "$UV"; then
            echo "image-install.sh: root will not run $UV: others than root could have written it or a dir on the way; install uv where only root can write" >&2
            return 1
        fi
        printf '%s\n' "$UV"
        return 0
    fi
    old_ifs=$IFS
    IFS=:
    # shellcheck disable=SC2086  # split PATH at its colons, into the positional parameters
    set -f
    set -- $caller_path
    set +f
    IFS=$old_ifs
    for dir in "$@"; do
        candidate="${dir:-.}/uv"
        if [ -f "$candidate" ] && [ -x "$candidate" ]; then
            if ! root_may_run "$candidate"; then
                echo "image-install.sh: skipped $candidate: others than root could have written it (root never runs that)" >&2
            elif ! is_uvshare "$candidate"; then
                printf '%s\n' "$candidate"
                return 0
            fi
        fi
    done
    echo "image-install.sh: no real uv on PATH that only root could have written (uvshare's launchers are skipped); set UV=/path/to/uv" >&2
    return 1
}
uv=$(real_uv) || exit 2
if is_uvshare "$uv"; then
    echo "image-install.sh: $uv is uvshare, not the real uv; set UV=/path/to/the/real/uv" >&2
    exit 2
fi

# A system program by its absolute path, from the first system dir where root alone can have made it (uvshare's own
# rule: safefs.system_program).
system() {
    for sysdir in /usr/sbin /usr/bin /sbin /bin; do
        if [ -f "$sysdir/$1" ] && [ -x "$sysdir/$1" ] && root_may_run "$sysdir/$1"; then
            program=$sysdir/$1
            shift
            "$program" "$@"
            return
        fi
    done
    echo "image-install.sh: no $1 in /usr/sbin, /usr/bin, /sbin or /bin that only root can have written" >&2
    return 2
}

system getent group "$group" >/dev/null || system groupadd "$group"

# uvshare's own Python and venv: root-owned, readable by all, writable by root only. A different wheel or a newer
# release upgrades it; a source dir is reinstalled (uv cannot see that its version changed).
if [ -d "$what" ]; then refresh=--reinstall-package; else refresh=--upgrade-package; fi
umask 022
# Only a Python of uvshare's own home (only-managed): uv must not take a shared Python from PATH (the shared bin dir
# may be on root's PATH), which members can change, for what root runs on every call.
UVSHARE_CONFIG='' UV_PYTHON_PREFERENCE=only-managed \
    UV_PYTHON_INSTALL_DIR="$home/python" UV_PYTHON_BIN_DIR="$home/python-bin" \
    UV_TOOL_DIR="$home/tools" UV_TOOL_BIN_DIR="$home/bin" UV_CACHE_DIR="$home/cache" \
    "$uv" tool install --quiet --compile-bytecode --python "$python" "$refresh" uvshare "$what"
rm -rf "$home/cache"

set -- --group "$group" --prefix "$shared" --config "$config" --uv "$uv"
if [ -n "$install_user" ]; then set -- "$@" --install-user "$install_user"; fi
if [ -n "$profile" ]; then set -- "$@" --profile-file "$profile"; fi
if [ "${UVSHARE_FORCE:-}" = 1 ]; then set -- "$@" --force; fi
# uvshare's console script, run with -I: its Python then reads no PYTHON* variable of root's environment (PYTHONPATH
# naming a dir members can write would load their code into root's uvshare).
own_python=$home/tools/uvshare/bin/python
mkdir -p "$link_dir"
for name in uv uvx; do
    UVSHARE_CONFIG="$config" "$own_python" -I "$home/bin/uvshare" share launcher "$link_dir/$name"
done
# (with the caller's PATH: doctor, at the end, judges what root's PATH leads to)
PATH=$caller_path UVSHARE_CONFIG="$config" "$own_python" -I "$home/bin/uvshare" share init "$@"
