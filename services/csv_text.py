"""CSV exports streamed in pieces, safe to open in a spreadsheet."""
from __future__ import annotations

import io
from typing import Any


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in user-controlled text (paths, names, changes)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def drain(buf: io.StringIO) -> str:
    """What was written to `buf` since the last drain, leaving it empty."""
    text = buf.getvalue()
    buf.seek(0)
    buf.truncate(0)
    return text
