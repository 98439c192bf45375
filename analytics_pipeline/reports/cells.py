"""Text from events made safe for each output format, without losing what it said.

Events are stored verbatim (control characters, text that looks like a formula, any Unicode), so
every renderer passes text through one of these:

- :func:`spreadsheet_text` for CSV: a text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return gets a leading apostrophe, so a spreadsheet shows it as text and never
  evaluates it (the OWASP advice against CSV injection). Numbers are never touched. XLSX keeps
  the text itself and stores such a cell as a text cell with Excel's own "quote prefix" mark
  (:func:`is_formula_like`), which has the same effect without changing the value.
- :func:`visible_controls` for XLSX and PDF, whose writers cannot hold most control characters:
  each one becomes a visible escape such as ``\\x00`` (tab and line breaks stay), so nothing is
  dropped silently and the file always writes.

JSON needs neither: it keeps values verbatim.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What openpyxl (XML 1.0) refuses, and what PDF text cannot show: C0 controls except tab, LF, CR;
# DEL and the C1 controls are kept out of PDFs too.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PDF_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(text: str, *, pdf: bool = False) -> str:
    """``"a\\x00b"`` -> ``"a\\\\x00b"``: control characters a file format cannot hold, as visible escapes."""
    return (_PDF_UNPRINTABLE if pdf else _XML_ILLEGAL).sub(_escape, text)


def spreadsheet_text(value: Any) -> Any:
    """A text that a spreadsheet would read as a formula, with a leading apostrophe; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)
