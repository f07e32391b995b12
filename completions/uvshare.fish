# fish completion for uvshare, and for uv and uvx where uvshare is installed under those names. uvx has no `share`:
# its completion is the one the real uvx generates (`uvx --generate-shell-completion fish`).
#
# uv's own commands and options come from the completion the installed uv generates for itself
# (`uv generate-shell-completion fish`), loaded on the first completion and kept for the session, so they always match
# the user's uv. uvshare adds its own word, `share`, and completes the `share` commands itself.
#
# Install: copy to ~/.config/fish/completions/uvshare.fish (an image: /usr/share/fish/vendor_completions.d/, and a
# link named uv.fish there where uvshare is installed as uv), or `uvshare share completion fish | source`.

# True if the command $argv[1] (as typed) runs uvshare: named uvshare, a link to it, or a launcher that imports it.
function __uvshare_is_uvshare
    test (string replace -r -- '.*/' '' $argv[1]) = uvshare; and return 0
    set -l file (command -s -- $argv[1] 2>/dev/null)[1]
    test -n "$file"; or return 1
    string match -q -- '*/uvshare' (realpath -- $file 2>/dev/null); and return 0
    # a console-script launcher (pip, pipx, uv tool) copied or named uv: a short text file naming uvshare.shim
    command head -c 4096 -- $file 2>/dev/null | command grep -qa 'uvshare\.shim'
end

# Load uv's completion once per session, from the uv that the command $argv[1] runs, under the private name
# __uvshare_uv (so that completing it never comes back here).
function __uvshare_load_uv
    set -q __uvshare_uv_loaded; and return 0
    # through uvshare this reaches the real uv, arguments unchanged
    set -l script (command $argv[1] generate-shell-completion fish 2>/dev/null)
    or return 1
    string match -q -- 'complete -c uv *' $script; or return 1
    string replace -r -- '^complete -c uv ' 'complete -c __uvshare_uv ' $script | source 2>/dev/null
    set -g __uvshare_uv_loaded 1
end

