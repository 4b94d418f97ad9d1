"""Real Chromium on the knowledge pages: a failed source's long error stays inside its
cell at a laptop width, a long chunk opens to its full text, a web page is deleted from
its tab. Same fixtures and pattern as test_browser.py."""
from __future__ import annotations

import re
import socket

import pytest

from tests.console.conftest import browser_login
from tests.factories import Tenant
from tests.knowledge.helpers import ingest

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 800}
NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"
TABLE_FITS = ("[...document.querySelectorAll('.table-wrap')]"
              ".every(w => w.scrollWidth <= w.clientWidth)")
CLAMPED = "el => el.scrollHeight > el.clientHeight + 1"
# What a failed fetch can leave on a source (errors are kept up to 2000 characters): a
# long sentence and a long unbreakable URL.
LONG_ERROR = ("Temporary failure, retrying: the page could not be fetched because the server "
              "closed the connection before answering, three times in a row, while the "
              "shop's content delivery network was being reconfigured; last address tried "
              "https://help.example-shop.com/customer-service/shipping-and-delivery/"
              "international-orders-outside-the-european-union-faq?utm_source=newsletter"
              "&utm_medium=email&utm_campaign=spring-sale-2025")


def _tenant(app, operator: dict[str, str]) -> Tenant:  # noqa: ANN001
    return Tenant(org_id=operator["org_id"], key_id="", secret=operator["api_key"],
                  client=app.test_client())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _failed_page(tenant: Tenant, run_jobs, title: str) -> str:  # noqa: ANN001
    """A web page whose fetch really fails (nothing listens on the port); its id."""
    url = (f"http://127.0.0.1:{_closed_port()}/customer-service/shipping-and-delivery/"
           "international-orders-outside-the-european-union")
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": url, "title": title})
    assert resp.status_code == 202, resp.json
    run_jobs()
    source = tenant.get(f"/api/v1/knowledge/urls/{resp.json['id']}").json
    assert source["status"] == "failed" and source["error"], source
    return source["id"]


def _set_error(app, source_id: str, message: str) -> None:  # noqa: ANN001
    """Give the failed source a long error, as a worse failure would have written."""
    from extensions import db
    from models.knowledge import KnowledgeSource

    with app.app_context():
        db.session.get(KnowledgeSource, source_id).error = message
        db.session.commit()


def test_a_long_error_stays_in_its_cell_at_laptop_width(page, live_server, browser_operator,
                                                        app, run_jobs):
    tenant = _tenant(app, browser_operator)
    source_id = _failed_page(tenant, run_jobs, "International orders FAQ")
    _set_error(app, source_id, LONG_ERROR)
    page.set_viewport_size(LAPTOP)
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    for path in ("/console/knowledge/", "/console/knowledge/urls/"):
        page.goto(live_server + path)
        assert page.evaluate(NO_OVERFLOW), path
        assert page.evaluate(TABLE_FITS), path  # no sideways scrolling inside the card
        text = page.locator(f"#src-{source_id} [data-row-error] [data-error-text]")
        assert text.is_visible() and page.evaluate(CLAMPED, text.element_handle())
        # The whole error is one click (or Enter) away, and still wraps inside its cell.
        text.click()
        assert not page.evaluate(CLAMPED, text.element_handle())
        assert text.inner_text() == LONG_ERROR
        assert page.evaluate(NO_OVERFLOW) and page.evaluate(TABLE_FITS), path


# A passage long enough to be shown as a preview: one step per line, as in a manual.
DESCALING = "\n".join(
    f"Step {n}. Fill the kettle with {n * 100} ml of water and white vinegar, boil it, then "
    f"leave it for {n * 5} minutes before rinsing."
    for n in range(1, 9)) + "\nFinally, rinse twice with clean water and boil once more."


def test_a_long_chunk_opens_to_its_full_text(page, live_server, browser_operator, app,
                                             run_jobs):
    tenant = _tenant(app, browser_operator)
    source = ingest(tenant, run_jobs, DESCALING.encode(), "descaling.txt")
    assert source["status"] == "ready", source
    [chunk] = tenant.get(f"/api/v1/knowledge/sources/{source['id']}/chunks").json["items"]
    assert "Finally, rinse twice" in chunk["text"]
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.goto(f"{live_server}/console/knowledge/sources/{source['id']}")
    item = page.locator(f"#chunk-{chunk['id']}")
    full = item.locator("[data-chunk-full]")
    assert not full.is_visible()
    assert "Finally, rinse twice" not in item.inner_text()  # only a preview so far
    summary = item.locator("summary")
    assert "Show full text" in summary.inner_text()
    summary.focus()  # a keyboard user opens it the same way
    page.keyboard.press("Enter")
    assert full.is_visible()
    assert full.inner_text().strip() == chunk["text"].strip()
    assert "Show less" in summary.inner_text()
    page.keyboard.press("Enter")
    assert not full.is_visible()


def test_a_web_page_is_deleted_from_its_tab(page, live_server, browser_operator, app,
                                            run_jobs):
    tenant = _tenant(app, browser_operator)
    source_id = _failed_page(tenant, run_jobs, "Old returns page")
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.goto(f"{live_server}/console/knowledge/urls/")
    page.locator(f"#src-{source_id} [data-test=delete]").click()  # confirm() is accepted
    page.wait_for_selector(".toast:has-text('deleted, with its chunks')")
    assert re.search(r"/console/knowledge/urls/$", page.url)
    assert page.locator(f"#src-{source_id}").count() == 0
    assert "No web pages yet." in page.locator("#urls").inner_text()
    assert tenant.get("/api/v1/knowledge/urls/").json["items"] == []
