"""The assistant form ↔ the API's pydantic schemas.

The console validates with the very models the API uses (AssistantCreate/AssistantUpdate),
so a value the API refuses is refused here with the same message, shown under its field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from api.endpoint import pydantic_fields
from api.schemas.assistants import AssistantCreate, AssistantUpdate

TEXT_FIELDS = ("name", "description", "tone", "language", "instructions")


@dataclass
class FormResult:
    """Parsed values to re-fill the form, the validated model, and inline errors."""

    values: dict[str, Any]
    model: BaseModel | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def task_models_text(task_models: dict[str, str] | None) -> str:
    """{"chat": "m1"} → "chat: m1" lines, the way the form shows them."""
    return "\n".join(f"{k}: {v}" for k, v in (task_models or {}).items())


def parse_task_models(text: str) -> tuple[dict[str, str], list[str]]:
    """"task: model" per line (":" or "="); blank lines are skipped."""
    models: dict[str, str] = {}
    problems: list[str] = []
    for n, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        sep = ":" if ":" in line else "=" if "=" in line else None
        if sep is None:
            problems.append(f"Line {n}: write it as task: model, e.g. chat: claude-sonnet-4-5.")
            continue
        task, model = (part.strip() for part in line.split(sep, 1))
        models[task] = model
    return models, problems


def _map_errors(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """pydantic paths ("task_models.chat") → the form field that shows them."""
    mapped: dict[str, list[str]] = {}
    for path, messages in fields.items():
        name = path.split(".", 1)[0]
        if name not in (*TEXT_FIELDS, "task_models", "note", "is_active", "promote"):
            name = "form"
        mapped.setdefault(name, []).extend(messages)
    return mapped


def _validate(schema: type[BaseModel], data: dict[str, Any], values: dict[str, Any],
              pre_errors: dict[str, list[str]]) -> FormResult:
    try:
        model = schema.model_validate(data)
    except ValidationError as exc:
        errors = _map_errors(pydantic_fields(exc))
        for k, v in pre_errors.items():
            errors.setdefault(k, []).extend(v)
        return FormResult(values=values, errors=errors)
    if pre_errors:
        return FormResult(values=values, errors=pre_errors)
    return FormResult(values=values, model=model)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _common(form: MultiDict) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
    # Browsers send textarea line breaks as CRLF; the API's clients send LF. One form so
    # versions made from either door diff cleanly.
    values = {name: _lf(form.get(name, "")) for name in TEXT_FIELDS}
    values["task_models"] = _lf(form.get("task_models", ""))
    task_models, problems = parse_task_models(values["task_models"])
    data: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS}
    data["task_models"] = task_models
    return values, data, ({"task_models": problems} if problems else {})


def parse_create(form: MultiDict) -> FormResult:
    values, data, pre = _common(form)
    values["is_active"] = "is_active" in form
    data["is_active"] = values["is_active"]
    if not data["language"].strip():
        data["language"] = "en"
    return _validate(AssistantCreate, data, values, pre)


def parse_update(form: MultiDict) -> FormResult:
    values, data, pre = _common(form)
    values["promote"] = "promote" in form
    values["note"] = form.get("note", "")
    data["promote"] = values["promote"]
    data["note"] = values["note"].strip() or None
    return _validate(AssistantUpdate, data, values, pre)


def values_of(config: dict[str, Any]) -> dict[str, Any]:
    """A version's configuration as form values (the edit form starts from it)."""
    values = {name: config.get(name) or "" for name in TEXT_FIELDS}
    values["task_models"] = task_models_text(config.get("task_models"))
    return values
