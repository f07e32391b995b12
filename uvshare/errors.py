"""The one error hierarchy of uvshare, its exit codes, and how anything it prints is made safe for a terminal.

Caught in `shim.main` and the admin app. Imported only when there is something to say (each module costs the
every-call path ~0.1 ms).
"""

import os
import sys

EXIT_OK = 0
EXIT_PROBLEMS = 1  # `share doctor` found something wrong; `share setup`/`repair` left something unfixed
EXIT_ERROR = 2  # anything a user can cause: bad config, uv not found, unsafe path, not a member


class UvshareError(Exception):
    """An expected failure: shown as one `uvshare: error: …` line, exit status 2, never a traceback."""

    exit_code = EXIT_ERROR


class ConfigError(UvshareError):
    """A config file or setting that cannot be used; the message names the file and the key."""


class UvNotFound(UvshareError):
    """The real uv could not be found; the message lists every place searched."""


class UnsafePath(UvshareError):
    """A path uvshare refuses to act through: a symlink others could have planted, a dir an outsider owns."""


class NotAMember(UvshareError):
    """The caller asked to change a shared dir that only members of the group may write."""


# Characters shown as themselves: everything printable, except the backslash, which starts an escape.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape(text: str) -> str:
    """TEXT with every character a terminal could act on written as an escape.

    Names come from the filesystem, where group members and outsiders choose them: a control character (ESC, CR,
    newline, an OSC title) would reach root's terminal raw, and a byte that is not UTF-8 (a surrogate here) would
    crash the output. Both become `\\x1b`, `\\r`, `\\xff`…; a backslash becomes `\\\\`, so nothing is ambiguous.
    """
    if text.isprintable() and "\\" not in text and text.isascii():
        return text  # the usual case, at the cost of two scans
    out = []
    for char in text:
        code = ord(char)
        if char in _NAMED:
            out.append(_NAMED[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def invoked_as() -> str:
    """The name uvshare was run under, as users type it: `uv` (also for `uvx`) or `uvshare`."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "uvshare"
    return "uv" if name in ("uv", "uvx") else "uvshare"


def admin(command: str) -> str:
    """The command line of the `share` command COMMAND under the name uvshare was run as (`uv share repair`)."""
    return f"{invoked_as()} share {command}"


def message(kind: str, text: str) -> str:
    """One line for stderr, `uvshare: KIND: TEXT`, escaped so that it stays one harmless line."""
    return f"uvshare: {kind}: {escape(text)}\n"


def say(kind: str, text: str) -> None:
    """Write one `uvshare: KIND: …` line to stderr; a closed or broken stderr is not worth a traceback."""
    stream = sys.stderr
    if stream is None:  # started with stderr closed
        return
    try:
        stream.write(message(kind, text))
        stream.flush()
    except (OSError, ValueError):
        pass
