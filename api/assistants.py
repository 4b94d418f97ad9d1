"""`/api/v1/assistants/` — lifecycle, versions, promotion and rollback (SPEC §3)."""
from __future__ import annotations

from flask import Blueprint

from api.auth import current_auth, current_org
from api.endpoint import endpoint
from api.schemas.assistants import (
    AssistantCreate,
    AssistantOut,
    AssistantPage,
    AssistantUpdate,
    EvaluationOut,
    EvaluationPage,
    PreviewCreate,
    PreviewOut,
    VersionOut,
    KnowledgeScope,
    TestCaseCreate,
    TestCaseFields,
    TestCaseOut,
    TestCasePage,
    VersionPage,
)
from api.schemas.common import ListQuery
from services import assistants as svc
from services import evaluations as evaluation_svc
from services import preview as preview_svc

bp = Blueprint("assistants", __name__, url_prefix="/api/v1/assistants")
TAGS = ["Assistants"]


@bp.post("/")
@endpoint(summary="Create an assistant (version 1, live)", tags=TAGS, body=AssistantCreate,
          response=AssistantOut, status=201, errors=(422,))
def create(body: AssistantCreate) -> AssistantOut:
    assistant = svc.create_assistant(current_org(), body.model_dump(), actor=current_auth().key_id)
    return AssistantOut.of(assistant)


@bp.get("/")
@endpoint(summary="List assistants, newest first", tags=TAGS, query=ListQuery,
          response=AssistantPage)
def list_(query: ListQuery) -> AssistantPage:
    page = svc.list_assistants(current_org(), limit=query.limit, cursor=query.cursor)
    return AssistantPage(items=[AssistantOut.of(a) for a in page.items],
                         next_cursor=page.next_cursor)


@bp.get("/<assistant_id>")
@endpoint(summary="Get an assistant", tags=TAGS, response=AssistantOut, errors=(404,))
def get(assistant_id: str) -> AssistantOut:
    return AssistantOut.of(svc.get_assistant(current_org(), assistant_id))


@bp.patch("/<assistant_id>")
@endpoint(summary="Change an assistant: configuration → new version; is_active → switch",
          tags=TAGS, body=AssistantUpdate, response=AssistantOut, errors=(404, 409, 422))
def update(assistant_id: str, body: AssistantUpdate) -> AssistantOut:
    changes = body.model_dump(exclude_unset=True, exclude={"promote", "note"})
    assistant, _ = svc.update_assistant(current_org(), assistant_id, changes,
                                        promote=body.promote, note=body.note,
                                        actor=current_auth().key_id)
    return AssistantOut.of(assistant)


@bp.delete("/<assistant_id>")
@endpoint(summary="Delete an assistant (history stays readable)", tags=TAGS, status=204,
          errors=(404,))
def delete(assistant_id: str) -> None:
    svc.delete_assistant(current_org(), assistant_id)


@bp.get("/<assistant_id>/versions")
@endpoint(summary="List an assistant's versions, newest first", tags=TAGS, query=ListQuery,
          response=VersionPage, errors=(404,))
def versions(assistant_id: str, query: ListQuery) -> VersionPage:
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    page = svc.list_versions(org, assistant, limit=query.limit, cursor=query.cursor)
    return VersionPage(items=[VersionOut.of(v, assistant.live_version) for v in page.items],
                       next_cursor=page.next_cursor)


@bp.get("/<assistant_id>/versions/<int:number>")
@endpoint(summary="Get one version", tags=TAGS, response=VersionOut, errors=(404,))
def version(assistant_id: str, number: int) -> VersionOut:
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    return VersionOut.of(svc.get_version(org, assistant, number), assistant.live_version)


@bp.post("/<assistant_id>/versions/<int:number>/promote")
@endpoint(summary="Make a version live (promotion and rollback); 409 when the assistant "
          "requires passing tests and the version's latest evaluation is missing or failed",
          tags=TAGS, response=AssistantOut, errors=(404, 409))
def promote(assistant_id: str, number: int) -> AssistantOut:
    return AssistantOut.of(svc.promote_version(current_org(), assistant_id, number,
                                               actor=current_auth().key_id))


@bp.post("/<assistant_id>/preview")
@endpoint(summary="Try a version: the reply it would give and the retrieval trace; "
          "nothing is stored", tags=TAGS, body=PreviewCreate, response=PreviewOut,
          errors=(404, 422))
def preview(assistant_id: str, body: PreviewCreate) -> PreviewOut:
    return PreviewOut.of(preview_svc.preview(
        current_org(), assistant_id, body.content, version=body.version,
        history=[(t.role, t.content) for t in body.history], context=body.context))


