"""Issue 13 item 1 — preview: any version answers like a conversation would, with the
retrieval trace, on a paused assistant too, and nothing is stored (SPEC §11)."""
from __future__ import annotations

import io
import json

import httpx
import pytest

from models.conversations import Conversation, Message
from models.sessions import Session
from services.answer_texts import no_answer_text
from tests.conversations.conftest import count
from tests.conversations.test_local_engine import GUIDE

MESSAGES_URL = "https://api.anthropic.com/v1/messages"
OFF_TOPIC = "What is the capital of Peru?"


@pytest.fixture
def guide_assistant(tenant, run_jobs) -> str:  # noqa: ANN001
    """An English assistant (v1 live) with an Italian draft (v2), over an Italian guide."""
    resp = tenant.post("/api/v1/knowledge/files/", data={
        "file": (io.BytesIO(GUIDE.encode()), "guida.txt")}, content_type="multipart/form-data")
    assert resp.status_code == 202, resp.json
    run_jobs()
    resp = tenant.post("/api/v1/assistants/", json={
        "name": "Support", "language": "en", "instructions": "Answer in English."})
    assert resp.status_code == 201, resp.json
    assistant_id = resp.json["id"]
    resp = tenant.patch(f"/api/v1/assistants/{assistant_id}", json={
        "language": "it", "instructions": "Rispondi in italiano, con cortesia."})
    assert resp.status_code == 200 and resp.json["live_version"] == 1, resp.json
    return assistant_id


def _preview(tenant, assistant_id: str, **body) -> dict:  # noqa: ANN001, ANN003
    resp = tenant.post(f"/api/v1/assistants/{assistant_id}/preview", json=body)
    assert resp.status_code == 200, resp.json
    return resp.json


def _stored(app) -> tuple[int, int, int]:  # noqa: ANN001
    return count(app, Session), count(app, Conversation), count(app, Message)


def test_the_draft_answers_in_its_language_the_live_version_in_its_own(
        app, tenant, guide_assistant):
    assistant_id = guide_assistant
    before = _stored(app)
    live = _preview(tenant, assistant_id, content=OFF_TOPIC)
    draft = _preview(tenant, assistant_id, content=OFF_TOPIC, version=2)
    assert (live["reply"]["assistant_version"], draft["reply"]["assistant_version"]) == (1, 2)
    assert live["reply"]["content"] == no_answer_text("en")
    assert draft["reply"]["content"] == no_answer_text("it")
    assert draft["reply"]["answer_type"] == "no_answer" and not draft["reply"]["grounded"]
    assert all(not t["passed"] for t in draft["trace"])  # nothing relevant enough
    assert _stored(app) == before  # no session, conversation or message


def test_a_grounded_answer_comes_with_its_trace(app, tenant, guide_assistant):
    assistant_id = guide_assistant
    before = _stored(app)
    out = _preview(tenant, assistant_id, version=2,
                   content="Quanto dura la garanzia del bollitore Casa Bella?")
    reply, trace = out["reply"], out["trace"]
    assert "garanzia di due anni" in reply["content"]
    assert reply["grounded"] is True and reply["model"] == "local-extractive"
    assert reply["latency_ms"] >= 0
    top = trace[0]
    assert top["passed"] is True and top["given_to_engine"] is True
    assert top["source_id"] == reply["citations"][0]["source_id"]
    assert top["score"] == max(t["score"] for t in trace)
    assert isinstance(top["lexical_rank"], int) and isinstance(top["vector_rank"], int)
    assert top["lexical_rank"] >= 1 and top["vector_score"] is not None
    assert _stored(app) == before


def test_the_draft_instructions_reach_the_model_with_history_and_context(
        app, tenant, guide_assistant, monkeypatch, anthropic_http,
        anthropic_messages_response):
    assistant_id = guide_assistant
    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    route = anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        200, json=anthropic_messages_response("La garanzia dura due anni [1].",
                                              model="claude-sonnet-4-5")))
    out = _preview(tenant, assistant_id, version=2, content="E la garanzia?",
                   history=[{"role": "user", "content": "Ciao"},
                            {"role": "assistant", "content": "Buongiorno!"}],
                   context={"plan": "gold"})
    assert out["reply"]["answer_type"] == "generative"
    sent = json.loads(route.calls.last.request.content)
    system = json.dumps(sent["system"], ensure_ascii=False)
    assert "Rispondi in italiano, con cortesia." in system
    assert "Answer in English." not in system
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert '"plan": "gold"' in sent["messages"][-1]["content"]


def test_a_paused_assistant_can_be_previewed(tenant, guide_assistant):
    assistant_id = guide_assistant
    resp = tenant.patch(f"/api/v1/assistants/{assistant_id}", json={"is_active": False})
    assert resp.status_code == 200 and resp.json["is_active"] is False
    assert _preview(tenant, assistant_id, content=OFF_TOPIC)["reply"]["answer_type"] \
        == "no_answer"


@pytest.mark.parametrize(("body", "field"), [
    ({"content": "   "}, "content"),
    ({"content": "Hi", "version": 0}, "version"),
    ({"content": "Hi", "history": [{"role": "system", "content": "x"}]}, "history.0.role"),
    ({"content": "Hi", "history": [{"role": "user", "content": ""}]}, "history.0.content"),
    ({"content": "Hi", "context": ["not", "an", "object"]}, "context"),
    ({"content": "Hi", "extra": 1}, "extra"),
])
def test_bad_preview_bodies_are_422(tenant, guide_assistant, body, field):
    assistant_id = guide_assistant
    resp = tenant.post(f"/api/v1/assistants/{assistant_id}/preview", json=body)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["error"]["details"]["fields"], resp.json


def test_unknown_versions_and_other_organizations_assistants_are_404(
        tenant, other_tenant, guide_assistant):
    assistant_id = guide_assistant
    resp = tenant.post(f"/api/v1/assistants/{assistant_id}/preview",
                       json={"content": "Hi", "version": 99})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    resp = other_tenant.post(f"/api/v1/assistants/{assistant_id}/preview",
                             json={"content": "Hi"})
    assert resp.status_code == 404
