"""Text from a student's file or process, made safe to print: it cannot move the cursor, colour
the terminal, start a new line of the report, or reorder characters (bidirectional overrides)."""

from __future__ import annotations

import unicodedata

MAX_TEXT = 400  # characters of one message shown


def inert(text: object, limit: int = MAX_TEXT) -> str:
    """`text` as one printable line: control and format characters escaped, at most `limit`."""
    out = []
    for ch in str(text):
        if ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
        if len(out) > limit:
            break
    line = "".join(out)
    return line if len(line) <= limit else line[: limit - 3] + "..."
