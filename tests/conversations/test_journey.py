"""The whole story through the public API: a customer opens a session, the channel adds
context, they ask, the assistant answers from the knowledge base, someone rates it."""
from __future__ import annotations



def test_anonymous_and_authenticated_journeys(tenant, assistant, run_jobs):
    qa = tenant.post("/api/v1/knowledge/qas/", json={
        "question": "Do you ship to Switzerland?",
        "answer": "Yes, we ship to Switzerland within 3 working days."}).json
    run_jobs()

    # An anonymous visitor on the website.
    anon = tenant.post("/api/v1/sessions/", json={"assistant_id": assistant["id"],
                                                  "channel": "web"}).json
    assert anon["anonymous"] is True
    ctx = tenant.post("/api/v1/contexts", json={"session_id": anon["id"],
                                                "attributes": {"page": "/shipping"}})
    assert ctx.status_code == 201
    conv = tenant.post("/api/v1/conversations/", json={"session_id": anon["id"]}).json
    sent = tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                       json={"content": "Do you ship to Switzerland?"})
    assert sent.status_code == 201, sent.json
    message, reply = sent.json["message"], sent.json["reply"]
    assert (message["role"], message["content"]) == ("user", "Do you ship to Switzerland?")
    assert reply["role"] == "assistant" and "Switzerland" in reply["content"]
    assert reply["citations"][0]["source_id"] == qa["id"]
    assert reply["citations"][0]["chunk_id"] and reply["citations"][0]["title"]
    assert reply["assistant_version"] == 1 and reply["model"] == "local-extractive"
    assert isinstance(reply["latency_ms"], int)
    fb = tenant.post(f"/api/v1/conversations/{conv['id']}/feedback", json={
        "rating": 5, "message_id": reply["id"], "actor": {"type": "customer"}})
    assert fb.status_code == 201 and fb.json["source_ids"] == [qa["id"]]

    # The same question from a known customer on WhatsApp.
    known = tenant.post("/api/v1/sessions/", json={
        "assistant_id": assistant["id"], "channel": "whatsapp",
        "user": {"external_id": "crm-7", "name": "Lea", "tier": "vip"}}).json
    assert known["anonymous"] is False and known["user"]["tier"] == "vip"
    conv2 = tenant.post("/api/v1/conversations/", json={"session_id": known["id"]}).json
    assert conv2["end_user_id"] == known["end_user_id"]
    reply2 = tenant.post(f"/api/v1/conversations/{conv2['id']}/messages",
                         json={"content": "do you ship to switzerland"}).json["reply"]
    assert reply2["citations"][0]["source_id"] == qa["id"]
    feedback = tenant.post(f"/api/v1/conversations/{conv2['id']}/feedback", json={
        "rating": 4, "comment": "Quick answer", "actor": {"type": "agent", "id": "ag-1"}})
    assert feedback.status_code == 201
    transcript = tenant.get(f"/api/v1/conversations/{conv2['id']}/messages").json["items"]
    assert [m["role"] for m in transcript] == ["user", "assistant"]
    assert tenant.get(f"/api/v1/conversations/{conv2['id']}/feedback").json["items"][0][
        "comment"] == "Quick answer"
    assert tenant.delete(f"/api/v1/sessions/{known['id']}").status_code == 204
    late = tenant.post(f"/api/v1/conversations/{conv2['id']}/messages", json={"content": "?"})
    assert late.status_code == 410
