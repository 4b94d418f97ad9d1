"""Sessions and conversations in the console: filtered lists with HTMX paging, the
transcript with clickable citations, context and feedback — read-only for every role."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.console.conftest import ROLES, create_assistant_via_api, make_story


def open_session(corg, assistant_id: str, **body) -> str:  # noqa: ANN001, ANN003
    resp = corg.tenant.post("/api/v1/sessions/", json={"assistant_id": assistant_id, **body})
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


@pytest.mark.parametrize("role", ROLES)
def test_session_and_conversation_pages_render_read_only_for_every_role(corg, run_jobs,
                                                                        role):
    story = make_story(corg.tenant, run_jobs)
    op = corg[role].client
    transcript = f"/console/conversations/{story.conversation_id}"
    for path in ("/console/sessions/", f"/console/sessions/{story.session_id}",
                 "/console/conversations/", transcript):
        resp = op.get(path)
        assert resp.status_code == 200, (path, resp.text[:300])
        # Nothing here changes state but the sign-out button and, for writers, the two
        # forms under each reply ("Improve this answer", "Save as test case").
        writer = path == transcript and role in ("owner", "admin")
        assert resp.text.count('method="post"') == 1 + 2 * writer, path
        assert resp.text.count("hx-post") == writer, path
        assert ("Improve this answer" in resp.text) == writer, path
    cite = op.get(f"/console/conversations/{story.conversation_id}/citations/"
                  f"{story.chunk_id}", headers={"HX-Request": "true"})
    assert cite.status_code == 200 and "ship to Switzerland within 3 working days" in cite.text


def test_transcript_reads_oldest_first_with_citations_context_and_feedback(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    conv = story.conversation_id
    corg.tenant.post(f"/api/v1/conversations/{conv}/messages",
                     json={"content": "And how much does shipping cost?"})
    html = corg["viewer"].client.get(f"/console/conversations/{conv}").text
    roles = re.findall(r'data-role="(user|assistant)"', html)
    assert roles == ["user", "assistant", "user", "assistant"]
    first_q = html.index("Do you ship to Switzerland?")
    assert first_q < html.index("And how much does shipping cost?")
    # The reply's citation opens the chunk it cites, in place.
    cite_url = f"/console/conversations/{conv}/citations/{story.chunk_id}"
    assert f'hx-get="{cite_url}"' in html and f'hx-target="#cites-{story.reply_id}"' in html
    # Context attributes, session metadata, customer and channel.
    for text in ("plan", "gold", "cart_items", "campaign", "spring", "crm-42", "whatsapp"):
        assert text in html, text
    # The rating: stars, comment, actor, and the message it judged.
    feedback = html[html.index('id="feedback"'):]
    assert 'data-rating="4"' in feedback and "Quick and right" in feedback
    assert "agent" in feedback and "Marta" in feedback and "ag-7" in feedback
    assert f'href="#msg-{story.reply_id}"' in feedback
    assert 'data-rating="4"' in html[html.index(f'id="msg-{story.reply_id}"'):first_q + 4000]


def test_a_citation_whose_source_is_gone_says_so(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    assert corg.tenant.delete(f"/api/v1/knowledge/qas/{story.source_id}").status_code == 204
    resp = corg["owner"].client.get(
        f"/console/conversations/{story.conversation_id}/citations/{story.chunk_id}",
        headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "no longer in the knowledge base" in resp.text


def test_a_chunk_of_another_org_looks_exactly_like_a_deleted_one(corg, other_corg,
                                                                 run_jobs):
    mine = make_story(corg.tenant, run_jobs)
    theirs = make_story(other_corg.tenant, run_jobs, answer="Their secret shipping answer.")
    owner = corg["owner"].client
    base = f"/console/conversations/{mine.conversation_id}/citations/"
    foreign = owner.get(base + theirs.chunk_id).text
    missing = owner.get(base + "chk_000000000000000000000000").text
    assert "secret" not in foreign
    assert foreign.replace(theirs.chunk_id, "X") == missing.replace(
        "chk_000000000000000000000000", "X")


def test_session_filters_and_htmx_paging(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)  # whatsapp, crm-42
    web = [open_session(corg, story.assistant_id, channel="web") for _ in range(26)]
    ended = open_session(corg, story.assistant_id, channel="email",
                         user={"external_id": "crm-99"})
    assert corg.tenant.delete(f"/api/v1/sessions/{ended}").status_code == 204
    owner = corg["owner"].client

    page = owner.get("/console/sessions/").text
    assert page.count('data-session="sess_') == 25
    assert '<option value="email"' in page and '<option value="web"' in page
    more = re.search(r'hx-get="([^"]*cursor=[^"]+)"', page).group(1).replace("&amp;", "&")
    rest = owner.get(more, headers={"HX-Request": "true"}).text
    assert rest.count('data-session="sess_') == 28 - 25 and "<html" not in rest

    web_only = owner.get("/console/sessions/?channel=web", headers={"HX-Request": "true"}).text
    assert web_only.count('data-session="sess_') == 25 and story.session_id not in web_only
    by_customer = owner.get("/console/sessions/?external_id=crm-42").text
    assert re.findall(r'data-session="(sess_\w+)"', by_customer) == [story.session_id]
    inactive = owner.get("/console/sessions/?active=ended").text
    assert re.findall(r'data-session="(sess_\w+)"', inactive) == [ended]
    assert ">ended<" in inactive
    active = owner.get("/console/sessions/?active=active&channel=web").text
    assert ended not in active
    assert web[-1] in active  # the newest web session opens the first page
    assert "No session matches" in owner.get("/console/sessions/?external_id=nobody").text


def test_session_page_lists_its_context_and_conversations(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    html = corg["viewer"].client.get(f"/console/sessions/{story.session_id}").text
    assert "crm-42" in html and "Lea" in html and ">active<" in html
    assert "gold" in html and "spring" in html
    assert f"/console/conversations/{story.conversation_id}" in html
    assert "Do you ship to Switzerland?" in html  # the conversation's opening line
    assert 'data-rating="4"' in html


def test_conversation_filters_by_assistant_session_and_dates(app, corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    sales = create_assistant_via_api(corg.tenant, name="Sales")
    other_session = open_session(corg, sales["id"], channel="web")
    other = corg.tenant.post("/api/v1/conversations/",
                             json={"session_id": other_session}).json["id"]
    owner = corg["owner"].client

    def listed(query: str) -> list[str]:
        html = owner.get(f"/console/conversations/?{query}",
                         headers={"HX-Request": "true"}).text
        return re.findall(r'<tr data-conversation="(conv_\w+)"', html)

    assert set(listed("")) == {story.conversation_id, other}
    assert listed(f"assistant_id={sales['id']}") == [other]
    assert listed(f"session_id={story.session_id}") == [story.conversation_id]
    from models.types import utcnow

    today = utcnow().date()
    assert set(listed(f"since={today}&until={today}")) == {story.conversation_id, other}
    assert listed(f"since={today + timedelta(days=1)}") == []
    assert listed(f"until={today - timedelta(days=1)}") == []
    bad = owner.get("/console/conversations/?since=yesterday").text
    assert "Dates must look like 2025-03-10" in bad and story.conversation_id in bad
    # A deleted assistant's conversations stay listed, marked as such.
    corg.tenant.delete(f"/api/v1/assistants/{sales['id']}")
    html = owner.get("/console/conversations/").text
    assert other in html and "deleted" in html


def test_conversation_list_filters_by_rating_answer_text_user_and_channel(corg, run_jobs):
    """Issue 13 item 4 in the console: the same filters as the API, kept across pages."""
    story = make_story(corg.tenant, run_jobs)  # whatsapp, crm-42, a Q&A match rated 4
    session = corg.tenant.post("/api/v1/sessions/", json={
        "assistant_id": story.assistant_id, "channel": "web",
        "user": {"external_id": "crm-7"}}).json
    conv = corg.tenant.post("/api/v1/conversations/", json={"session_id": session["id"]}).json
    sent = corg.tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                            json={"content": "Can I pay with bitcoin?"}).json
    assert sent["reply"]["answer_type"] == "no_answer"
    assert corg.tenant.post(f"/api/v1/conversations/{conv['id']}/feedback", json={
        "rating": 1, "actor": {"type": "customer"}}).status_code == 201
    viewer = corg["viewer"].client
    for query, shown in (("rating_max=2", conv["id"]), ("answer_type=no_answer", conv["id"]),
                         ("grounded=yes", story.conversation_id), ("q=BITCOIN", conv["id"]),
                         ("external_id=crm-42", story.conversation_id),
                         ("channel=web", conv["id"])):
        page = viewer.get(f"/console/conversations/?{query}").text
        hidden = story.conversation_id if shown == conv["id"] else conv["id"]
        assert shown in page and hidden not in page, query
        rows = viewer.get(f"/console/conversations/?{query}",
                          headers={"HX-Request": "true"}).text
        assert shown in rows and "<html" not in rows, query
    page = viewer.get("/console/conversations/?rating_max=9&answer_type=x&grounded=z").text
    assert story.conversation_id in page and conv["id"] in page  # bad values: no filter


def test_a_customer_page_joins_their_sessions_across_channels(corg, other_corg, run_jobs):
    """Issue 13 item 4: one person's sessions (WhatsApp and web) and conversations on one
    page, reached from the session page; another organization's customer is a 404."""
    story = make_story(corg.tenant, run_jobs)  # crm-42 on whatsapp
    web = corg.tenant.post("/api/v1/sessions/", json={
        "assistant_id": story.assistant_id, "channel": "web",
        "user": {"external_id": "crm-42"}}).json
    conv = corg.tenant.post("/api/v1/conversations/", json={"session_id": web["id"]}).json
    corg.tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                     json={"content": "Where is my parcel?"})
    viewer = corg["viewer"].client
    session_page = viewer.get(f"/console/sessions/{story.session_id}").text
    link = re.search(r'href="(/console/sessions/customers/eu_\w+)" data-test="customer-link"',
                     session_page)
    assert link, session_page[:2000]
    page = viewer.get(link.group(1))
    assert page.status_code == 200
    html = page.text
    assert story.session_id in html and web["id"] in html
    assert "whatsapp" in html and "web" in html and "Lea" in html
    assert story.conversation_id in html and conv["id"] in html
    assert "Where is my parcel?" in html
    assert other_corg["viewer"].client.get(link.group(1)).status_code == 404


