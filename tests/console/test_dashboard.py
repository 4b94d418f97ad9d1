"""The dashboard's figures come from the organization's own rows, and only its own."""
from __future__ import annotations

import re

from tests.console.conftest import create_assistant_via_api
from tests.factories import make_tenant


def value_of(html: str, name: str) -> str:
    chunk = html[html.index(f'data-card="{name}"'):]
    return re.search(r'class="stat-value[^"]*">([^<]*)<', chunk).group(1).strip()


def test_counts_assistants_requests_and_throttling_for_this_org_only(app, corg):
    a = create_assistant_via_api(corg.tenant)
    create_assistant_via_api(corg.tenant, name="Sales")
    corg.tenant.patch(f"/api/v1/assistants/{a['id']}", json={"is_active": False})
    for _ in range(3):
        corg.tenant.get("/api/v1/assistants/")
    corg.tenant.get("/api/v1/assistants/asst_missing")  # a 404 counts as an error

    noisy = make_tenant(app, "Noisy", rate_limit=1)  # another org: must not show up
    noisy.get("/api/v1/assistants/")
    assert noisy.get("/api/v1/assistants/").status_code == 429

    html = corg["viewer"].client.get("/console/").text
    assert value_of(html, "assistants") == "2"
    assert "1 active" in html and "1 paused" in html
    assert value_of(html, "requests") == "7"  # 2 creates + 1 patch + 3 lists + 1 miss
    assert "1 with an error status" in html
    assert value_of(html, "rate-limits") == "0"
    assert "No call has been throttled" in html


def test_rate_limit_events_are_listed_with_key_name_and_path(app, corg):
    from extensions import db
    from models.orgs import Organization

    with app.app_context():
        db.session.get(Organization, corg.org_id).rate_limit_per_hour = 1
        db.session.commit()
    corg.tenant.get("/api/v1/assistants/")
    assert corg.tenant.get("/api/v1/assistants/?limit=5").status_code == 429
    html = corg["owner"].client.get("/console/").text
    assert value_of(html, "rate-limits") == "1"
    table = html[html.index("Recent rate-limit events"):]
    assert "/api/v1/assistants/" in table and ">GET<" in table and ">test<" in table


def test_a_new_organization_sees_empty_knowledge_conversation_and_rating_cards(corg):
    html = corg["owner"].client.get("/console/").text
    assert value_of(html, "knowledge") == "0" and "No sources uploaded yet" in html
    assert value_of(html, "conversations") == "0"
    assert "No feedback yet" in html


def test_knowledge_conversation_and_rating_cards_count_real_rows(corg, other_corg, run_jobs):
    from tests.console.conftest import make_story

    make_story(corg.tenant, run_jobs)
    make_story(other_corg.tenant, run_jobs)  # another org's rows never count here
    corg.tenant.post("/api/v1/knowledge/qas/", json={"question": "Gift wrap?",
                                                     "answer": "Yes, for 3 EUR."})
    run_jobs()
    html = corg["viewer"].client.get("/console/").text
    assert value_of(html, "knowledge") == "2"
    knowledge = html[html.index('data-card="knowledge"') - 120:][:700]
    assert "2 ready" in knowledge and 'href="/console/knowledge/"' in knowledge
    assert value_of(html, "conversations") == "1"
    assert 'href="/console/conversations/"' in html
    assert value_of(html, "rating") == "4.00" and "from 1 rating" in html
