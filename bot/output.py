"""What the command line and the console hand to a person: terminal-safe text, and private files.

Stored text is not ours: a referral's audit `detail` holds a pressed button's payload, which anyone
can forge; names and free text are typed by candidates. Printed as it is, an ESC sequence in it
could move the cursor, clear lines or retitle the terminal, and so hide lines from the coordinator
reading `ipsbot audit`. `terminal_safe` writes every control character (and the bidirectional
overrides that reorder what a line seems to say) as a visible `\\uXXXX` escape instead.

Files that hold health data (`ipsbot export -o`, the console's `/mydata` copy) are created readable
by their owner only (`private_text_file`): made with mode 0600, never widened and narrowed after.
"""

from __future__ import annotations

import os
import re
from typing import TextIO

# C0 controls (ESC among them), DEL, C1 controls (CSI U+009B starts a sequence on its own in some
# terminals), the line and paragraph separators, and the bidirectional embeddings, overrides and
# isolates (the "Trojan Source" characters).
_OTHERS = r"\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(rf"[\x00-\x1f{_OTHERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(rf"[\x00-\x09\x0b-\x1f{_OTHERS}]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_safe(text: object, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as `\\uXXXX`; `keep_newlines` for multi-line output.

    A `\\uXXXX` escape is also valid inside a JSON string, so JSON stays JSON after this.
    """
    return (_UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE).sub(_escape, str(text))


def private_text_file(path: str | os.PathLike[str]) -> TextIO:
    """Open `path` for writing text, created with mode 0600 (or emptied and narrowed to it, before
    anything is written, when it exists already)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT; nothing is in it yet
        return open(fd, "w", encoding="utf-8", newline="")  # the caller closes it
    except BaseException:
        os.close(fd)
        raise
