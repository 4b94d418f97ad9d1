"""Test cases and evaluations in the console: add a case (or save one from the preview),
run a version's cases, read the verdicts, and switch the promotion gate. Every rule is in
services.evaluations and services.assistants, as for the API.
"""
from __future__ import annotations

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for

from console.access import current_org, redirect_with_toast, require_login, requires_write, toast
from errors import ValidationFailed
from extensions import htmx
from services import assistants as assistant_svc
from services import evaluations as svc

bp = require_login(Blueprint("console_evaluations", __name__,
                             url_prefix="/console/assistants"))
NO_ANSWER_CHOICES = {"yes": True, "no": False}


def _problems(exc: ValidationFailed) -> str:
    return "; ".join(m for messages in exc.fields.values() for m in messages)


@bp.post("/<assistant_id>/tests")
@requires_write
def create_test(assistant_id: str) -> Response:
    """From the Test cases card (a page post) or from the preview panel (HTMX: a toast,
    the conversation in the panel stays)."""
    form = request.form
    data = {"question": form.get("question", ""),
            "expect_source_ids": [s for s in form.getlist("expect_source_ids") if s],
            "expect_contains": form.get("expect_contains") or None,
            "expect_no_answer": NO_ANSWER_CHOICES.get(form.get("expect_no_answer", ""))}
    try:
        test = svc.create_test(current_org(), assistant_id, data)
    except ValidationFailed as exc:
        if htmx:
            return toast(make_response("", 422), f"Not saved: {_problems(exc)}", "error")
        return redirect_with_toast("console_assistants.detail", f"Not saved: {_problems(exc)}",
                                   "error", assistant_id=assistant_id, _anchor="tests")
    message = f"Test case saved: “{test.question[:80]}”."
    if htmx:
        return toast(make_response("", 204), message)
    return redirect_with_toast("console_assistants.detail", message,
                               assistant_id=assistant_id, _anchor="tests")


@bp.post("/<assistant_id>/tests/<test_id>/delete")
@requires_write
def delete_test(assistant_id: str, test_id: str) -> Response:
    svc.delete_test(current_org(), assistant_id, test_id)
    return redirect_with_toast("console_assistants.detail", "Test case deleted.",
                               assistant_id=assistant_id, _anchor="tests")


@bp.post("/<assistant_id>/promotion-gate")
@requires_write
def promotion_gate(assistant_id: str) -> Response:
    required = request.form.get("required") == "on"
    assistant_svc.update_assistant(current_org(), assistant_id,
                                   {"promotion_requires_passing_tests": required})
    return redirect_with_toast(
        "console_assistants.detail",
        "Promotion now needs a passing evaluation." if required
        else "Promotion no longer needs a passing evaluation.",
        assistant_id=assistant_id, _anchor="tests")


@bp.post("/<assistant_id>/versions/<int:number>/evaluations")
@requires_write
def start(assistant_id: str, number: int) -> Response:
    try:
        evaluation = svc.start_evaluation(current_org(), assistant_id, number)
    except ValidationFailed as exc:
        return redirect_with_toast("console_assistants.detail", _problems(exc), "error",
                                   assistant_id=assistant_id, _anchor="tests")
    return redirect(url_for(".show", assistant_id=assistant_id, evaluation_id=evaluation.id))


@bp.get("/<assistant_id>/evaluations/<evaluation_id>")
def show(assistant_id: str, evaluation_id: str) -> str:
    """One run: each case's verdict, reasons, reply and citations; polls while running."""
    org = current_org()
    assistant = assistant_svc.get_assistant(org, assistant_id)
    evaluation = svc.get_evaluation(org, assistant_id, evaluation_id)
    template = "assistants/_evaluation.html" if htmx else "assistants/evaluation.html"
    return render_template(template, assistant=assistant, evaluation=evaluation)
