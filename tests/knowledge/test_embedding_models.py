"""Changing an organization's embedding model: the new index is built beside the serving
one and switched when complete, so no search ever scores a question of one model against
vectors of the other — checked by searching between every batch of the re-embed job."""
from __future__ import annotations

import numpy as np

from tests.knowledge.helpers import ingest, search

TEXTS = [
    ("Il bollitore Casa Bella ha una garanzia di due anni dalla data di acquisto.", "a.txt"),
    ("Le consegne in Sardegna richiedono da cinque a sette giorni lavorativi.", "b.txt"),
    ("You can return any unused item within thirty days for a full refund.", "c.txt"),
    ("Our Milan pick-up point is open Monday to Friday from 9 to 18.", "d.txt"),
]
QUESTION = "Quanto dura la garanzia del bollitore?"


def _expected_cosine(model: str, question: str, passage: str) -> float:
    from services.knowledge.embedder import encode_query, get_embedder

    return float(np.dot(get_embedder(model).encode([passage])[0], encode_query(question, model)))


def test_a_model_change_never_serves_mixed_vectors(app, tenant, run_jobs, monkeypatch):
    sources = [ingest(tenant, run_jobs, text.encode(), name) for text, name in TEXTS]
    text_of = {s["id"]: t for s, (t, _) in zip(sources, TEXTS, strict=True)}
    monkeypatch.setitem(app.config, "REEMBED_BATCH_SIZE", 1)  # a search between each chunk
    observed: list[tuple[str, float, float]] = []

    def search_now() -> None:
        with app.app_context():
            from extensions import db
            from models.orgs import Organization
            from services.knowledge.retrieval import search as search_service

            org = db.session.get(Organization, tenant.org_id)
            for hit in search_service(org, QUESTION, top_k=4):
                if not hit.lexical_only:
                    observed.append((hit.model, hit.vector_score,
                                     _expected_cosine(hit.model, QUESTION,
                                                      text_of[hit.source_id])))
                for sentence, cosine in hit.sentence_cosines.items():  # same model too
                    observed.append((hit.model, cosine,
                                     _expected_cosine(hit.model, QUESTION, sentence)))

    with app.app_context():
        from extensions import db
        from models.jobs import Job
        from models.orgs import Organization
        from services.knowledge.pipeline import reembed

        org = db.session.get(Organization, tenant.org_id)
        assert org.embedding_model == "multilingual-e5-small"
        job = Job(org_id=org.id, kind="reembed", params={"model": "all-MiniLM-L6-v2"},
                  status="running")
        db.session.add(job)
        db.session.commit()
        reembed(job, lambda _pct: search_now())
        db.session.refresh(org)
        assert org.embedding_model == "all-MiniLM-L6-v2"

    models_seen = {model for model, _, _ in observed}
    assert models_seen == {"multilingual-e5-small", "all-MiniLM-L6-v2"}
    for model, served, expected in observed:
        assert abs(served - expected) < 3e-3, (model, served, expected)  # float16 sentences
    # after the switch: the new model serves, the old index is gone, answers still right
    assert search(tenant, QUESTION)[0]["source_id"] == sources[0]["id"]
    with app.app_context():
        from services.knowledge.vectors import store_for

        assert store_for("multilingual-e5-small").count(tenant.org_id) == 0
        minilm = store_for("all-MiniLM-L6-v2")
        assert minilm.count(tenant.org_id) == len(TEXTS)
        assert minilm.model_of(tenant.org_id) == "all-MiniLM-L6-v2"  # recorded per index
        from extensions import db
        from models.knowledge import SentenceVector

        # the sentences are stored for the new model; the old model's are gone
        assert set(db.session.execute(SentenceVector.query_for_org(
            tenant.org_id, SentenceVector.model)).scalars()) == {"all-MiniLM-L6-v2"}


def test_an_unknown_model_is_refused_and_nothing_is_queued(tenant, run_jobs):
    ingest(tenant, run_jobs, TEXTS[0][0].encode(), "a.txt")
    resp = tenant.post("/api/v1/knowledge/reembed", json={"model": "gpt-embeddings-9"})
    assert resp.status_code == 422
    assert "model" in resp.json["error"]["details"]["fields"]
    resp = tenant.post("/api/v1/knowledge/reembed", json={"model": "all-MiniLM-L6-v2"})
    assert resp.status_code == 202
    run_jobs()
    job = tenant.get(f"/api/v1/jobs/{resp.json['job_id']}").json
    assert job["status"] == "succeeded", job
    hits = search(tenant, "How long is the kettle warranty?")
    assert hits and hits[0]["score"] > 0