# Candidates for the words after `share`: $argv holds the words before the current one, $current the current one.
function __uvshare_share_candidates -a current
    set -l words $argv[2..-1]
    set -l options -h\t'Show the help and quit' --help\t'Show the help and quit' \
        --help-all\t'Show the help of every command and quit' \
        -v\t"Show uvshare's version and quit" --version\t"Show uvshare's version and quit" \
        -q\t'Print only problems and warnings' --quiet\t'Print only problems and warnings'
    set -l positional
    set -l command
    set -l after 0
    for word in $words
        if test -n "$command"
            set after (math $after + 1)
        else if not string match -q -- '-*' $word
            set command $word
        end
    end
    switch "$command"
        case ''
            set positional init\t'Write the config for a shared tree, set it up, check it' \
                setup\t'Create the shared dirs from the config' \
                doctor\t'Check the shared dirs and say what is wrong' \
                repair\t'Fix the group, modes and lock files of the shared dirs' \
                kind\t'Turn the tree curated (only root installs) or shared (members install too)' \
                config\t'Show the config uvshare uses and where each setting comes from' \
                completion\t'Print the completion script for a shell' \
                launcher\t'Write a fast launcher for uvshare (name it uv)' \
                module\t'Write modulefiles (Lmod, Environment Modules) for the tree of the config' \
                teardown\t'Remove what init and setup --profile made; say what is left'
        case init
            switch "$words[-1]"
                case --group
                    printf '%s\n' (string split -f1 : < /etc/group)
                    return 0
                case --install-user
                    printf '%s\n' (string split -f1 : < /etc/passwd)
                    return 0
                case --prefix --config --uv '--*profile-file' '--*-dir'
                    __fish_complete_path $current
                    return 0
            end
            set -a options --group\t'The shared group' --prefix\t'The dir the shared dirs go below' \
                --config\t'Where to write the config' --uv\t'The real uv' \
                --install-user\t"The member account root's uv runs as on the shared tree" \
                --curated\t'A curated tree: only root installs, everyone runs' \
                --force\t'Replace a config that says something else' \
                --dry-run\t'Check everything and say what would be written and made' \
                --no-acl\t'No default ACLs: rely on the umask alone' \
                --profile\t"Put the shared bin dirs on login shells' PATH (not root's)" \
                --profile-file\t'The profile for bash and sh' \
                --zsh-profile-file\t'The file zsh login shells read (a block in it)' \
                --fish-profile-file\t'The profile for fish' \
                --python-install-dir\t'Instead of PREFIX/python' --python-bin-dir\t'Instead of PREFIX/bin' \
                --python-cache-dir\t'Share Python downloads too' --tool-dir\t'Instead of PREFIX/tools' \
                --tool-bin-dir\t'Instead of PREFIX/tool-bin' --cache-dir\t'Instead of PREFIX/cache' \
                --project-dir\t"The team's project dir"
        case setup
            if string match -q -- '--*profile-file' "$words[-1]"
                __fish_complete_path $current
                return 0
            end
            set -a options --profile\t"Put the shared bin dirs on login shells' PATH (not root's)" \
                --no-profile\t'Only remove what --profile wrote' \
                --profile-file\t'The profile for bash and sh' \
                --zsh-profile-file\t'The file zsh login shells read (a block in it)' \
                --fish-profile-file\t'The profile for fish'
        case doctor
            set -a options --json\t'Print the report as JSON' \
                --all-trees\t'Check every tree of the machine, one exit status'
        case config
            set -a options --json\t'Print the config as JSON'
        case repair
            test "$words[-1]" = --timeout; and return 0 # a number of seconds
            set -a options --dry-run\t'Say what would change and change nothing' \
                --verbose\t'List every path changed' \
                --all-trees\t'Repair every tree of the machine, one exit status' \
                --leftovers\t"First remove a stopped uv's temporary entries" \
                --timeout\t'How long to wait for a lock (seconds)'
        case kind
            set -a options --dry-run\t'Say what would change and change nothing'
            test $after -eq 0; and set positional shared curated
        case completion
            test $after -eq 0; and set positional bash zsh fish
        case module
            if contains -- "$words[-1]" --lua --tcl
                __fish_complete_path $current
                return 0
            end
            set -a options --lua\t'Write the Lmod modulefile (Lua) to this file' \
                --tcl\t'Write the Environment Modules modulefile (Tcl) to this file'
        case teardown
            if test "$words[-1]" = --config
                __fish_complete_path $current
                return 0
            end
            set -a options --config\t'The config init wrote' \
                --dry-run\t'Say what would be removed and what left; remove nothing'
        case launcher
            set -a options --force\t'Replace the path even when it is not a uvshare launcher'
            test $after -eq 0; and set positional (__fish_complete_path $current)
        case '*'
            return 0
    end
    if string match -q -- '-*' $current
        printf '%s\n' $options
    else
        printf '%s\n' $positional
    end
end

# Load uvx's own completion once per session, under the private name __uvshare_uvx (see __uvshare_load_uv).
function __uvshare_load_uvx
    set -q __uvshare_uvx_loaded; and return 0
    set -l script (command $argv[1] --generate-shell-completion fish 2>/dev/null)
    or return 1
    string match -q -- 'complete -c uvx *' $script; or return 1
    string replace -r -- '^complete -c uvx ' 'complete -c __uvshare_uvx ' $script | source 2>/dev/null
    set -g __uvshare_uvx_loaded 1
end

function __uvshare_complete_uvx --description 'Complete uvx: the real uvx its own way'
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    __uvshare_load_uvx $tokens[1]; or return 0
    complete -C (string join ' ' -- __uvshare_uvx (string escape -- $tokens[2..-1]) "$current") 2>/dev/null
end

function __uvshare_complete --description 'Complete uvshare: its own share commands, and uv for the rest'
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    if test (count $tokens) -ge 2; and test "$tokens[2]" = share; and __uvshare_is_uvshare $tokens[1]
        __uvshare_share_candidates $current $tokens[3..-1]
        return 0
    end
    if test (count $tokens) -eq 1; and not string match -q -- '-*' $current; and __uvshare_is_uvshare $tokens[1]
        printf '%s\t%s\n' share "uvshare's own commands"
    end
    __uvshare_load_uv $tokens[1]; or return 0
    complete -C (string join ' ' -- __uvshare_uv (string escape -- $tokens[2..-1]) "$current") 2>/dev/null
end

complete -c uvshare -f -a '(__uvshare_complete)'
complete -c uv -f -a '(__uvshare_complete)'
complete -c uvx -f -a '(__uvshare_complete_uvx)'
