"""Real Chromium against a live server: what an operator actually clicks through.

Each flow is its own test function built from the helpers in conftest.py
(`browser_login`, the `page` fixture with screenshot-on-failure), so new flows (upload a
PDF and watch it reach ready, run a search, ...) are added as more functions here.
"""
from __future__ import annotations

import re

import pytest

from tests.console.conftest import browser_login

pytestmark = pytest.mark.browser


def test_sign_in_shows_the_dashboard(page, live_server, browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    assert page.locator("h1").first.inner_text().startswith("Dashboard")
    assert page.locator(".org-name").inner_text() == "Browser Org"
    assert page.locator(".toast-success").first.is_visible()


def test_assistant_lifecycle_create_edit_promote_and_pause(page, live_server,
                                                           browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.click("text=Assistants")
    page.click("[data-test=new-assistant]")
    page.fill("#f-name", "Hotel concierge")
    page.fill("#f-language", "it")
    page.fill("#f-tone", "warm")
    page.fill("#f-instructions", "Greet guests.\nAnswer in Italian.")
    page.click("button:has-text('Create assistant')")
    page.wait_for_url(re.compile(r".*/console/assistants/asst_\w+$"))
    assert "version 1 is live" in page.locator("#toasts").inner_text()

    page.click("[data-test=edit]")
    page.fill("#f-tone", "formal")
    page.click("button:has-text('Save new version')")
    assert "Saved version 2 as a draft" in page.locator("#toasts").inner_text()
    assert page.locator("tr[data-version='2'] .badge").inner_text() == "draft"

    page.click("[data-test=promote-2]")  # the confirm() dialog is accepted by the fixture
    page.wait_for_selector("text=Version 2 is live now")
    assert page.locator("tr[data-version='2'] .badge").inner_text() == "live"
    assert page.locator("tr[data-version='1'] .badge").inner_text() == "was live"

    page.click("a:has-text('Diff with v1')")
    assert page.locator("[data-field='tone'] del").inner_text() != ""
    assert "formal" in page.locator("[data-field='tone'] td.r").inner_text()

    # The switch pauses in place over HTMX after a confirmation, with a toast and no page
    # load (the fixture accepts the confirm() dialog).
    page.click("nav >> text=Assistants")
    row = page.locator("tr", has_text="Hotel concierge")
    row.locator(".switch").click()
    page.wait_for_selector(".toast:has-text('is paused')")
    assert row.locator("[data-status]").inner_text() == "paused"
    # Cancelled, the switch flips back and nothing is sent.
    page.evaluate("window.confirm = () => false")
    row.locator(".switch").click()
    page.wait_for_timeout(300)
    assert not row.locator("input[type=checkbox]").is_checked()
    assert row.locator("[data-status]").inner_text() == "paused"

    # Pause and resume are on the assistant page too, each behind a confirmation.
    page.evaluate("window.confirm = () => true")
    row.locator("a.strong").click()
    page.click("[data-test=resume]")
    page.wait_for_selector("text=is active")
    assert page.locator("h1 .badge").inner_text() == "active"
    page.click("[data-test=pause]")
    page.wait_for_selector("text=is paused")
    assert page.locator("h1 .badge").inner_text() == "paused"


def test_api_key_is_shown_once_then_revoked(page, live_server, browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.click("text=API keys")
    page.fill("#f-name", "website widget")
    page.click("button:has-text('Create key')")
    secret = page.locator("[data-test=secret]").input_value()
    assert secret.startswith("cpn_live_")
    page.click("[data-copy]")
    page.wait_for_selector("text=Copied")
    # Reloading the page that answered the POST re-sends the form: no second key.
    page.reload()
    page.wait_for_selector("text=was already created from this form")
    assert page.locator("tr", has_text="website widget").count() == 1
    assert secret not in page.content()  # the reload lands on the key list
    row = page.locator("tr", has_text="website widget")
    assert row.locator(".badge").inner_text() == "active"
    row.locator("[data-test=revoke]").click()
    page.wait_for_selector("text=is revoked")
    assert page.locator("tr", has_text="website widget").locator(".badge").inner_text() \
        == "revoked"
    # The revoked key no longer opens the API.
    resp = page.request.get(f"{live_server}/api/v1/assistants/",
                            headers={"X-API-Key": secret})
    assert resp.status == 401


def test_expired_session_on_an_htmx_click_goes_to_sign_in(page, live_server,
                                                          browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.request.post(f"{live_server}/api/v1/assistants/", headers={
        "X-API-Key": browser_operator["api_key"]}, data={"name": "Bot"})
    page.goto(f"{live_server}/console/assistants/")
    # The favicon request still in flight after "load" refreshes the session cookie on its
    # answer; clearing cookies before it lands let that answer put the session back.
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies()
    page.locator("tr", has_text="Bot").locator(".switch").click()
    page.wait_for_url(re.compile(r".*/console/login\?next=/console/assistants/$"))
    assert page.locator("h1").inner_text() == "Sign in to the console"


# ---- knowledge, sessions and conversations ---------------------------------------------
KETTLE_PAGES = [
    "Kettle manual. The kettle boils one litre of water in three minutes.\n"
    "Always fill the kettle above the minimum mark before switching it on.",
    "Descaling. Use white vinegar once a month to descale the kettle.\n"
    "Rinse twice with clean water after descaling.",
    "Warranty. The kettle carries a two-year warranty against manufacturing defects.",
]
SCREENS = "/tmp/companin-console"


def _shot(page, name: str) -> None:  # noqa: ANN001
    """Screenshots for a human to look at (not asserted)."""
    import os

    os.makedirs(SCREENS, exist_ok=True)
    page.screenshot(path=f"{SCREENS}/{name}.png", full_page=True)


def test_upload_pdfs_watch_them_get_ready_open_chunks_and_search(
        page, live_server, browser_operator, make_pdf, run_jobs):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.click("nav >> text=Knowledge")
    page.wait_for_selector("text=No knowledge yet.")
    pdf = make_pdf(KETTLE_PAGES, title="Kettle manual")
    notes = b"# Opening hours\n\nThe shop opens Monday to Friday from 9 to 18.\n"
    page.set_input_files("#upload-files", files=[
        {"name": "kettle.pdf", "mimeType": "application/pdf", "buffer": pdf},
        {"name": "hours.md", "mimeType": "text/markdown", "buffer": notes},
    ])
    assert "2 files" in page.locator(".dropzone-picked").inner_text()
    page.click("[data-test=upload]")
    # One progress bar per file, each finishing; each file's row appears in the table.
    page.wait_for_selector(".upload-item.is-done >> nth=1", timeout=60_000)
    assert page.locator(".upload-item progress").count() == 2
    assert page.locator("#sources tr[data-source]").count() == 2
    run_jobs()  # services mode: a real RQ worker; embedded: the jobs already ran
    # The rows poll their own status until the background job settles.
    row = page.locator("#sources tr", has_text="kettle.pdf")
    row.locator("[data-status-badge]:has-text('ready')").wait_for(timeout=30_000)
    page.locator("#sources tr", has_text="hours.md").locator(
        "[data-status-badge]:has-text('ready')").wait_for(timeout=30_000)
    assert row.locator("td").nth(3).inner_text() != "0"
    page.wait_for_selector("#status-chips:has-text('2 ready')")
    assert page.locator("#status-chips").inner_text().startswith("2 sources")
    _shot(page, "knowledge-list")

    row.locator("a.strong").click()
    page.wait_for_selector("#chunks .chunk")
    labels = page.locator("[data-provenance]").all_inner_texts()
    assert {"page 1", "page 2", "page 3"} <= set(labels)
    assert "descale" in page.locator("#chunks").inner_text()
    assert page.locator("#source-status [data-status-badge]").inner_text() == "ready"
    _shot(page, "source-detail")

    page.click(".crumbs >> text=Knowledge")
    page.click(".tabs >> text=Search tester")
    page.fill("#f-query", "How often should I descale the kettle?")
    page.click("[data-test=search]")
    first = page.locator("#hits .hit").first
    first.wait_for()
    assert first.locator("[data-hit-title]").inner_text() == "kettle.pdf"
    assert "page 2" in first.inner_text() and "vinegar" in first.inner_text()
    assert float(first.locator("[data-score]").inner_text()) > 0.3
    assert "query=How%20often" in page.url  # the search is a shareable URL
    _shot(page, "search-tester")


def test_transcript_citation_opens_the_cited_passage(page, live_server, browser_operator,
                                                    app, run_jobs):
    from tests.console.conftest import make_story
    from tests.factories import Tenant

    tenant = Tenant(org_id=browser_operator["org_id"], key_id="",
                    secret=browser_operator["api_key"], client=app.test_client())
    story = make_story(tenant, run_jobs)
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.click("nav >> text=Conversations")
    page.click("text=Do you ship to Switzerland?")
    page.wait_for_selector("#transcript")
    assert page.locator("#transcript [data-role]").evaluate_all(
        "els => els.map(e => e.dataset.role)") == ["user", "assistant"]
    reply = page.locator(f"#msg-{story.reply_id}")
    reply.locator(".cite").first.click()
    passage = reply.locator("[data-chunk-text]")
    passage.wait_for()
    assert "within 3 working days" in passage.inner_text()
    assert "Quick and right" in page.locator("#feedback").inner_text()
    assert "gold" in page.locator("#session-card").inner_text()
    _shot(page, "transcript")
    reply.locator("[data-action=dismiss]").click()
    assert reply.locator("[data-chunk-text]").count() == 0


def test_try_a_draft_see_why_it_answered_and_start_over(page, live_server, browser_operator,
                                                       app, run_jobs):
    """Issue 13 item 1: ask the draft on the assistant page, open the trace, go on with
    the conversation, start over; nothing reaches the conversations list."""
    from tests.console.conftest import make_story
    from tests.factories import Tenant

    tenant = Tenant(org_id=browser_operator["org_id"], key_id="",
                    secret=browser_operator["api_key"], client=app.test_client())
    story = make_story(tenant, run_jobs)
    resp = tenant.patch(f"/api/v1/assistants/{story.assistant_id}",
                        json={"language": "it", "note": "Italian draft"})
    assert resp.status_code == 200 and resp.json["latest_version"] == 2
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.goto(f"{live_server}/console/assistants/{story.assistant_id}")
    panel = page.locator("#preview")
    assert panel.locator("#preview-version").input_value() == "1"  # the live one
    page.select_option("#preview-version", "2")
    page.fill("#preview-content", "Do you ship to Switzerland?")
    page.click("[data-test=preview-ask]")
    reply = page.locator("[data-preview-reply]")
    reply.wait_for()
    assert "within 3 working days" in reply.inner_text()
    assert "v2" in page.locator("#preview-log .msg-assistant .msg-meta").inner_text()
    trace = page.locator("[data-test=trace]")
    assert not trace.locator("table").is_visible()  # one click away
    trace.locator("summary").click()
    first = trace.locator("[data-trace-row='1']")
    assert first.is_visible() and "passed" in first.inner_text()
    _shot(page, "preview")

    page.fill("#preview-content", "Qual è la capitale del Perù?")  # a second turn, off topic
    page.click("[data-test=preview-ask]")
    page.wait_for_selector("#preview-log .msg-assistant >> nth=1")
    assert page.locator("#preview-log [data-role]").count() == 4
    assert page.locator("#preview-version").input_value() == "2"  # the picker stays
    last = page.locator("[data-preview-reply]").last.inner_text()
    assert last.startswith("Non ho")  # the draft's language
    page.click("[data-test=preview-reset]")
    page.wait_for_selector("#preview-log", state="detached")
    # Only the story's own conversation exists: the preview stored nothing.
    assert len(tenant.get("/api/v1/conversations/").json["items"]) == 1


def test_improve_an_answer_from_a_knowledge_gap(page, live_server, browser_operator, app,
                                                run_jobs):
    """Issue 13 item 2: a knowledge-gap row leads to the reply's "Improve this answer"
    form, the saved correction is a Q&A pair, and the question then gets that answer."""
    from tests.console.conftest import create_assistant_via_api
    from tests.factories import Tenant

    tenant = Tenant(org_id=browser_operator["org_id"], key_id="",
                    secret=browser_operator["api_key"], client=app.test_client())
    assistant = create_assistant_via_api(tenant)
    session = tenant.post("/api/v1/sessions/", json={"assistant_id": assistant["id"]}).json
    conv = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]}).json
    messages = f"/api/v1/conversations/{conv['id']}/messages"
    sent = tenant.post(messages, json={"content": "Do you ship to Iceland?"}).json
    reply_id = sent["reply"]["id"]
    assert sent["reply"]["answer_type"] == "no_answer"

    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.goto(f"{live_server}/console/analytics/")
    page.click(f"#table-gaps [data-improve='{reply_id}']")
    page.wait_for_url(re.compile(rf".*/console/conversations/{conv['id']}#improve-{reply_id}$"))
    form = page.locator(f"#improve-{reply_id}")
    assert form.get_attribute("open") is not None  # opened by the link
    assert page.locator(f"#q-{reply_id}").input_value() == "Do you ship to Iceland?"
    right = "Yes, we ship to Iceland within 5 working days."
    page.fill(f"#a-{reply_id}", right)
    form.locator("[data-test=save-correction]").click()
    page.wait_for_selector(".toast:has-text('once it is indexed')")
    run_jobs()
    page.reload()
    assert page.locator(f"#msg-{reply_id} [data-correction] .badge").first.inner_text() \
        == "corrected"
    _shot(page, "correction")
    again = tenant.post(messages, json={"content": "Do you ship to Iceland?"}).json["reply"]
    assert again["content"] == right and again["answer_type"] == "qa_match"

    # The same reply becomes a test case: it must answer, citing the correction.
    case = page.locator(f"#case-{reply_id}")
    case.locator("summary").click()
    assert case.locator("input[name=expect_source_ids]").first.is_checked()
    assert case.locator("select[name=expect_no_answer]").input_value() == "no"
    case.locator("[data-test=save-case]").click()
    page.wait_for_selector(".toast:has-text('Test case saved')")
    tests = tenant.get(f"/api/v1/assistants/{assistant['id']}/tests").json["items"]
    assert [t["question"] for t in tests] == ["Do you ship to Iceland?"]
    assert tests[0]["expect_no_answer"] is False and len(tests[0]["expect_source_ids"]) == 1


def test_the_operator_loop_ask_save_a_case_evaluate_and_promote(page, live_server,
                                                                browser_operator, app,
                                                                run_jobs):
    """Issue 13 item 3: with the promotion gate on, a draft cannot go live until its
    evaluation passes; the case is saved from the preview and run from the history."""
    from tests.console.conftest import make_story
    from tests.factories import Tenant

    tenant = Tenant(org_id=browser_operator["org_id"], key_id="",
                    secret=browser_operator["api_key"], client=app.test_client())
    story = make_story(tenant, run_jobs)
    assert tenant.patch(f"/api/v1/assistants/{story.assistant_id}",
                        json={"tone": "brief"}).json["latest_version"] == 2
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.goto(f"{live_server}/console/assistants/{story.assistant_id}")
    page.check("[data-test=promotion-gate]")
    page.wait_for_selector(".toast:has-text('needs a passing evaluation')")
    page.click("[data-test=promote-2]")
    page.wait_for_selector(".toast:has-text('no finished evaluation')")

    page.select_option("#preview-version", "2")
    page.fill("#preview-content", "Do you ship to Switzerland?")
    page.click("[data-test=preview-ask]")
    page.locator("[data-preview-reply]").wait_for()
    page.click("[data-test=save-test]")
    page.wait_for_selector(".toast:has-text('Test case saved')")
    page.reload()
    assert page.locator("#test-cases [data-test-case]").count() == 1
    page.click("[data-test=run-tests-2]")
    run_jobs()
    page.wait_for_selector("[data-verdict]:has-text('passed')")
    assert "1 of 1" in page.locator("[data-pass-rate]").inner_text()
    _shot(page, "evaluation")
    page.goto(f"{live_server}/console/assistants/{story.assistant_id}")
    assert "1/1 passed" in page.locator("tr[data-version='2']").inner_text()
    page.click("[data-test=promote-2]")
    page.wait_for_selector("text=Version 2 is live now")