def test_transcript_and_session_pages_name_the_customer_the_same_way(corg, run_jobs):
    """Issue 13 defect 8: the transcript header showed the CRM id where the session page
    showed the customer's name; both now lead with the name and link the customer page."""
    story = make_story(corg.tenant, run_jobs)  # crm-42, named Lea
    viewer = corg["viewer"].client
    transcript = viewer.get(f"/console/conversations/{story.conversation_id}").text
    session_page = viewer.get(f"/console/sessions/{story.session_id}").text
    assert re.search(r"<h1>Conversation with Lea\b", transcript)
    assert re.search(r"<h1>Session of Lea\b", session_page)
    for html in (transcript, session_page):
        assert 'data-test="customer-link">Lea</a>' in html and "<code>crm-42</code>" in html


def test_a_transcript_reply_is_saved_as_a_test_case_of_its_assistant(corg, run_jobs):
    """Issue 13 item 3: "Save as test case" from a transcript. The question comes filled
    in and the reply's cited source is the expectation; writers only."""
    story = make_story(corg.tenant, run_jobs)
    owner = corg["owner"]
    html = owner.client.get(f"/console/conversations/{story.conversation_id}").text
    start = html.index(f'id="case-{story.reply_id}"')
    form = html[start:html.index("</details>", start)]
    assert f"/console/assistants/{story.assistant_id}/tests" in form
    assert 'value="Do you ship to Switzerland?"' in form
    assert f'name="expect_source_ids" value="{story.source_id}" checked' in form
    resp = owner.hx_post(f"/console/assistants/{story.assistant_id}/tests", {
        "question": "Do you ship to Switzerland?", "expect_source_ids": story.source_id,
        "expect_no_answer": "no"})
    assert resp.status_code == 204 and "Test case saved" in resp.headers["HX-Trigger"]
    tests = corg.tenant.get(f"/api/v1/assistants/{story.assistant_id}/tests").json["items"]
    assert [(t["question"], t["expect_source_ids"], t["expect_no_answer"]) for t in tests] == [
        ("Do you ship to Switzerland?", [story.source_id], False)]
    viewer = corg["viewer"].client.get(f"/console/conversations/{story.conversation_id}").text
    assert f'id="case-{story.reply_id}"' not in viewer
