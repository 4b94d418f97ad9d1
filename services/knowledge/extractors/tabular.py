"""CSV rows as `column: value` lines, grouped into units a few hundred words long.

Repeating the column name on every value keeps each chunk self-explanatory once it is cut
away from the header row.
"""
from __future__ import annotations

import csv
import io

from .base import (
    Extracted,
    ExtractLimits,
    TextUnit,
    clean_text,
    decode_utf8,
    require_text,
    unreadable,
)

# The stdlib default (128 KiB per field) raises on one oversized cell and loses the whole
# file; we would rather read it and truncate the cell. Raising the process-wide limit is
# harmless (it only ever goes up) and the upload size cap still bounds memory.
_FIELD_LIMIT = 64 * 1024 * 1024
if csv.field_size_limit() < _FIELD_LIMIT:
    csv.field_size_limit(_FIELD_LIMIT)

UNIT_WORDS = 300
_DELIMITERS = ",;\t|"


def extract_csv(data: bytes, limits: ExtractLimits) -> Extracted:
    text = decode_utf8(data, "CSV file")
    if len(text) > limits.max_text_chars * 4:
        raise unreadable("The CSV file is too large to index.")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:64 * 1024], delimiters=_DELIMITERS
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise unreadable(f"The CSV file is malformed: {exc}.") from None
    if header is None:
        raise unreadable("The CSV file is empty.")
    columns = _columns(header, limits)

    units: list[TextUnit] = []
    truncated_cells = 0
    row_count = 0
    truncated_rows = False
    group: list[str] = []
    group_words = 0
    first_row = 1
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if row_count >= limits.max_csv_rows:
                truncated_rows = True
                break
            row_count += 1
            lines = []
            for index, raw in enumerate(row):
                value = clean_text(raw).strip()
                if not value:
                    continue
                if len(value) > limits.max_cell_chars:
                    value = value[: limits.max_cell_chars].rstrip() + " …[truncated]"
                    truncated_cells += 1
                name = columns[index] if index < len(columns) else f"column {index + 1}"
                lines.append(f"{name}: {value}")
            row_text = "\n".join(lines)
            words = len(row_text.split())
            if group and group_words + words > UNIT_WORDS:
                units.append(TextUnit("\n\n".join(group), {"rows": [first_row, row_count - 1]}))
                group, group_words = [], 0
            if not group:
                first_row = row_count
            group.append(row_text)
            group_words += words
    except csv.Error as exc:
        raise unreadable(
            f"The CSV file is malformed near data row {row_count + 1}: {exc}."
        ) from None
    if group:
        units.append(TextUnit("\n\n".join(group), {"rows": [first_row, row_count]}))

    metadata: dict[str, object] = {"columns": columns, "row_count": row_count}
    if truncated_rows:
        metadata["truncated"] = True
        metadata["max_rows"] = limits.max_csv_rows
    if truncated_cells:
        metadata["truncated_cells"] = truncated_cells
    return Extracted(require_text(units, "CSV file"), metadata)


def _columns(header: list[str], limits: ExtractLimits) -> list[str]:
    columns = []
    for index, raw in enumerate(header):
        name = clean_text(raw).strip()[: min(200, limits.max_cell_chars)]
        columns.append(name or f"column {index + 1}")
    return columns
