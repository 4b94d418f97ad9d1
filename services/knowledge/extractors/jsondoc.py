"""JSON flattened to `path: value` lines, one unit per object holding leaf values.

Keeping siblings together (a product's name, price and colour) preserves the meaning that
a per-leaf split would lose, and the JSONPath in the provenance points back to the record.
"""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from .base import (
    Extracted,
    ExtractLimits,
    TextUnit,
    clean_text,
    decode_utf8,
    require_text,
    unreadable,
)

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def extract_json(data: bytes, limits: ExtractLimits) -> Extracted:
    text = decode_utf8(data, "JSON file")
    depth = nesting_depth(text)
    if depth > limits.max_json_depth:
        raise unreadable(
            f"The JSON document is nested {depth} levels deep; at most "
            f"{limits.max_json_depth} are supported."
        )
    try:
        doc = json.loads(text)
    except RecursionError:
        raise unreadable("The JSON document is nested too deeply to read.") from None
    except ValueError as exc:
        raise unreadable(f"The file is not valid JSON: {exc}.") from None

    units, nodes = _flatten(doc, limits)
    metadata = {"root_type": type(doc).__name__, "node_count": nodes}
    return Extracted(require_text(units, "JSON document"), metadata)


def nesting_depth(text: str) -> int:
    """Maximum bracket depth, computed without recursion so hostile nesting is cheap.

    String literals are blanked first so brackets inside values do not count.
    """
    skeleton = _STRING.sub("", text)
    codes = np.frombuffer(skeleton.encode("utf-8", "ignore"), dtype=np.uint8)
    if codes.size == 0:
        return 0
    steps = np.zeros(codes.shape, dtype=np.int32)
    steps[(codes == ord("{")) | (codes == ord("["))] = 1
    steps[(codes == ord("}")) | (codes == ord("]"))] = -1
    return int(np.cumsum(steps).max(initial=0))


def _flatten(doc: Any, limits: ExtractLimits) -> tuple[list[TextUnit], int]:
    units: list[TextUnit] = []
    nodes = 0
    # Iterative depth-first walk in document order: (value, path, label).
    stack: list[tuple[Any, str, str]] = [(doc, "$", "")]
    while stack:
        value, path, label = stack.pop()
        nodes += 1
        if nodes > limits.max_json_nodes:
            raise unreadable(
                f"The JSON document has more than {limits.max_json_nodes} values; "
                "split it into smaller files."
            )
        if isinstance(value, dict):
            items = [(str(key), item) for key, item in value.items()]
            child = [(_key_path(path, key), _key_label(label, key), item) for key, item in items]
        elif isinstance(value, list):
            child = [(f"{path}[{i}]", f"{label}[{i}]", item) for i, item in enumerate(value)]
        else:
            units.append(TextUnit(f"{label or '$'}: {_scalar(value, limits)}", {"path": path}))
            continue
        lines = []
        containers = []
        for child_path, child_label, item in child:
            if _is_scalar(item):
                nodes += 1
                lines.append(f"{child_label}: {_scalar(item, limits)}")
            elif isinstance(item, list) and item and all(_is_scalar(x) for x in item):
                nodes += 1 + len(item)
                joined = ", ".join(_scalar(x, limits) for x in item)
                lines.append(f"{child_label}: {joined}")
            else:
                containers.append((item, child_path, child_label))
        if nodes > limits.max_json_nodes:
            raise unreadable(
                f"The JSON document has more than {limits.max_json_nodes} values; "
                "split it into smaller files."
            )
        if lines:
            units.append(TextUnit("\n".join(lines), {"path": path}))
        stack.extend(reversed(containers))
    return units, nodes


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar(value: Any, limits: ExtractLimits) -> str:
    if isinstance(value, str):
        text = clean_text(value).strip()
        if len(text) > limits.max_cell_chars:
            text = text[: limits.max_cell_chars].rstrip() + " …[truncated]"
        return text
    return json.dumps(value)


def _key_path(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _key_label(label: str, key: str) -> str:
    key = clean_text(key)
    if not label:
        return key if _PLAIN_KEY.match(key) else json.dumps(key)
    return f"{label}.{key}" if _PLAIN_KEY.match(key) else f"{label}[{json.dumps(key)}]"
