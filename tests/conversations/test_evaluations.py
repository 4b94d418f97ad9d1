"""Issue 13 item 3 — test cases and evaluations: cases run against a version through the
same engine as the preview; an evaluation fails when a case's source is out of the
assistant's scope; with promotion_requires_passing_tests the promotion answers 409 until
the version's latest evaluation passes (SPEC §11)."""
from __future__ import annotations

import io

import pytest

from tests.conversations.test_local_engine import GUIDE

WARRANTY = "Quanto dura la garanzia del bollitore Casa Bella?"


@pytest.fixture
def guided(tenant, run_jobs) -> dict[str, str]:  # noqa: ANN001
    """An Italian assistant (v1 live, v2 draft) over the Casa Bella guide, with two cases."""
    resp = tenant.post("/api/v1/knowledge/files/", data={
        "file": (io.BytesIO(GUIDE.encode()), "guida.txt")}, content_type="multipart/form-data")
    assert resp.status_code == 202, resp.json
    run_jobs()
    source_id = resp.json["id"]
    assistant = tenant.post("/api/v1/assistants/", json={
        "name": "Assistenza", "language": "it"}).json
    aid = assistant["id"]
    assert tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formale"}).json[
        "latest_version"] == 2
    cases = [
        {"question": WARRANTY, "expect_source_ids": [source_id], "expect_contains": "DUE ANNI"},
        {"question": "Qual è la capitale del Perù?", "expect_no_answer": True},
    ]
    for case in cases:
        resp = tenant.post(f"/api/v1/assistants/{aid}/tests", json=case)
        assert resp.status_code == 201, resp.json
        assert resp.json["id"].startswith("tc_")
    return {"assistant_id": aid, "source_id": source_id}


def _evaluate(tenant, run_jobs, aid: str, number: int) -> dict:  # noqa: ANN001
    resp = tenant.post(f"/api/v1/assistants/{aid}/versions/{number}/evaluations")
    assert resp.status_code == 202, resp.json
    assert resp.json["id"].startswith("ev_") and resp.json["job_id"]
    run_jobs()
    done = tenant.get(f"/api/v1/assistants/{aid}/evaluations/{resp.json['id']}").json
    assert done["status"] == "succeeded", done
    return done


def _promote(tenant, aid: str, number: int):  # noqa: ANN001, ANN202
    return tenant.post(f"/api/v1/assistants/{aid}/versions/{number}/promote")


def test_the_promotion_gate_waits_for_a_passing_evaluation(tenant, run_jobs, guided):
    aid, source_id = guided["assistant_id"], guided["source_id"]
    resp = tenant.patch(f"/api/v1/assistants/{aid}",
                        json={"promotion_requires_passing_tests": True})
    assert resp.status_code == 200 and resp.json["promotion_requires_passing_tests"] is True
    assert resp.json["latest_version"] == 2  # the switch made no version

    resp = _promote(tenant, aid, 2)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "evaluation_required"

    # The guide is out of the assistant's scope: the warranty case cannot pass.
    assert tenant.put(f"/api/v1/assistants/{aid}/knowledge", json={
        "mode": "all", "linked": [], "excluded": [source_id]}).status_code == 200
    failed = _evaluate(tenant, run_jobs, aid, 2)
    assert (failed["version"], failed["total"], failed["passed"], failed["pass_rate"]) == (
        2, 2, 1, 0.5)
    first, second = failed["cases"]
    assert first["question"] == WARRANTY and first["passed"] is False
    assert any("expected sources" in r for r in first["reasons"]), first
    assert second["passed"] is True and second["answer_type"] == "no_answer"
    resp = _promote(tenant, aid, 2)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "evaluation_failed"
    assert resp.json["error"]["details"]["evaluation_id"] == failed["id"]
    assert tenant.get(f"/api/v1/assistants/{aid}").json["live_version"] == 1

    assert tenant.put(f"/api/v1/assistants/{aid}/knowledge", json={
        "mode": "all", "linked": [], "excluded": []}).status_code == 200
    passed = _evaluate(tenant, run_jobs, aid, 2)
    assert passed["pass_rate"] == 1.0 and passed["cases"][0]["citations"][0][
        "source_id"] == source_id
    assert "due anni" in passed["cases"][0]["reply"]
    resp = _promote(tenant, aid, 2)
    assert resp.status_code == 200 and resp.json["live_version"] == 2
    listed = tenant.get(f"/api/v1/assistants/{aid}/evaluations").json["items"]
    assert [e["id"] for e in listed] == [passed["id"], failed["id"]]  # newest first


