"""Sentence vectors (services.knowledge.sentence_vectors): stored once per sentence at
ingestion, read by search to score a passage by its closest sentence, never shared between
organizations or models, and not needed for search to answer."""
from __future__ import annotations

import numpy as np

from tests.knowledge.helpers import ingest, search

GUIDE = (
    "Spedizioni e consegne\n"
    "Spediamo in tutta Italia tramite corriere espresso. La consegna standard richiede "
    "2-4 giorni lavorativi, mentre per Sicilia e Sardegna servono fino a 6 giorni "
    "lavorativi. Ogni pacco è tracciato.\n\n"
    "Garanzia\n"
    "Tutti i piccoli elettrodomestici hanno una garanzia di 24 mesi. Registrando il "
    "prodotto sul sito la garanzia del bollitore Casa Bella sale a 36 mesi.\n"
)
QUESTION = "Quanto dura la garanzia del bollitore Casa Bella?"


def _rows(app, org_id: str) -> list[tuple[str, str, bytes]]:
    with app.app_context():
        from extensions import db
        from models.knowledge import SentenceVector

        return [tuple(r) for r in db.session.execute(SentenceVector.query_for_org(
            org_id, SentenceVector.digest, SentenceVector.model, SentenceVector.vector)).all()]


def _search(app, org_id: str, question: str):  # noqa: ANN202 - retrieval hits
    with app.app_context():
        from services.knowledge.retrieval import search as search_service

        return search_service(org_id, question, top_k=5)


def test_ingestion_stores_each_sentence_once_and_search_scores_by_the_closest(
        app, tenant, run_jobs):
    ingest(tenant, run_jobs, GUIDE.encode(), "guida.txt")
    ingest(tenant, run_jobs, (GUIDE + "\nGrazie per averci scelto.").encode(), "guida2.txt")
    rows = _rows(app, tenant.org_id)
    with app.app_context():
        from services.knowledge.embedder import encode_query, get_embedder
        from services.knowledge.sentence_vectors import digest, sentences_of

        sentences = sentences_of([GUIDE + "\nGrazie per averci scelto."])
        # every sentence once, though both files hold most of them
        assert sorted(r[0] for r in rows) == sorted(
            digest(tenant.org_id, "multilingual-e5-small", s) for s in sentences)
        assert {r[1] for r in rows} == {"multilingual-e5-small"}
        hits = _search(app, tenant.org_id, QUESTION)
        assert hits and all(h.sentence_cosines for h in hits)
        qvec = encode_query(QUESTION, "multilingual-e5-small")
        for hit in hits:
            for sentence, cosine in hit.sentence_cosines.items():
                expected = float(get_embedder("multilingual-e5-small").encode([sentence])[0]
                                 @ qvec)
                assert abs(cosine - expected) < 3e-3  # stored as float16
            assert hit.sentence_cosine == round(max(hit.sentence_cosines.values()), 4)
    items = search(tenant, QUESTION)
    assert "36 mesi" in items[0]["text"]


def test_a_passage_whose_sentences_are_not_stored_is_scored_by_its_own_vector(
        app, tenant, run_jobs):
    ingest(tenant, run_jobs, GUIDE.encode(), "guida.txt")
    stored = [h.score for h in _search(app, tenant.org_id, QUESTION)]
    with app.app_context():
        from sqlalchemy import delete

        from extensions import db
        from models.knowledge import SentenceVector
        from services.knowledge.scoring import calibration_for, final_score

        db.session.execute(delete(SentenceVector).where(
            SentenceVector.org_id == tenant.org_id))
        db.session.commit()
        hits = _search(app, tenant.org_id, QUESTION)
        assert hits and not any(h.sentence_cosines for h in hits)
        for hit in hits:
            assert hit.sentence_cosine == hit.vector_score
            assert abs(hit.score - final_score(
                cosine=hit.vector_score, coverage=hit.coverage, fused=hit.rank_score,
                lexical_only=hit.lexical_only, sentence_coverage=hit.sentence_coverage,
                lexical_norm=hit.lexical_norm,
                calibration=calibration_for("multilingual-e5-small"))) < 1e-3
    assert "36 mesi" in hits[0].text and len(stored) == len(hits)
    # re-embedding the organization's sources stores them again
    assert tenant.post("/api/v1/knowledge/reembed", json={}).status_code == 202
    run_jobs()
    assert _rows(app, tenant.org_id)
    assert all(h.sentence_cosines for h in _search(app, tenant.org_id, QUESTION))


def test_sentence_vectors_are_the_organizations_own(app, tenant, other_tenant, run_jobs):
    ingest(tenant, run_jobs, GUIDE.encode(), "guida.txt")
    ingest(other_tenant, run_jobs, GUIDE.encode(), "guida.txt")
    mine, theirs = _rows(app, tenant.org_id), _rows(app, other_tenant.org_id)
    assert mine and theirs and not {r[0] for r in mine} & {r[0] for r in theirs}
    with app.app_context():
        from services.knowledge.sentence_vectors import lookup, sentences_of

        sentences = sentences_of([GUIDE])
        assert len(lookup(tenant.org_id, "multilingual-e5-small", sentences)) == len(sentences)
        vectors = lookup(tenant.org_id, "all-MiniLM-L6-v2", sentences)
        assert vectors == {}  # another model's are never read
        found = lookup(tenant.org_id, "multilingual-e5-small", sentences)
        assert all(np.isclose(np.linalg.norm(v), 1.0, atol=1e-2) for v in found.values())


def test_compaction_drops_the_sentences_of_deleted_sources_only(app, tenant, run_jobs):
    kept = ingest(tenant, run_jobs, GUIDE.encode(), "guida.txt")
    extra = "Il negozio di Bologna apre alle nove."
    gone = ingest(tenant, run_jobs, (GUIDE + "\n" + extra).encode(), "guida2.txt")
    before = {r[0] for r in _rows(app, tenant.org_id)}
    assert tenant.delete(f"/api/v1/knowledge/files/{gone['id']}").status_code == 204
    with app.app_context():
        from extensions import db
        from jobs.knowledge_jobs import compact_index
        from models.jobs import Job
        from services.knowledge.sentence_vectors import digest, sentences_of

        row = Job(org_id=tenant.org_id, kind="compact_index", status="running",
                  params={"model": "multilingual-e5-small"})
        db.session.add(row)
        db.session.commit()
        compact_index(row, lambda _pct: None)
        after = {r[0] for r in _rows(app, tenant.org_id)}
        assert before - after == {digest(tenant.org_id, "multilingual-e5-small", extra)}
        assert after == {digest(tenant.org_id, "multilingual-e5-small", s)
                         for s in sentences_of([GUIDE])}
    assert "36 mesi" in search(tenant, QUESTION)[0]["text"] and kept["status"] == "ready"
