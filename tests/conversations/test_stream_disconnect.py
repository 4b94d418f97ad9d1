"""Issue 11 item 6 — a client that disconnects mid-stream leaves the question stored and
the reply stored as far as it got, marked incomplete. A real HTTP server (werkzeug, on
127.0.0.1, in a thread) and a raw socket client that hangs up after the first delta; the
Anthropic stream is faked at the HTTP wire, delivered event by event."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time

import httpx
import httpx2
import pytest
from respx.mocks import Mocker
from werkzeug.serving import make_server

from models.conversations import Conversation, Message
from tests.conversations.conftest import anthropic_sse_events
from tests.shared_fixtures import _Httpx2Mocker

MESSAGES_URL = "https://api.anthropic.com/v1/messages"


class _LazyHttpx2Mocker(_Httpx2Mocker):
    """Like the shared httpx2 mocker, but the body reaches the SDK chunk by chunk as the
    fake produces it (the shared one reads it whole first)."""

    @classmethod
    def from_sync_httpx_response(cls, httpx_response, target, **kwargs):  # noqa: ANN001, ANN206
        return httpx2.Response(httpx_response.status_code,
                               headers=list(httpx_response.headers.raw),
                               content=httpx_response.iter_raw(), request=kwargs["request"])


if "httpx2_lazy" not in Mocker.registry:
    type("Httpx2LazyMocker", (_LazyHttpx2Mocker,), {"name": "httpx2_lazy"})


@pytest.fixture
def server(app):  # noqa: ANN001, ANN201
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_port
    srv.shutdown()
    thread.join(5)


def _wait_for(predicate, seconds: float = 10.0):  # noqa: ANN001, ANN202
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_a_client_hanging_up_mid_stream_leaves_question_and_partial_reply_stored(
        app, tenant, conversation, server, monkeypatch):
    import respx

    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    events = anthropic_sse_events("Returns are accepted", *[f" and more {i}" for i in
                                                            range(20)], ".")
    first, rest = events[:4], events[4:]  # up to and including the first text delta
    client_gone = threading.Event()

    def body():  # noqa: ANN202
        yield b"".join(first)
        client_gone.wait(10)
        for chunk in rest:
            time.sleep(0.02)
            yield chunk

    payload = json.dumps({"content": "What is the return policy?"}).encode()
    request = (
        f"POST /api/v1/conversations/{conversation['id']}/messages HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server}\r\nX-API-Key: {tenant.secret}\r\n"
        "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    with respx.mock(using="httpx2_lazy", assert_all_called=False) as router:
        router.post(MESSAGES_URL).mock(side_effect=lambda req: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Chunks(body())))
        sock = socket.create_connection(("127.0.0.1", server), timeout=10)
        sock.sendall(request)
        received = b""
        # the first delta event, through the end of its HTTP chunk (data, blank line, CRLF)
        while b"\n\n\r\n" not in received.partition(b"event: delta")[2]:
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        assert b" 201 " in received.split(b"\r\n", 1)[0]
        # hang up hard (RST), as a closed browser tab or a dropped mobile link does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        client_gone.set()

        def stored() -> list[Message]:
            from extensions import db

            with app.app_context():
                rows = db.session.query(Message).order_by(Message.created_at).all()
                db.session.expunge_all()
                return rows if len(rows) == 2 else []

        rows = _wait_for(stored)
    assert rows, "the interrupted exchange was not stored"
    question, reply = rows
    assert (question.role, question.content) == ("user", "What is the return policy?")
    assert reply.role == "assistant" and reply.reply_to_id == question.id
    assert (reply.status, reply.status_reason) == ("incomplete", "client_disconnected")
    assert reply.content.startswith("Returns are accepted")
    assert "more 19" not in reply.content  # stored as far as it got, not the whole reply
    with app.app_context():
        from extensions import db

        assert db.session.get(Conversation, conversation["id"]).message_count == 2
    transcript = tenant.get(f"/api/v1/conversations/{conversation['id']}/messages").json
    assert transcript["items"][1]["status"] == "incomplete"


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks) -> None:  # noqa: ANN001
        self._chunks = chunks

    def __iter__(self):  # noqa: ANN204
        yield from self._chunks
