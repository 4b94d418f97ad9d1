"""The settings page: the organization's limits, and its retention policy with the last
run; owners and admins save the policy (audited), viewers read it."""
from __future__ import annotations


def test_the_console_shows_the_policy_and_its_last_run_and_saves_it(app, corg):
    owner, viewer = corg["owner"], corg["viewer"]
    page = owner.client.get("/console/settings/")
    assert page.status_code == 200 and "Not run yet" in page.text
    bad = owner.post("/console/settings/retention", {"conversations": "-3"})
    assert bad.status_code == 422 and "whole number of days" in bad.text
    saved = owner.post("/console/settings/retention",
                       {"request_logs": "90", "conversations": "365", "rate_limit_events": ""})
    assert saved.status_code == 302
    from services.retention import run

    with app.app_context():
        run(org_id=corg.org_id)
    page = viewer.client.get("/console/settings/").text
    assert 'value="365"' in page and "Last run" in page and "Save retention" not in page
    assert viewer.post("/console/settings/retention", {"conversations": "1"}).status_code == 403
    event = corg.tenant.get("/api/v1/audit-events?entity_type=organization&actor_type=user"
                            ).json["items"][0]
    assert event["actor"]["id"] == owner.user_id
    assert event["changes"]["retention_conversations_days"] == [None, 365]
