"""Assistant lifecycle: immutable versions, promotion/rollback, the on/off switch."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from errors import Conflict, NotFound
from extensions import db
from models.assistants import CONFIG_FIELDS, Assistant, AssistantPromotion, AssistantVersion
from models.evaluations import Evaluation
from models.orgs import Organization
from models.types import utcnow
from services import webhooks
from services.pagination import Page, paginate


def create_assistant(org: Organization, data: dict[str, Any], *, actor: str | None) -> Assistant:
    """Create the assistant with version 1, live at once."""
    config = {
        "name": data["name"],
        "description": data.get("description") or "",
        "tone": data.get("tone") or "",
        "language": data.get("language") or "en",
        "instructions": data.get("instructions") or "",
        "task_models": data.get("task_models") or {},
    }
    assistant = Assistant(org_id=org.id, is_active=data.get("is_active", True),
                          promotion_requires_passing_tests=bool(
                              data.get("promotion_requires_passing_tests", False)),
                          live_version=1, latest_version=1, **config)
    db.session.add(assistant)
    db.session.flush()
    db.session.add(AssistantVersion(org_id=org.id, assistant_id=assistant.id, number=1,
                                    note="Initial version", created_by=actor, **config))
    db.session.add(AssistantPromotion(org_id=org.id, assistant_id=assistant.id, number=1,
                                      actor=actor))
    db.session.commit()
    return assistant


def list_assistants(org: Organization, *, limit: int, cursor: str | None) -> Page:
    """Rows with the assistants' columns, not ORM instances: a list only serializes them
    (the keyed GET's hot path, issue 15), and nothing here may be changed and flushed."""
    return paginate(Assistant.query_for_org(org, Assistant.__table__), Assistant,
                    limit=limit, cursor=cursor, rows=True)


def get_assistant(org: Organization | str, assistant_id: str) -> Assistant:
    return Assistant.get_for_org(assistant_id, org)


def get_version(org: Organization | str, assistant: Assistant, number: int) -> AssistantVersion:
    version = db.session.execute(
        AssistantVersion.query_for_org(org).where(
            AssistantVersion.assistant_id == assistant.id, AssistantVersion.number == number
        )
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(f"Version {number} of this assistant does not exist.")
    return version


def list_versions(org: Organization, assistant: Assistant, *, limit: int,
                  cursor: str | None) -> Page:
    stmt = AssistantVersion.query_for_org(org).where(
        AssistantVersion.assistant_id == assistant.id
    )
    return paginate(stmt, AssistantVersion, limit=limit, cursor=cursor)


def update_assistant(
    org: Organization, assistant_id: str, changes: dict[str, Any], *, promote: bool = False,
    note: str | None = None, actor: str | None = None,
) -> tuple[Assistant, AssistantVersion | None]:
    """Apply a PATCH. Configuration changes make a new immutable version built on the
    latest one (draft unless `promote`); `is_active` flips the switch without a version.
    Returns the assistant and the version created, if any."""
    assistant = Assistant.get_for_org(assistant_id, org, for_update=True)
    if "is_active" in changes and changes["is_active"] is not None:
        assistant.is_active = bool(changes["is_active"])
    if changes.get("promotion_requires_passing_tests") is not None:
        assistant.promotion_requires_passing_tests = bool(
            changes["promotion_requires_passing_tests"])
    config_changes = {k: v for k, v in changes.items() if k in CONFIG_FIELDS and v is not None}
    created: AssistantVersion | None = None
    if config_changes:
        latest = get_version(org, assistant, assistant.latest_version)
        config = latest.config()
        new_config = {**config, **config_changes}
        if new_config != config:
            created = _add_version(org, assistant, new_config, note=note, actor=actor)
    if promote:
        target = created.number if created else assistant.latest_version
        _make_live(org, assistant, target, actor=actor)
    assistant.updated_at = utcnow()
    db.session.commit()
    return assistant, created


def _add_version(org: Organization, assistant: Assistant, config: dict[str, Any], *,
                 note: str | None, actor: str | None) -> AssistantVersion:
    number = (db.session.execute(
        select(func.max(AssistantVersion.number)).where(
            AssistantVersion.assistant_id == assistant.id)
    ).scalar_one() or 0) + 1
    version = AssistantVersion(org_id=org.id, assistant_id=assistant.id, number=number,
                               note=(note or "").strip(), created_by=actor, **config)
    db.session.add(version)
    db.session.flush()
    assistant.latest_version = number
    return version


def _make_live(org: Organization | str, assistant: Assistant, number: int, *,
               actor: str | None) -> None:
    version = get_version(org, assistant, number)
    if number == assistant.live_version:
        return
    if assistant.promotion_requires_passing_tests:
        require_passing_evaluation(org, assistant, number)
    for field in CONFIG_FIELDS:
        setattr(assistant, field, getattr(version, field))
    db.session.add(AssistantPromotion(org_id=assistant.org_id, assistant_id=assistant.id,
                                      number=number, previous_number=assistant.live_version,
                                      actor=actor))
    previous, assistant.live_version = assistant.live_version, number
    webhooks.emit(assistant.org_id, "assistant.version_promoted", {
        "assistant_id": assistant.id, "version": number, "previous_version": previous,
        "rollback": number < previous})


def promotion_history(org: Organization | str, assistant: Assistant) -> list[AssistantPromotion]:
    """Every time a version went live, newest first."""
    return list(db.session.execute(
        AssistantPromotion.query_for_org(org).where(
            AssistantPromotion.assistant_id == assistant.id)
        .order_by(AssistantPromotion.created_at.desc(), AssistantPromotion.id.desc())
    ).scalars())


def require_passing_evaluation(org: Organization | str, assistant: Assistant,
                               number: int) -> None:
    """The promotion gate: the version's latest finished evaluation must pass every case."""
    latest = db.session.execute(
        Evaluation.query_for_org(org).where(
            Evaluation.assistant_id == assistant.id, Evaluation.version == number,
            Evaluation.status == "succeeded")
        .order_by(Evaluation.finished_at.desc(), Evaluation.id.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is None:
        raise Conflict(f"Version {number} has no finished evaluation: run its test cases "
                       "first (this assistant requires passing tests to promote).",
                       code="evaluation_required", details={"version": number})
    if latest.passed < latest.total or latest.total == 0:
        raise Conflict(f"Version {number} failed {latest.total - latest.passed} of "
                       f"{latest.total} test cases in its latest evaluation.",
                       code="evaluation_failed",
                       details={"version": number, "evaluation_id": latest.id,
                                "pass_rate": latest.pass_rate})


def promote_version(org: Organization, assistant_id: str, number: int, *,
                    actor: str | None = None) -> Assistant:
    """Make version `number` live: promotion of a draft and rollback are the same act."""
    assistant = Assistant.get_for_org(assistant_id, org, for_update=True)
    _make_live(org, assistant, number, actor=actor)
    assistant.updated_at = utcnow()
    db.session.commit()
    return assistant


def set_active(org: Organization, assistant_id: str, active: bool) -> Assistant:
    assistant = Assistant.get_for_org(assistant_id, org, for_update=True)
    assistant.is_active = active
    assistant.updated_at = utcnow()
    db.session.commit()
    return assistant


def delete_assistant(org: Organization, assistant_id: str) -> None:
    """Soft delete: history (conversations, feedback, versions) stays for audit."""
    assistant = Assistant.get_for_org(assistant_id, org, for_update=True)
    assistant.deleted_at = utcnow()
    assistant.is_active = False
    db.session.commit()


def require_serving(assistant: Assistant) -> None:
    """Raised by the conversation engine before any new conversation or message."""
    if not assistant.is_active:
        raise Conflict("This assistant is paused and does not accept new conversations.",
                       code="assistant_inactive")


def set_knowledge_scope(org: Organization, assistant_id: str, *, mode: str,
                        linked: list[str], excluded: list[str]) -> Assistant:
    """Store the assistant's knowledge scope; source ids are checked by the caller
    (services.knowledge) so unknown ids become a 422 before anything is written."""
    assistant = Assistant.get_for_org(assistant_id, org, for_update=True)
    assistant.knowledge_mode = mode
    assistant.knowledge_linked = list(dict.fromkeys(linked))
    assistant.knowledge_excluded = list(dict.fromkeys(excluded))
    assistant.updated_at = utcnow()
    db.session.commit()
    return assistant