def test_without_the_switch_promotion_is_not_gated(tenant, guided):
    aid = guided["assistant_id"]
    assert _promote(tenant, aid, 2).status_code == 200


def test_test_cases_are_managed_and_checked(tenant, other_tenant, run_jobs, guided):
    aid = guided["assistant_id"]
    url = f"/api/v1/assistants/{aid}/tests"
    items = tenant.get(url).json["items"]
    assert [t["question"] for t in items][0] == WARRANTY  # oldest first
    tc = items[0]["id"]
    resp = tenant.patch(f"{url}/{tc}", json={"expect_contains": None,
                                              "expect_no_answer": False})
    assert resp.status_code == 200, resp.json
    assert (resp.json["expect_contains"], resp.json["expect_no_answer"]) == (None, False)
    assert resp.json["expect_source_ids"] == [guided["source_id"]]
    for body, field in (({"question": "Hi?"}, "expect_source_ids"),
                        ({"question": "Hi?", "expect_source_ids": ["kf_nope"]},
                         "expect_source_ids"),
                        ({"question": " ", "expect_no_answer": True}, "question"),
                        ({"question": "Hi?", "expect_no_answer": True, "x": 1}, "x")):
        resp = tenant.post(url, json=body)
        assert resp.status_code == 422 and field in resp.json["error"]["details"]["fields"], \
            (body, resp.json)
    assert other_tenant.get(url).status_code == 404
    assert other_tenant.get(f"{url}/{tc}").status_code == 404
    assert other_tenant.post(f"/api/v1/assistants/{aid}/versions/2/evaluations").status_code \
        == 404
    assert tenant.post(f"/api/v1/assistants/{aid}/versions/9/evaluations").status_code == 404
    assert tenant.delete(f"{url}/{tc}").status_code == 204
    assert tenant.get(f"{url}/{tc}").status_code == 404
    for t in tenant.get(url).json["items"]:
        tenant.delete(f"{url}/{t['id']}")
    resp = tenant.post(f"/api/v1/assistants/{aid}/versions/2/evaluations")
    assert resp.status_code == 422 and "tests" in resp.json["error"]["details"]["fields"]


def test_an_evaluation_whose_worker_died_is_failed_by_the_sweeper(app, tenant, run_jobs,
                                                                   guided):
    """A killed worker leaves the job "running" with a stale heartbeat; the sweeper fails
    the job and the evaluation with it (it used to read "running" for ever)."""
    from datetime import timedelta

    from sqlalchemy import update

    from extensions import db
    from models.evaluations import Evaluation
    from models.jobs import Job
    from models.types import utcnow

    aid = guided["assistant_id"]
    done = _evaluate(tenant, run_jobs, aid, 2)
    stale = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 60)
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == done["job_id"]).values(
            status="running", heartbeat_at=stale, started_at=stale, finished_at=None))
        db.session.execute(update(Evaluation).where(Evaluation.id == done["id"]).values(
            status="running", finished_at=None))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0 and done["job_id"] in result.output
    after = tenant.get(f"/api/v1/assistants/{aid}/evaluations/{done['id']}").json
    assert after["status"] == "failed" and "stopped responding" in after["error"]
    assert after["finished_at"]
