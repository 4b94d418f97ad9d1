"""Test cases and evaluations (SPEC §11): an operator keeps questions with what a good
reply does, runs them against any version before promoting it, and can make promotion
wait for a passing run (`promotion_requires_passing_tests`, enforced in
services.assistants). Each case is answered exactly as the preview answers: the same
retrieval, gate and engine, nothing stored but the evaluation.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import func

from errors import AppError, NotFound, ValidationFailed
from extensions import db
from models.evaluations import AssistantTest, Evaluation
from models.jobs import Job
from models.knowledge import KnowledgeSource
from models.orgs import Organization
from models.types import utcnow
from services import preview as preview_svc
from services import webhooks
from services.assistants import get_assistant, get_version
from services.jobs import enqueue
from services.pagination import Page, paginate

MAX_TESTS = 200
MAX_EXPECTED_SOURCES = 20
EXPECTATIONS = ("expect_source_ids", "expect_contains", "expect_no_answer")


# --------------------------------------------------------------------------- test cases
def create_test(org: Organization, assistant_id: str, data: dict[str, Any]) -> AssistantTest:
    assistant = get_assistant(org, assistant_id)
    if count_tests(org, assistant.id) >= MAX_TESTS:
        raise ValidationFailed({"question": [f"An assistant keeps at most {MAX_TESTS} test "
                                             "cases; delete some first."]})
    test = AssistantTest(org_id=org.id, assistant_id=assistant.id,
                         **_checked(org, {"expect_source_ids": [], "expect_contains": None,
                                          "expect_no_answer": None, **data}))
    db.session.add(test)
    db.session.commit()
    return test


def list_tests(org: Organization, assistant_id: str, *, limit: int | None,
               cursor: str | None) -> Page:
    """Oldest first: the order an evaluation runs them in."""
    assistant = get_assistant(org, assistant_id)
    stmt = AssistantTest.query_for_org(org).where(AssistantTest.assistant_id == assistant.id)
    return paginate(stmt, AssistantTest, limit=limit, cursor=cursor, newest_first=False)


def get_test(org: Organization, assistant_id: str, test_id: str) -> AssistantTest:
    assistant = get_assistant(org, assistant_id)
    test = AssistantTest.get_for_org(test_id, org)
    if test.assistant_id != assistant.id:
        raise NotFound(AssistantTest.not_found_message)
    return test


def update_test(org: Organization, assistant_id: str, test_id: str,
                changes: dict[str, Any]) -> AssistantTest:
    test = get_test(org, assistant_id, test_id)
    current = {f: getattr(test, f) for f in ("question", *EXPECTATIONS)}
    for field, value in _checked(org, {**current, **changes}).items():
        setattr(test, field, value)
    test.updated_at = utcnow()
    db.session.commit()
    return test


def count_tests(org: Organization, assistant_id: str) -> int:
    return db.session.execute(
        AssistantTest.query_for_org(org).where(AssistantTest.assistant_id == assistant_id)
        .with_only_columns(func.count())).scalar_one()


def delete_test(org: Organization, assistant_id: str, test_id: str) -> None:
    db.session.delete(get_test(org, assistant_id, test_id))
    db.session.commit()


def _checked(org: Organization, data: dict[str, Any]) -> dict[str, Any]:
    """The stored fields; at least one expectation, and expected sources of this
    organization (a typo would make a case that can never pass)."""
    errors: dict[str, list[str]] = {}
    question = data.get("question")
    if not isinstance(question, str) or not question.strip() or len(question) > 2000 \
            or "\x00" in question:
        errors["question"] = ["Give a question of 1 to 2000 characters."]
    sources = data.get("expect_source_ids") or []
    contains = data.get("expect_contains")
    contains = contains.strip() if isinstance(contains, str) and contains.strip() else None
    no_answer = data.get("expect_no_answer")
    if not isinstance(sources, list) or len(sources) > MAX_EXPECTED_SOURCES or not all(
            isinstance(s, str) and 0 < len(s) <= 80 for s in sources):
        errors["expect_source_ids"] = [f"Up to {MAX_EXPECTED_SOURCES} source ids."]
    elif sources:
        known = set(db.session.execute(
            KnowledgeSource.query_for_org(org).where(KnowledgeSource.id.in_(sources))
            .with_only_columns(KnowledgeSource.id)).scalars())
        unknown = [s for s in sources if s not in known]
        if unknown:
            errors["expect_source_ids"] = [f"Unknown source: {', '.join(unknown[:5])}."]
    if contains is not None and len(contains) > 2000:
        errors["expect_contains"] = ["At most 2000 characters."]
    if no_answer is not None and not isinstance(no_answer, bool):
        errors["expect_no_answer"] = ["Must be true, false or null."]
    if not sources and contains is None and no_answer is None:
        errors.setdefault("expect_source_ids", []).append(
            "Give at least one expectation: expected sources, expected text or "
            "expect_no_answer.")
    if errors:
        raise ValidationFailed(errors)
    return {"question": question.strip(), "expect_source_ids": list(dict.fromkeys(sources)),
            "expect_contains": contains, "expect_no_answer": no_answer}


# -------------------------------------------------------------------------- evaluations
def start_evaluation(org: Organization, assistant_id: str, number: int) -> Evaluation:
    """Queue a run of every test case against version `number` (202 + a job)."""
    assistant = get_assistant(org, assistant_id)
    get_version(org, assistant, number)
    total = count_tests(org, assistant.id)
    if total == 0:
        raise ValidationFailed({"tests": ["Add at least one test case first."]})
    evaluation = Evaluation(org_id=org.id, assistant_id=assistant.id, version=number,
                            status="queued", total=total)
    db.session.add(evaluation)
    db.session.commit()
    evaluation_id = evaluation.id
    job = enqueue(org.id, "evaluation", target_id=evaluation_id, dedupe=False)
    evaluation = Evaluation.get_for_org(evaluation_id, org)
    if evaluation.job_id is None:
        evaluation.job_id = job.id
        db.session.commit()
    return evaluation


def get_evaluation(org: Organization, assistant_id: str, evaluation_id: str) -> Evaluation:
    assistant = get_assistant(org, assistant_id)
    evaluation = Evaluation.get_for_org(evaluation_id, org)
    if evaluation.assistant_id != assistant.id:
        raise NotFound(Evaluation.not_found_message)
    return evaluation


def list_evaluations(org: Organization, assistant_id: str, *, limit: int | None,
                     cursor: str | None, version: int | None = None) -> Page:
    assistant = get_assistant(org, assistant_id)
    stmt = Evaluation.query_for_org(org).where(Evaluation.assistant_id == assistant.id)
    if version is not None:
        stmt = stmt.where(Evaluation.version == version)
    return paginate(stmt, Evaluation, limit=limit, cursor=cursor)


def latest_per_version(org: Organization, assistant_id: str) -> dict[int, Evaluation]:
    """Each version's newest evaluation (the assistant page, the version diff)."""
    latest: dict[int, Evaluation] = {}
    for evaluation in list_evaluations(org, assistant_id, limit=100, cursor=None).items:
        latest.setdefault(evaluation.version, evaluation)  # newest first
    return latest


