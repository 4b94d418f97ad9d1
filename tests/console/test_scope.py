"""The knowledge scope editor: same schema as the API, saved through the scope service."""
from __future__ import annotations

from tests.console.conftest import create_assistant_via_api


def make_source(app, org_id: str, title: str, status: str = "ready") -> str:
    """A knowledge source row, as the knowledge pipeline leaves it once processed."""
    from extensions import db
    from models.ids import new_id
    from models.knowledge import KnowledgeSource

    with app.app_context():
        source = KnowledgeSource(id=new_id("kq"), org_id=org_id, kind="qa", title=title,
                                 status=status, question=title, answer="Yes.")
        db.session.add(source)
        db.session.commit()
        return source.id


def test_scope_lists_sources_and_saves_linked_mode(app, corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    refunds = make_source(app, corg.org_id, "Refund policy")
    make_source(app, corg.org_id, "Shipping times", status="processing")
    page = owner.client.get(f"/console/assistants/{aid}/knowledge").text
    assert "Refund policy" in page and "Shipping times" in page
    resp = owner.post(f"/console/assistants/{aid}/knowledge",
                      {"mode": "linked", "linked": [refunds]})
    assert resp.status_code == 302
    assert "1 linked source" in owner.client.get(resp.headers["Location"]).text
    scope = corg.tenant.get(f"/api/v1/assistants/{aid}").json["knowledge"]
    assert scope == {"mode": "linked", "linked": [refunds], "excluded": []}


def test_scope_refuses_another_orgs_source_inline(app, corg, other_corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    foreign = make_source(app, other_corg.org_id, "Their secret doc")
    assert "Their secret doc" not in owner.client.get(f"/console/assistants/{aid}/knowledge").text
    resp = owner.post(f"/console/assistants/{aid}/knowledge",
                      {"mode": "all", "excluded": [foreign]})
    assert resp.status_code == 422
    assert 'id="excluded-error"' in resp.text and "Unknown" in resp.text
    assert corg.tenant.get(f"/api/v1/assistants/{aid}").json["knowledge"]["excluded"] == []


def test_scope_mode_is_validated_by_the_api_schema(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    resp = owner.post(f"/console/assistants/{aid}/knowledge", {"mode": "everything"})
    assert resp.status_code == 422
    assert 'id="mode-error"' in resp.text
