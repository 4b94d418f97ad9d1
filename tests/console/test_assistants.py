"""Assistants through the console: the same rules as the API, answered as pages."""
from __future__ import annotations

import json

from tests.console.conftest import create_assistant_via_api

FORM = {"name": "Concierge", "language": "it", "tone": "warm", "description": "Front desk",
        "instructions": "Greet guests.\r\nAnswer briefly.",
        "task_models": "chat: claude-sonnet-4-5", "is_active": "on"}


def api_assistant(corg, aid: str) -> dict:
    resp = corg.tenant.get(f"/api/v1/assistants/{aid}")
    assert resp.status_code == 200
    return resp.json


def test_admin_creates_an_assistant_and_the_api_sees_version_one_live(corg):
    admin = corg["admin"]
    resp = admin.post("/console/assistants/new", FORM)
    assert resp.status_code == 302
    aid = resp.headers["Location"].rsplit("/", 1)[-1]
    page = admin.client.get(resp.headers["Location"])
    assert "created; version 1 is live" in page.text  # the flash toast
    a = api_assistant(corg, aid)
    assert (a["name"], a["language"], a["live_version"], a["is_active"]) == (
        "Concierge", "it", 1, True)
    assert a["task_models"] == {"chat": "claude-sonnet-4-5"}
    assert a["instructions"] == "Greet guests.\nAnswer briefly."


def test_invalid_fields_are_shown_inline_with_the_api_schema_messages(corg):
    owner = corg["owner"]
    resp = owner.post("/console/assistants/new", {**FORM, "name": "  ", "language": "xx-!!",
                                                  "task_models": "Chat Model: x\nbroken"})
    assert resp.status_code == 422
    html = resp.text
    assert 'id="name-error"' in html and "Name cannot be blank." in html
    assert 'id="language-error"' in html and "BCP 47" in html
    assert 'id="task_models-error"' in html and "Line 2" in html
    assert 'value="xx-!!"' in html  # what was typed is kept
    listing = owner.client.get("/console/assistants/").text
    assert "No assistants yet" in listing


