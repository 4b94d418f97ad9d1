"""Keyset pagination over rows (a Core SELECT of the table) pages exactly like it does over
ORM instances: the same items in the same order and the same cursors, ties on created_at
included, scoped to the organization and without deleted rows."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.factories import make_tenant


def test_rows_and_instances_page_alike(app):
    from extensions import db
    from models.assistants import Assistant
    from models.types import utcnow
    from services.pagination import paginate

    t = make_tenant(app, "Pages")
    other = make_tenant(app, "Elsewhere")
    ids = [t.post("/api/v1/assistants/", json={"name": f"A{i}"}).json["id"] for i in range(7)]
    other.post("/api/v1/assistants/", json={"name": "Not theirs"})
    assert t.delete(f"/api/v1/assistants/{ids[3]}").status_code == 204
    tie = utcnow() - timedelta(minutes=5)
    with app.app_context():  # three rows share one created_at: the id breaks the tie
        db.session.execute(update(Assistant).where(Assistant.id.in_(ids[:3]))
                           .values(created_at=tie))
        db.session.commit()

    def walk(rows: bool) -> list[tuple[list[str], str | None]]:
        pages, cursor = [], None
        with app.app_context():
            while True:
                stmt = (Assistant.query_for_org(t.org_id, Assistant.__table__) if rows
                        else Assistant.query_for_org(t.org_id))
                page = paginate(stmt, Assistant, limit=2, cursor=cursor, rows=rows)
                pages.append(([a.id for a in page.items], page.next_cursor))
                if page.next_cursor is None:
                    return pages
                cursor = page.next_cursor

    as_rows = walk(rows=True)
    assert as_rows == walk(rows=False)
    listed = [i for items, _ in as_rows for i in items]
    assert sorted(listed) == sorted(ids[:3] + ids[4:])
    assert listed[-3:] == sorted(ids[:3], reverse=True)
