# bash completion for uvshare, and for uv and uvx where uvshare is installed under those names.
#
# uv's own commands and options come from the completion the installed uv generates for itself
# (`uv generate-shell-completion bash`), loaded on the first completion and kept for the session, so they always match
# the user's uv. uvshare adds its own word, `share`, and completes the `share` commands itself.
#
# Install: copy to /usr/share/bash-completion/completions/uvshare (and link it as .../completions/uv where uvshare is
# installed as uv; .../completions/uvx too for uvx), or
# `uvshare share completion bash > ~/.local/share/bash-completion/completions/uvshare`.
# uvx has no `share`: its completion is the one the real uvx generates (`uvx --generate-shell-completion bash`).

# True if the command NAME (as typed) runs uvshare: named uvshare, a link to it, or a launcher that imports it.
_uvshare_is_uvshare() {
    [[ ${1##*/} == uvshare ]] && return 0
    local path
    path=$(type -P -- "$1" 2>/dev/null) || return 1
    [[ -n $path ]] || return 1
    path=$(readlink -f -- "$path" 2>/dev/null) || return 1
    [[ ${path##*/} == uvshare ]] && return 0
    # a console-script launcher (pip, pipx, uv tool) copied or named uv: a short text file naming uvshare.shim
    head -c 4096 -- "$path" 2>/dev/null | command grep -qa 'uvshare\.shim'
}

# Load the completion the program NAME generates for itself — uv's (the function _uv) or uvx's (_uvx) — once per
# session. Through uvshare this reaches the real program, arguments unchanged. Its script ends by binding its
# function to its name: uvshare's own binding (which adds `share`) is kept.
_uvshare_load() {
    local name=$1 func=$2
    shift 2
    local flag=_uvshare_${func#_}_loaded
    [[ -n ${!flag-} ]] && return 0
    local script
    script=$(command "${name/#\~/$HOME}" "$@" 2>/dev/null) || return 1
    [[ $script == *"$func()"* ]] || return 1
    complete() { :; }
    eval "$script" 2>/dev/null
    unset -f complete
    declare -F "$func" >/dev/null || return 1
    printf -v "$flag" 1
}

_uvshare_load_uv() { _uvshare_load "$1" _uv generate-shell-completion bash; }

# Complete the words after `share`: COMP_WORDS[2..].
_uvshare_share() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local meta='-h --help --help-all -v --version -q --quiet'
    local command='' i
    for ((i = 2; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} != -* ]]; then
            command=${COMP_WORDS[i]}
            break
        fi
    done
    local options=$meta words=''
    case $command in
        '') words='init setup doctor repair kind config completion launcher module teardown' ;;
        init)
            case $prev in
                --group) mapfile -t COMPREPLY < <(compgen -g -- "$cur") && return 0 ;;
                --install-user) mapfile -t COMPREPLY < <(compgen -u -- "$cur") && return 0 ;;
                --prefix | --config | --uv | --*profile-file | --*-dir)
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                    return 0
                    ;;
            esac
            options+=' --group --prefix --config --uv --install-user --curated --force --dry-run --no-acl'
            options+=' --profile --profile-file --zsh-profile-file --fish-profile-file'
            options+=' --python-install-dir --python-bin-dir --python-cache-dir --tool-dir --tool-bin-dir --cache-dir'
            options+=' --project-dir'
            ;;
        setup)
            if [[ $prev == --*profile-file ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
            options+=' --profile --no-profile --profile-file --zsh-profile-file --fish-profile-file'
            ;;
        doctor) options+=' --json --all-trees' ;;
        config) options+=' --json' ;;
        repair)
            [[ $prev == --timeout ]] && return 0 # a number of seconds
            options+=' --dry-run --timeout --verbose --all-trees --leftovers'
            ;;
        kind)
            options+=' --dry-run'
            ((COMP_CWORD == i + 1)) && words='shared curated'
            ;;
        completion) ((COMP_CWORD == i + 1)) && words='bash zsh fish' ;;
        module)
            if [[ $prev == --lua || $prev == --tcl ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
            options+=' --lua --tcl'
            ;;
        teardown)
            if [[ $prev == --config ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
            options+=' --config --dry-run'
            ;;
        launcher)
            options+=' --force'
            if [[ $cur != -* ]]; then # the path to write
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
            ;;
        *) return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    fi
}

_uvshare_uvx() {
    COMPREPLY=()
    if _uvshare_load "$1" _uvx --generate-shell-completion bash; then
        _uvx "$@" 2>/dev/null
    fi
    return 0
}

_uvshare() {
    COMPREPLY=()
    local cur=${COMP_WORDS[COMP_CWORD]}
    if ((COMP_CWORD >= 2)) && [[ ${COMP_WORDS[1]} == share ]] && _uvshare_is_uvshare "$1"; then
        compopt +o default +o bashdefault 2>/dev/null # never fall back to file names here
        _uvshare_share
        return 0
    fi
    local own=()
    if ((COMP_CWORD == 1)) && [[ share == "$cur"* && $cur != -* ]] && _uvshare_is_uvshare "$1"; then
        own=(share)
    fi
    if _uvshare_load_uv "$1"; then
        _uv "$@" 2>/dev/null
    fi
    COMPREPLY+=("${own[@]}")
    return 0
}

if [[ ${BASH_VERSINFO[0]} -gt 4 || ${BASH_VERSINFO[0]} -eq 4 && ${BASH_VERSINFO[1]} -ge 4 ]]; then
    complete -F _uvshare -o nosort -o bashdefault -o default uvshare uv
    complete -F _uvshare_uvx -o nosort -o bashdefault -o default uvx
else
    complete -F _uvshare -o bashdefault -o default uvshare uv
    complete -F _uvshare_uvx -o bashdefault -o default uvx
fi
