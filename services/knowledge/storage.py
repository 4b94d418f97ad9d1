"""Original upload bytes, kept so a source can be re-processed (new extractor, new model).

Files live under STORAGE_DIR/<org>/<sha256>: content-addressed, written atomically, shared by
every process in services mode (a shared directory, like INDEX_DIR).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app


def _root() -> Path:
    return Path(current_app.config["STORAGE_DIR"])


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(org_id: str, data: bytes) -> str:
    """Store `data`; returns its key (idempotent for identical content)."""
    digest = sha256_hex(data)
    key = f"{org_id}/{digest}"
    if (_root() / key).exists():
        return key
    return put_named(key, data)


def put_named(key: str, data: bytes) -> str:
    """Store `data` under `key` (work files such as a large source's staged chunks)."""
    path = _root() / key
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return key


def get(key: str) -> bytes:
    return (_root() / key).read_bytes()


def delete(key: str) -> None:
    (_root() / key).unlink(missing_ok=True)
