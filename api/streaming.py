"""Server-Sent Events on the wire (SPEC §6 streaming): which requests want them, and the
framing of a service's ReplyEvents as `delta` / `done` / `error` events."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request, stream_with_context

from errors import AppError
from services.conversations import ReplyEvent

log = logging.getLogger("companin.streaming")

SSE_MIMETYPE = "text/event-stream"
SSE_DOC = {
    "type": "string",
    "description": (
        "Server-Sent Events, sent when the request has `Accept: text/event-stream` or "
        "`?stream=true`: `event: delta` with `data: {\"text\": \"…\"}` as the reply is "
        "written, then one `event: done` whose data is the stored exchange (the "
        "MessageExchange JSON body). Errors before the first event are ordinary JSON "
        "errors; a later failure is an `event: error` with the ErrorResponse body (the "
        "question and the reply so far are stored, the reply marked incomplete)."),
}


def wants_stream(explicit: bool | None) -> bool:
    """`?stream=` decides when given; otherwise the Accept header does."""
    if explicit is not None:
        return explicit
    best = request.accept_mimetypes.best_match(["application/json", SSE_MIMETYPE])
    return best == SSE_MIMETYPE


def frame(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def sse_response(events: Iterator[ReplyEvent], done: Callable[[Any, Any], Any],
                 status: int) -> Response:
    """Stream `events`; `done(question, reply)` gives the `done` event's JSON data."""

    def body() -> Iterator[str]:
        try:
            for ev in events:
                if ev.kind == "delta":
                    yield frame("delta", {"text": ev.text})
                elif ev.kind == "done" and ev.messages is not None:
                    yield frame("done", done(*ev.messages))
                elif ev.error is not None:
                    yield frame("error", ev.error.to_dict())
        except AppError as exc:
            yield frame("error", exc.to_dict())
        except Exception:  # noqa: BLE001 - the status line is gone; say so in the stream
            log.exception("stream failed on %s %s", request.method, request.path)
            yield frame("error", {"error": {
                "code": "internal_error",
                "message": "Something went wrong on our side; it was logged.",
                "details": {}}})
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # the client went away: the service stores what it got

    resp = Response(stream_with_context(body()), status=status, mimetype=SSE_MIMETYPE)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"  # proxies (nginx) must not buffer the events
    return resp
