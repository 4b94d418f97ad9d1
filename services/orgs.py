"""Organizations: creation with the platform defaults, and their settings."""
from __future__ import annotations

from flask import current_app

from errors import ValidationFailed
from extensions import db
from models.orgs import Organization


def create_organization(
    name: str, *, rate_limit_per_hour: int | None = None, session_ttl_seconds: int | None = None
) -> Organization:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed({"name": ["Give a name of 1 to 200 characters."]})
    cfg = current_app.config
    org = Organization(
        name=name,
        rate_limit_per_hour=rate_limit_per_hour or cfg["DEFAULT_RATE_LIMIT_PER_HOUR"],
        session_ttl_seconds=session_ttl_seconds or cfg["DEFAULT_SESSION_TTL_SECONDS"],
        task_models={
            "chat": cfg["DEFAULT_CHAT_MODEL"], "summarize": cfg["DEFAULT_SUMMARIZE_MODEL"],
        },
    )
    db.session.add(org)
    db.session.commit()
    return org


def update_settings(
    org: Organization, *, rate_limit_per_hour: int | None = None,
    session_ttl_seconds: int | None = None, languages: list[str] | None = None,
) -> Organization:
    """`languages`: the ISO 639-1 codes the organization works in, first = main (OCR
    packs, lexical analyzers tried on questions, fallback for text too short to identify)."""
    from services.knowledge.language import known_languages, primary

    errors: dict[str, list[str]] = {}
    if languages is not None:
        codes = list(dict.fromkeys(primary(code) for code in languages if code.strip()))
        unknown = [c for c in codes if c not in set(known_languages())]
        if not codes or unknown or len(codes) > 10:
            errors["languages"] = [
                "Give 1 to 10 ISO 639-1 codes such as 'it' or 'en'"
                + (f"; unknown: {', '.join(unknown)}." if unknown else ".")]
        languages = codes
    if rate_limit_per_hour is not None and not 1 <= rate_limit_per_hour <= 10_000_000:
        errors["rate_limit_per_hour"] = ["Must be between 1 and 10,000,000."]
    if session_ttl_seconds is not None and not 60 <= session_ttl_seconds <= 90 * 86400:
        errors["session_ttl_seconds"] = ["Must be between 60 seconds and 90 days."]
    if errors:
        raise ValidationFailed(errors)
    if rate_limit_per_hour is not None:
        org.rate_limit_per_hour = rate_limit_per_hour
    if session_ttl_seconds is not None:
        org.session_ttl_seconds = session_ttl_seconds
    if languages is not None:
        org.languages = languages
    db.session.commit()
    return org
