"""Small helpers for knowledge tests: upload, wait for jobs, search."""
from __future__ import annotations

import io
from typing import Any


def upload(tenant, data: bytes, name: str, title: str | None = None):  # noqa: ANN001, ANN201
    form: dict[str, Any] = {"file": (io.BytesIO(data), name)}
    if title:
        form["title"] = title
    return tenant.post("/api/v1/knowledge/files/", data=form,
                       content_type="multipart/form-data")


def ingest(tenant, run_jobs, data: bytes, name: str, title: str | None = None) -> dict:  # noqa: ANN001
    resp = upload(tenant, data, name, title)
    assert resp.status_code == 202, resp.json
    run_jobs()
    source = tenant.get(f"/api/v1/knowledge/files/{resp.json['id']}").json
    return source


def search(tenant, query: str, **extra: Any) -> list[dict]:  # noqa: ANN001
    resp = tenant.post("/api/v1/knowledge/search", json={"query": query, **extra})
    assert resp.status_code == 200, resp.json
    return resp.json["items"]


def vector_count(app, org_id: str) -> int:  # noqa: ANN001
    with app.app_context():
        from services.knowledge.vectors import vector_store

        return vector_store().count(org_id)


def at_once(n: int, call: Any) -> list[Any]:  # noqa: ANN401
    """Run `call()` on n threads released together (a barrier); returns the results."""
    import threading

    barrier = threading.Barrier(n)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results
