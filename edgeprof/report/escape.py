"""Text from models, files and devices made safe for the report formats that would otherwise interpret it:
Markdown (where raw HTML such as `<script>` or `<img onerror>` renders) and XML (which cannot hold most control
characters at all)."""

from __future__ import annotations

import re

# Characters XML 1.0 cannot contain (C0 controls but tab, newline and carriage return; lone surrogates, as
# os.fsdecode gives undecodable file names; U+FFFE and U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_MARKDOWN = str.maketrans({"\\": "\\\\", "|": "\\|", "[": "\\[", "]": "\\]", "&": "&amp;", "<": "&lt;", ">": "&gt;",
                           "\n": " "})


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot hold written as a visible escape (\\x01, \\udcff)."""
    return _NOT_XML.sub(_visible, text)


def markdown_text(text: str) -> str:
    """`text` as literal Markdown inline text, fit for a table cell or an image's caption: HTML's `& < >` as
    entities, `| [ ] \\` escaped, line breaks as spaces, control characters (ESC, NUL) as visible escapes."""
    return _CONTROL.sub(_visible, text).translate(_MARKDOWN)
