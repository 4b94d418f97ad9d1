"""Issue 13 item 5 — conversation analytics for support leads: per bucket and per
assistant version, conversations, messages, unique end users, "I don't know" rate and
ratings; only the caller's organization (SPEC §11)."""
from __future__ import annotations

import pytest


def _talk(tenant, assistant_id: str, question: str, *, external_id: str | None = None,  # noqa: ANN001
          rating: int | None = None) -> dict:
    body = {"assistant_id": assistant_id}
    if external_id:
        body["user"] = {"external_id": external_id}
    session = tenant.post("/api/v1/sessions/", json=body).json
    conv = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]}).json
    sent = tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                       json={"content": question}).json
    if rating is not None:
        assert tenant.post(f"/api/v1/conversations/{conv['id']}/feedback", json={
            "rating": rating, "message_id": sent["reply"]["id"],
            "actor": {"type": "customer"}}).status_code == 201
    return sent["reply"]


@pytest.fixture
def activity(tenant, assistant, run_jobs) -> str:  # noqa: ANN001
    assert tenant.post("/api/v1/knowledge/qas/", json={
        "question": "What are your opening hours?",
        "answer": "Monday to Friday, 9:00 to 18:00."}).status_code in (201, 202)
    run_jobs()
    aid = assistant["id"]
    assert _talk(tenant, aid, "What are your opening hours?", external_id="crm-1",
                 rating=5)["answer_type"] == "qa_match"
    assert _talk(tenant, aid, "Can I pay in bitcoin?", external_id="crm-1",
                 rating=1)["answer_type"] == "no_answer"
    assert _talk(tenant, aid, "Do you sell bicycles?")["answer_type"] == "no_answer"
    return aid


def test_totals_versions_and_buckets(tenant, activity):
    resp = tenant.get("/analytics/conversations/?interval=day")
    assert resp.status_code == 200, resp.json
    out = resp.json
    totals = out["totals"]
    assert (totals["conversations"], totals["messages"], totals["replies"]) == (3, 6, 3)
    assert totals["no_answer_rate"] == pytest.approx(0.6667)
    assert (totals["ratings"], totals["mean_rating"], totals["end_users"]) == (2, 3.0, 1)
    assert [(v["assistant_id"], v["assistant_version"], v["conversations"])
            for v in out["per_version"]] == [(activity, 1, 3)]
    assert len(out["buckets"]) >= 30  # 30 days by default, empty days included
    busy = [b for b in out["buckets"] if b["conversations"]]
    assert len(busy) == 1 and busy[0]["end_users"] == 1 and busy[0]["messages"] == 6
    assert busy[0]["versions"][0]["no_answer_rate"] == pytest.approx(0.6667)
    empty = next(b for b in out["buckets"] if not b["conversations"])
    assert (empty["no_answer_rate"], empty["mean_rating"], empty["versions"]) == (
        None, None, [])


def test_a_new_live_version_is_counted_apart(tenant, activity):
    assert tenant.patch(f"/api/v1/assistants/{activity}",
                        json={"tone": "brief", "promote": True}).json["live_version"] == 2
    _talk(tenant, activity, "What are your opening hours?", rating=4)
    out = tenant.get("/analytics/conversations/?interval=hour").json
    per = {v["assistant_version"]: v for v in out["per_version"]}
    assert per[1]["conversations"] == 3 and per[2]["conversations"] == 1
    assert per[2]["no_answer_rate"] == 0.0 and per[2]["mean_rating"] == 4.0


def test_other_organizations_see_only_their_own(tenant, other_tenant, activity):
    out = other_tenant.get("/analytics/conversations/?interval=day").json
    assert out["totals"]["conversations"] == 0 and out["per_version"] == []
    resp = other_tenant.get(f"/analytics/conversations/?organization_id={tenant.org_id}")
    assert resp.status_code == 404
    assert tenant.get("/analytics/conversations/?interval=week").status_code == 422


def test_the_console_charts_conversations_with_range_presets(app, activity, tenant):
    """Support leads read the same numbers in the console, with 7/30/90-day presets."""
    import json
    import re

    from tests.console.conftest import login
    from tests.factories import make_user

    _, email, password = make_user(app, tenant.org_id, role="viewer",
                                   email="lead@example.com")
    client = app.test_client()
    login(client, email, password)
    html = client.get("/console/analytics/").text
    for days in (7, 30, 90):
        assert f'data-preset="{days}"' in html
    figure = json.loads(re.search(r"id=\"chart-conversations\"[^>]*data-figure='([^']*)'",
                                  html, re.S).group(1).replace("&#34;", '"')
                        .replace("&#39;", "'").replace("&amp;", "&"))
    assert sum(figure["data"][0]["y"]) == 3  # conversations
    assert 'id="chart-quality"' in html and "67% of 3 replies" in html
    assert re.search(r"Support v1</td><td class=\"right\">3</td>", html)
    page = client.get("/console/analytics/?since=2026-01-01&until=2026-01-02").text
    assert 'data-empty="conversations"' in page  # another range: "no data yet"