def test_edit_makes_a_draft_version_and_make_live_promotes_it(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    form = owner.client.get(f"/console/assistants/{aid}/edit").text
    assert "Answer from the knowledge base." in form  # starts from the latest version
    base = {"name": "Support", "language": "en", "tone": "formal", "description": "",
            "instructions": "Answer from the knowledge base.",
            "task_models": "chat: claude-sonnet-4-5", "note": "More formal"}
    resp = owner.post(f"/console/assistants/{aid}/edit", base)
    assert resp.status_code == 302
    assert "Saved version 2 as a draft" in owner.client.get(resp.headers["Location"]).text
    a = api_assistant(corg, aid)
    assert (a["live_version"], a["latest_version"], a["tone"]) == (1, 2, "friendly")

    resp = owner.post(f"/console/assistants/{aid}/edit", {**base, "tone": "crisp",
                                                          "promote": "on"})
    assert "Saved version 3 and it is live now" in owner.client.get(resp.headers["Location"]).text
    a = api_assistant(corg, aid)
    assert (a["live_version"], a["latest_version"], a["tone"]) == (3, 3, "crisp")

    resp = owner.post(f"/console/assistants/{aid}/edit", {**base, "tone": "crisp"})
    assert "Nothing changed" in owner.client.get(resp.headers["Location"]).text
    assert api_assistant(corg, aid)["latest_version"] == 3


def test_edit_errors_are_inline_and_nothing_is_saved(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    resp = owner.post(f"/console/assistants/{aid}/edit",
                      {"name": "Support", "language": "en", "note": "x" * 501,
                       "task_models": "chat: " + "m" * 101})
    assert resp.status_code == 422
    assert 'id="note-error"' in resp.text and 'id="task_models-error"' in resp.text
    assert api_assistant(corg, aid)["latest_version"] == 1


def test_switch_pauses_in_place_over_htmx_with_a_toast(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    resp = owner.hx_post(f"/console/assistants/{aid}/active", {})  # unchecked: pause
    assert resp.status_code == 200
    assert resp.text.lstrip().startswith(f'<tr id="row-{aid}"')
    assert ">paused<" in resp.text
    toast = json.loads(resp.headers["HX-Trigger"])["toast"]
    assert "paused" in toast["message"] and toast["level"] == "success"
    a = api_assistant(corg, aid)
    assert a["is_active"] is False and a["latest_version"] == 1  # no new version
    resp = owner.hx_post(f"/console/assistants/{aid}/active", {"active": "on"})
    assert ">active<" in resp.text and api_assistant(corg, aid)["is_active"] is True


def test_switch_without_htmx_falls_back_to_a_redirect(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    resp = owner.post(f"/console/assistants/{aid}/active", {})
    assert resp.status_code == 302
    assert api_assistant(corg, aid)["is_active"] is False


def test_promote_and_roll_back_from_the_history(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    corg.tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal"})
    detail = owner.client.get(f"/console/assistants/{aid}").text
    assert 'data-test="promote-2"' in detail and 'data-confirm="Make version 2 live?' in detail
    resp = owner.post(f"/console/assistants/{aid}/versions/2/promote")
    assert "Version 2 is live now (was 1)" in owner.client.get(resp.headers["Location"]).text
    assert api_assistant(corg, aid)["tone"] == "formal"
    resp = owner.post(f"/console/assistants/{aid}/versions/1/promote")
    assert "Rolled back: version 1 is live again" in owner.client.get(
        resp.headers["Location"]).text
    assert api_assistant(corg, aid)["tone"] == "friendly"
    assert owner.post(f"/console/assistants/{aid}/versions/9/promote").status_code == 404


def test_diff_shows_changed_fields_side_by_side_with_highlights(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    corg.tenant.patch(f"/api/v1/assistants/{aid}", json={
        "instructions": "Answer from the knowledge base.\nNever guess.",
        "task_models": {"chat": "claude-opus-4"}})
    html = owner.client.get(f"/console/assistants/{aid}/diff?a=1&b=2").text
    assert "Compare v1 with v2" in html
    assert 'data-field="instructions"' in html and 'class="d-insert"' in html
    assert "Never guess." in html
    assert "<del>sonnet-4-5</del>" in html or "<del>" in html
    assert "<ins>" in html
    assert html.count(">same<") == 4  # name, description, tone, language unchanged
    resp = owner.client.get(f"/console/assistants/{aid}/diff?a=1&b=x")
    assert resp.status_code == 422
    assert owner.client.get(f"/console/assistants/{aid}/diff?a=1&b=7").status_code == 404


def test_delete_after_confirmation_hides_the_assistant(corg):
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant, name="Old bot")["id"]
    assert 'data-confirm="Delete “Old bot”?' in owner.client.get(f"/console/assistants/{aid}").text
    resp = owner.post(f"/console/assistants/{aid}/delete")
    assert resp.status_code == 302
    listing = owner.client.get(resp.headers["Location"]).text
    assert "Old bot” deleted" in listing and 'id="row-' not in listing
    assert corg.tenant.get(f"/api/v1/assistants/{aid}").status_code == 404


def test_a_viewer_can_try_an_assistant_and_bad_input_stays_in_the_panel(corg):
    """The preview panel is read-only (viewers too), HTMX gets the panel alone, a page
    post the whole page; a blank question is a 422 inside the panel, nothing asked."""
    aid = create_assistant_via_api(corg.tenant, language="it")["id"]
    viewer = corg["viewer"]
    page = viewer.client.get(f"/console/assistants/{aid}")
    assert page.status_code == 200 and 'id="preview"' in page.text
    resp = viewer.hx_post(f"/console/assistants/{aid}/preview",
                          {"content": "Che tempo fa a Lima?", "version": "1",
                           "history": "not json"})
    assert resp.status_code == 200, resp.text
    assert resp.text.lstrip().startswith("<section") and "<html" not in resp.text
    assert "Non ho" in resp.text and 'data-test="trace"' in resp.text
    history = json.loads(resp.text.split('name="history" value="', 1)[1].split('"', 1)[0]
                         .replace("&#34;", '"').replace("&quot;", '"'))
    assert [t["role"] for t in history] == ["user", "assistant"]
    resp = viewer.hx_post(f"/console/assistants/{aid}/preview", {"content": "  "})
    assert resp.status_code == 422 and "Write a message" in resp.text
    resp = viewer.post(f"/console/assistants/{aid}/preview", {"content": "Ciao?"})
    assert resp.status_code == 200 and "<html" in resp.text and "data-preview-reply" in resp.text
    assert corg.tenant.get("/api/v1/conversations/").json["items"] == []


def test_the_page_and_the_form_say_which_engine_answers(app, corg):
    """Issue 13 defect 4: `chat → claude-sonnet-4-5` is shown, but without a model key the
    local engine answers; the page and the form say which one will."""
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    detail = owner.client.get(f"/console/assistants/{aid}").text
    assert "<strong>local-extractive</strong>" in detail and "No model key" in detail
    form = owner.client.get(f"/console/assistants/{aid}/edit").text
    assert 'data-test="engine"' in form and "local-extractive" in form
    assert "claude-sonnet-4-5 takes over once a key is set" in form
    app.config["ANTHROPIC_API_KEY"] = "sk-test"
    try:
        detail = owner.client.get(f"/console/assistants/{aid}").text
        new_form = owner.client.get("/console/assistants/new").text
    finally:
        app.config["ANTHROPIC_API_KEY"] = ""
    assert "<strong>claude-sonnet-4-5</strong>" in detail and "No model key" not in detail
    assert "claude-sonnet-4-5 (Anthropic) writes each reply" in new_form


def test_after_a_rollback_the_replaced_version_reads_was_live_not_draft(corg):
    """Issue 13 defect 5: after rolling back from v2, v2 showed "draft"."""
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    corg.tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal", "promote": True})
    corg.tenant.post(f"/api/v1/assistants/{aid}/versions/1/promote")  # roll back
    corg.tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "terse"})  # v3: a draft
    html = owner.client.get(f"/console/assistants/{aid}").text

    def row(n: int) -> str:
        start = html.index(f'data-version="{n}"')
        return html[start:html.index("</tr>", start)]

    assert ">live<" in row(1)
    assert ">was live<" in row(2) and 'data-test="rollback-2"' in row(2)
    assert ">draft<" in row(3) and 'data-test="promote-3"' in row(3) and "never" in row(3)


def test_comparing_a_version_with_itself_says_so(corg):
    """Issue 13 defect 5: v1 against v1 silently showed v2 against v1."""
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    corg.tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal", "promote": True})
    html = owner.client.get(f"/console/assistants/{aid}/diff?a=1&b=1").text
    assert "Compare v1 with v1" in html and 'data-test="same-version"' in html
    # With the latest version live, the default pair is the one before it and the latest.
    assert "Compare v1 with v2" in owner.client.get(f"/console/assistants/{aid}/diff").text
    detail = owner.client.get(f"/console/assistants/{aid}").text
    compare = detail[detail.index('name="a"'):detail.index('name="b"')]
    assert '<option value="1" selected>' in compare


def test_pause_and_resume_from_the_assistant_page_after_confirmation(corg):
    """Issue 13 defect 5: pausing existed only as an unconfirmed switch on the list."""
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    html = owner.client.get(f"/console/assistants/{aid}").text
    assert 'data-test="pause"' in html and 'data-confirm="Pause “Support”?' in html
    resp = owner.post(f"/console/assistants/{aid}/active", {"back": "detail"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/assistants/{aid}")
    html = owner.client.get(resp.headers["Location"]).text
    assert "is paused" in html and 'data-test="resume"' in html
    assert api_assistant(corg, aid)["is_active"] is False
    owner.post(f"/console/assistants/{aid}/active", {"back": "detail", "active": "on"})
    assert api_assistant(corg, aid)["is_active"] is True
    assert 'data-test="pause"' not in corg["viewer"].client.get(
        f"/console/assistants/{aid}").text


def test_the_diff_shows_each_versions_evaluation_with_a_run_button(corg, run_jobs):
    """Issue 13 item 3: the evaluation beside the diff."""
    owner = corg["owner"]
    aid = create_assistant_via_api(corg.tenant)["id"]
    corg.tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal"})
    html = owner.client.get(f"/console/assistants/{aid}/diff?a=1&b=2").text
    assert "no test cases yet" in html and 'data-test="run-tests-2"' not in html
    corg.tenant.post(f"/api/v1/assistants/{aid}/tests",
                     json={"question": "What is the capital of Peru?",
                           "expect_no_answer": True})
    ev = corg.tenant.post(f"/api/v1/assistants/{aid}/versions/2/evaluations").json
    run_jobs()
    html = owner.client.get(f"/console/assistants/{aid}/diff?a=1&b=2").text

    def card(n: int) -> str:
        start = html.index(f'data-evaluation-of="{n}"')
        return html[start:html.index("</div>", start)]

    assert "not evaluated" in card(1) and 'data-test="run-tests-1"' in card(1)
    assert "1/1 tests passed" in card(2) and ev["id"] in card(2)
    assert 'data-test="run-tests-2"' in card(2)
    viewer = corg["viewer"].client.get(f"/console/assistants/{aid}/diff?a=1&b=2").text
    assert "1/1 tests passed" in viewer and 'data-test="run-tests-2"' not in viewer
