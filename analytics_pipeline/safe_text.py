"""Text from events made safe for the places it is shown: Markdown previews, e-mail headers
and bodies, chat webhooks. Pure functions, no stage imports (every stage may use them).

Events may carry any Unicode, control characters included (they are stored verbatim); these
helpers change only how such text is displayed, never what is stored.
"""

from __future__ import annotations

import re

# C0 controls and DEL become their visible Unicode "control pictures" (U+2400..U+2421); C1
# controls, line/paragraph separators and bidirectional overrides (which reorder what follows
# them on screen) become U+FFFD.
_PICTURES = {c: chr(0x2400 + c) for c in range(32)}
_PICTURES[0x7F] = "\u2421"
_REPLACED = {c: "\ufffd" for c in (*range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                                     *range(0x2066, 0x206A))}
_VISIBLE = str.maketrans({**_PICTURES, **_REPLACED})
# Inline Markdown syntax (emphasis, code, links, images, strikethrough, escapes, table pipes) is
# backslash-escaped; HTML's three special characters become entities, so no tag, autolink or
# entity in event text is ever interpreted. Block syntax cannot start inside a table cell.
# An underscore between two letters or digits never opens emphasis (snake_case names stay
# readable in the Markdown source); any other underscore is escaped.
_MARKDOWN = str.maketrans({**{c: "\\" + c for c in "\\`*[]|~!"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"})
_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def visible(text: str, keep: str = "") -> str:
    """``text`` with every control character shown as a visible symbol (those in ``keep``,
    e.g. ``"\\n\\t"`` for a plain-text body, stay as they are)."""
    if keep:
        table = {k: v for k, v in _VISIBLE.items() if chr(k) not in keep}
        return text.translate(table)
    return text.translate(_VISIBLE)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def markdown_cell_text(value: object, limit: int = 80) -> str:
    """What a Markdown table cell shows for ``value``: visible, shortened, spaces trimmed."""
    text = "" if value is None else str(value)
    return shorten(visible(text), limit).strip()


def markdown_cell(value: object, limit: int = 80) -> str:
    """``value`` as Markdown source for one table cell that renders exactly
    :func:`markdown_cell_text`."""
    return _LOOSE_UNDERSCORE.sub(r"\\_", markdown_cell_text(value, limit).translate(_MARKDOWN))


def slack_text(text: str) -> str:
    """Text for a Slack/Teams ``text`` field: ``&``, ``<`` and ``>`` escaped as those services
    require, so event text can never become a link, a mention or ``<!channel>``."""
    return text.translate(_SLACK)
