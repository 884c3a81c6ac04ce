"""Text from the site made inert for where an export opens it: a spreadsheet, a Markdown renderer, a chart.

The site's text is someone else's: a headline ``=HYPERLINK(…)`` is a formula to a spreadsheet, a
section ``<img onerror=…>`` is a script to a Markdown renderer with HTML on, a tag ``$\\foo$`` is
maths to matplotlib. Each function here makes a value plain text for one of those readers.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: A CSV cell starting with one of these is run as a formula by spreadsheets (OWASP's list), or is
#: already an escaped cell (the quote), so that dropping one leading quote always gives the value back.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'", "＝", "＋", "－", "＠")  # and their full-width forms
#: Invisible characters a cell may start with before its formula (zero-width, byte-order, direction marks).
INVISIBLE_STARTS = "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u202a\u202b\u202c\u202d\u202e"
#: Characters that make inline Markdown (emphasis, code, links, tables, maths) or HTML. Values are
#: only ever put inside a line (a table cell, a sentence), never at its start, so line-start
#: constructs (``#``, ``-``, ``1.``) cannot arise.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~$])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: What GitHub-flavoured renderers (GitHub, Hugging Face) make a link of without any markup: the
#: ``:`` of ``scheme://`` and the ``.`` of ``www.``, escaped so that they stay text (an address in an
#: e-mail form is still linked, to ``mailto:``: no renderer's autolinking of those can be escaped).
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9])(:)(?=//)|(?<=(?<![A-Za-z0-9])[wW]{3})(\.)")
#: The longest label a chart draws; longer ones end in an ellipsis (a 2,000-character tag would
#: squeeze the chart to nothing).
LABEL_CHARS = 60


def one_line(value: Any) -> str:
    """``value`` as one line of text: control characters (line breaks, tabs, NUL…) and runs of
    whitespace become one space."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(value))
    return " ".join(text.split())


def csv_cell(text: str) -> str:
    """``text`` with a ``'`` in front when a spreadsheet would read it as a formula."""
    return "'" + text if text.lstrip(INVISIBLE_STARTS).startswith(FORMULA_STARTS) else text


def markdown_text(value: Any) -> str:
    """``value`` as literal inline text for Markdown and for the HTML a renderer makes of it: one
    line, Markdown punctuation and bare addresses backslash-escaped, ``& < >`` as entities."""
    text = _AUTOLINK.sub(lambda m: "\\" + m.group(0), _MARKDOWN.sub(r"\\\1", one_line(value)))
    return "".join(_HTML.get(ch, ch) for ch in text)


def chart_label(value: Any) -> str:
    """``value`` as a chart label: one line, at most LABEL_CHARS characters. Drawn with maths
    parsing off (``text.parse_math``), so ``$`` needs no escape."""
    text = one_line(value)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
