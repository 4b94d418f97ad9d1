"""Export (SPEC §6): streamed JSON Lines / CSV of exactly the filtered conversations."""
from __future__ import annotations

import csv
import io
import json

from tests.conversations.conftest import exchange, open_session, start_conversation


def _setup(app, tenant, assistant):  # noqa: ANN001, ANN202
    s1 = open_session(tenant, assistant["id"], channel="web", user={"external_id": "u-1"})
    s2 = open_session(tenant, assistant["id"], channel="email")
    a = start_conversation(tenant, s1["id"])
    b = start_conversation(tenant, s1["id"])
    c = start_conversation(tenant, s2["id"])
    exchange(app, tenant.org_id, a["id"], "first, in a")
    _, reply = exchange(app, tenant.org_id, a["id"], "=SUM(A1:A9) second, in a")
    tenant.post(f"/api/v1/conversations/{a['id']}/feedback",
                json={"rating": 2, "message_id": reply, "actor": {"type": "customer"}})
    tenant.post(f"/api/v1/conversations/{a['id']}/feedback",
                json={"rating": 5, "actor": {"type": "agent"}})
    exchange(app, tenant.org_id, c["id"], "only one in c")
    return s1, s2, a, b, c


def test_jsonl_export_streams_filtered_conversations_with_messages_and_feedback(
        app, tenant, other_tenant, assistant):
    s1, s2, a, b, c = _setup(app, tenant, assistant)
    resp = tenant.get(f"/api/v1/conversations/export?format=jsonl&session_id={s1['id']}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson" and resp.is_streamed
    assert "attachment" in resp.headers["Content-Disposition"]
    records = [json.loads(line) for line in resp.data.decode().splitlines()]
    assert [r["id"] for r in records] == [b["id"], a["id"]]
    first = records[1]
    assert [m["content"] for m in first["messages"]][::2] == [
        "first, in a", "=SUM(A1:A9) second, in a"]
    assert len(first["messages"]) == 4 and first["messages"][1]["role"] == "assistant"
    assert sorted(f["rating"] for f in first["feedback"]) == [2, 5]
    assert (first["channel"], first["external_id"]) == ("web", "u-1")
    assert records[0]["messages"] == [] and records[0]["feedback"] == []
    everything = tenant.get("/api/v1/conversations/export").data.decode().splitlines()
    assert {json.loads(x)["id"] for x in everything} == {a["id"], b["id"], c["id"]}
    since = tenant.get("/api/v1/conversations/export",
                       query_string={"since": c["created_at"]}).data.decode().splitlines()
    assert [json.loads(x)["id"] for x in since] == [c["id"]]
    assert other_tenant.get("/api/v1/conversations/export").data == b""


def test_csv_export_has_one_row_per_message_and_neutralizes_formulas(
        app, tenant, assistant):
    s1, s2, a, b, c = _setup(app, tenant, assistant)
    resp = tenant.get(f"/api/v1/conversations/export?format=csv&session_id={s1['id']}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.data.decode())))
    assert {r["conversation_id"] for r in rows} == {a["id"], b["id"]}
    a_rows = [r for r in rows if r["conversation_id"] == a["id"]]
    assert [r["role"] for r in a_rows] == ["user", "assistant"] * 2
    assert a_rows[2]["content"] == "'=SUM(A1:A9) second, in a"
    assert a_rows[0]["feedback_count"] == "2" and a_rows[0]["feedback_mean_rating"] == "3.5"
    assert a_rows[3]["message_ratings"] == "2"
    assert a_rows[1]["model"] == "local-extractive"
    b_rows = [r for r in rows if r["conversation_id"] == b["id"]]
    assert len(b_rows) == 1 and b_rows[0]["message_id"] == ""


def test_export_validates_its_query(tenant):
    assert tenant.get("/api/v1/conversations/export?format=xml").status_code == 422
    assert tenant.get("/api/v1/conversations/export?until=notadate").status_code == 422
    assert tenant.get("/api/v1/conversations/export?bogus=1").status_code == 422
