"""The one error hierarchy of uvshare and its exit codes; caught in `shim.main` and the admin app."""

EXIT_OK = 0
EXIT_PROBLEMS = 1  # `share doctor` found something wrong
EXIT_ERROR = 2  # anything a user can cause: bad config, uv not found, unsafe path, not a member


class UvshareError(Exception):
    """An expected failure: shown as one `uvshare: error: …` line, exit status 2, never a traceback."""

    exit_code = EXIT_ERROR


class ConfigError(UvshareError):
    """A config file or setting that cannot be used; the message names the file and the key."""


class UvNotFound(UvshareError):
    """The real uv could not be found; the message lists every place searched."""


class UnsafePath(UvshareError):
    """A path uvshare refuses to act through: a symlink or hard link others could have planted."""


class NotAMember(UvshareError):
    """The caller asked to change a shared dir that only members of the group may write."""


def message(kind: str, text: str) -> str:
    """One line for stderr: `uvshare: KIND: TEXT`, newlines folded so that it stays one line."""
    return f"uvshare: {kind}: {text.replace(chr(10), ' ')}\n"
