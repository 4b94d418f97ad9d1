"""Parsing our own source for the code-inspection tests, safe beside other threads.

CPython 3.11 keeps the AST builder's recursion counter per interpreter, not per thread
(python/cpython#106905): when another thread builds an AST at the same moment - 3.11's
traceback module does, to place its carets, whenever a background thread logs an
exception - `ast.parse` can fail with a spurious "AST constructor recursion depth
mismatch" SystemError. The parse is retried; a real syntax error still fails at once.
"""
from __future__ import annotations

import ast
import time

ATTEMPTS = 5


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    for _ in range(ATTEMPTS - 1):
        try:
            return ast.parse(source, filename=filename)
        except SystemError:
            time.sleep(0.05)
    return ast.parse(source, filename=filename)  # the last try raises whatever it meets