def run_evaluation(job: Job, progress: Callable[[int], None]) -> Evaluation:
    """The job's work: answer every case, judge it, record the verdicts."""
    org = db.session.get(Organization, job.org_id)
    evaluation = Evaluation.get_for_org(job.target_id, job.org_id)
    evaluation.status, evaluation.job_id = "running", job.id
    db.session.commit()
    evaluation_id, assistant_id, number = evaluation.id, evaluation.assistant_id, \
        evaluation.version
    tests = list(db.session.execute(
        AssistantTest.query_for_org(org).where(AssistantTest.assistant_id == assistant_id)
        .order_by(AssistantTest.created_at, AssistantTest.id)).scalars())
    cases = []
    try:
        for i, test in enumerate(tests, start=1):
            reply = preview_svc.preview(org, assistant_id, test.question, version=number).reply
            passed, reasons = judge(test, reply)
            cases.append({"test_id": test.id, "question": test.question, "passed": passed,
                          "reasons": reasons, "reply": reply.content,
                          "answer_type": reply.answer_type, "citations": reply.citations})
            progress(int(100 * i / max(1, len(tests))))
    except AppError as exc:  # the assistant or the version went away meanwhile
        db.session.rollback()
        return _finish(org, evaluation_id, cases, error=exc.message)
    except Exception:
        db.session.rollback()  # the job fails (and may be retried); the run says so too
        _finish(org, evaluation_id, cases, error="The evaluation stopped on an internal "
                "error; run it again.")
        raise
    return _finish(org, evaluation_id, cases)


def _finish(org: Organization, evaluation_id: str, cases: list[dict[str, Any]], *,
            error: str | None = None) -> Evaluation:
    evaluation = Evaluation.get_for_org(evaluation_id, org)
    passed = sum(1 for c in cases if c["passed"])
    evaluation.cases, evaluation.total, evaluation.passed = cases, len(cases), passed
    evaluation.pass_rate = round(passed / len(cases), 4) if cases else None
    evaluation.status = "failed" if error else "succeeded"
    evaluation.error = error
    evaluation.finished_at = utcnow()
    webhooks.emit(org.id, "evaluation.finished", {
        "id": evaluation.id, "assistant_id": evaluation.assistant_id,
        "version": evaluation.version, "status": evaluation.status, "total": evaluation.total,
        "passed": evaluation.passed, "pass_rate": evaluation.pass_rate, "error": error})
    db.session.commit()
    return evaluation


def judge(test: AssistantTest, reply: Any) -> tuple[bool, list[str]]:
    """A case passes when the reply meets every expectation it names."""
    reasons = []
    cited = [c["source_id"] for c in reply.citations]
    if test.expect_source_ids and not set(cited) & set(test.expect_source_ids):
        reasons.append("It cited none of the expected sources"
                       + (f" (it cited {', '.join(dict.fromkeys(cited))})." if cited
                          else " (it cited nothing)."))
    if test.expect_contains and _fold(test.expect_contains) not in _fold(reply.content):
        reasons.append(f"The reply does not contain “{test.expect_contains}”.")
    if test.expect_no_answer is True and reply.answer_type != "no_answer":
        reasons.append("Expected “I don't know”; it answered.")
    if test.expect_no_answer is False and reply.answer_type == "no_answer":
        reasons.append("Expected an answer; it said it does not know.")
    return not reasons, reasons


def _fold(text: str) -> str:
    """Case and accents ignored, spacing normalized: “Perù” contains “peru”."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())
