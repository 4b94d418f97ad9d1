"""The `Idempotency-Key` header on every keyed POST (services.idempotency holds the rule):
claimed before the view runs, the final answer stored after it, replayed on a retry."""
from __future__ import annotations

import hashlib

from flask import Response, g, request

from api.auth import is_keyed_path
from services import idempotency as svc

HEADER = "Idempotency-Key"


def _fingerprint() -> str:
    """The request a key stands for: method, path and query, and the body (each uploaded
    file's bytes, for a multipart body, read without consuming it)."""
    digest = hashlib.sha256(f"{request.method} {request.full_path}\0".encode())
    if request.mimetype.startswith("multipart/"):
        # a part may come without a name: sort on text, never compare None with a str
        for name, value in sorted(request.form.items(multi=True),
                                  key=lambda item: (str(item[0]), str(item[1]))):
            digest.update(f"{name}={value}\0".encode())
        for name, upload in sorted(request.files.items(multi=True),
                                   key=lambda item: (str(item[0]), str(item[1].filename))):
            digest.update(f"{name}:{upload.filename}\0".encode())
            while piece := upload.stream.read(65536):
                digest.update(piece)
            upload.stream.seek(0)
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def begin() -> Response | None:
    """Before the view (after authentication and the limits): replay, refuse or claim."""
    raw = request._get_current_object().headers.get(HEADER)
    if raw is None:  # most calls: one proxy lookup, not one per attribute
        return None
    auth = g.get("auth")
    if (request.method != "POST" or auth is None or request.url_rule is None
            or not is_keyed_path(request.path)):
        return None
    scope = g.rate_limit_key  # the organization's (or platform key's) budget: one per caller
    key = svc.check_key(raw)
    stored = svc.claim(scope, key, _fingerprint())
    if stored is None:
        g.idempotency = (scope, key)
        return None
    resp = Response(stored.body, status=stored.status, content_type=stored.content_type)
    if stored.location:
        resp.headers["Location"] = stored.location
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def end(response: Response) -> Response:
    held = g._get_current_object().pop("idempotency", None)
    if held is not None:
        body = None if response.is_streamed else response.get_data(as_text=True)
        svc.finish(*held, response.status_code, body, response.content_type,
                   response.headers.get("Location"))
    return response