@bp.get("/<assistant_id>/knowledge")
@endpoint(summary="The assistant's knowledge scope", tags=TAGS, response=KnowledgeScope,
          errors=(404,))
def get_knowledge(assistant_id: str) -> KnowledgeScope:
    a = svc.get_assistant(current_org(), assistant_id)
    return KnowledgeScope(mode=a.knowledge_mode, linked=a.knowledge_linked or [],
                          excluded=a.knowledge_excluded or [])


@bp.put("/<assistant_id>/knowledge")
@endpoint(summary="Set the knowledge scope: all (minus excluded) or only linked sources",
          tags=TAGS, body=KnowledgeScope, response=KnowledgeScope, errors=(404, 422))
def put_knowledge(assistant_id: str, body: KnowledgeScope) -> KnowledgeScope:
    from services.knowledge.scope import set_scope

    a = set_scope(current_org(), assistant_id, mode=body.mode, linked=body.linked,
                  excluded=body.excluded)
    return KnowledgeScope(mode=a.knowledge_mode, linked=a.knowledge_linked or [],
                          excluded=a.knowledge_excluded or [])


# ------------------------------------------------------------------ tests and evaluations
@bp.get("/<assistant_id>/tests")
@endpoint(summary="List an assistant's test cases, oldest first (the order they run in)",
          tags=TAGS, query=ListQuery, response=TestCasePage, errors=(404,))
def list_tests(assistant_id: str, query: ListQuery) -> TestCasePage:
    page = evaluation_svc.list_tests(current_org(), assistant_id, limit=query.limit,
                                     cursor=query.cursor)
    return TestCasePage(items=[TestCaseOut.of(t) for t in page.items],
                        next_cursor=page.next_cursor)


@bp.post("/<assistant_id>/tests")
@endpoint(summary="Add a test case: a question and at least one expectation", tags=TAGS,
          body=TestCaseCreate, response=TestCaseOut, status=201, errors=(404, 422))
def create_test(assistant_id: str, body: TestCaseCreate) -> TestCaseOut:
    return TestCaseOut.of(evaluation_svc.create_test(
        current_org(), assistant_id, body.model_dump(exclude_none=True)))


@bp.get("/<assistant_id>/tests/<test_id>")
@endpoint(summary="Get a test case", tags=TAGS, response=TestCaseOut, errors=(404,))
def get_test(assistant_id: str, test_id: str) -> TestCaseOut:
    return TestCaseOut.of(evaluation_svc.get_test(current_org(), assistant_id, test_id))


@bp.patch("/<assistant_id>/tests/<test_id>")
@endpoint(summary="Change a test case (null clears an expectation)", tags=TAGS,
          body=TestCaseFields, response=TestCaseOut, errors=(404, 422))
def update_test(assistant_id: str, test_id: str, body: TestCaseFields) -> TestCaseOut:
    return TestCaseOut.of(evaluation_svc.update_test(
        current_org(), assistant_id, test_id, body.model_dump(exclude_unset=True)))


@bp.delete("/<assistant_id>/tests/<test_id>")
@endpoint(summary="Delete a test case", tags=TAGS, status=204, errors=(404,))
def delete_test(assistant_id: str, test_id: str) -> None:
    evaluation_svc.delete_test(current_org(), assistant_id, test_id)


@bp.post("/<assistant_id>/versions/<int:number>/evaluations")
@endpoint(summary="Run every test case against a version (a job)", tags=TAGS,
          response=EvaluationOut, status=202, errors=(404, 422))
def start_evaluation(assistant_id: str, number: int) -> EvaluationOut:
    return EvaluationOut.of(evaluation_svc.start_evaluation(current_org(), assistant_id,
                                                            number))


@bp.get("/<assistant_id>/evaluations")
@endpoint(summary="List an assistant's evaluations, newest first", tags=TAGS,
          query=ListQuery, response=EvaluationPage, errors=(404,))
def list_evaluations(assistant_id: str, query: ListQuery) -> EvaluationPage:
    page = evaluation_svc.list_evaluations(current_org(), assistant_id, limit=query.limit,
                                           cursor=query.cursor)
    return EvaluationPage(items=[EvaluationOut.of(e) for e in page.items],
                          next_cursor=page.next_cursor)


@bp.get("/<assistant_id>/evaluations/<evaluation_id>")
@endpoint(summary="Get an evaluation: each case's verdict, reply and citations",
          tags=TAGS, response=EvaluationOut, errors=(404,))
def get_evaluation(assistant_id: str, evaluation_id: str) -> EvaluationOut:
    return EvaluationOut.of(evaluation_svc.get_evaluation(current_org(), assistant_id,
                                                          evaluation_id))
