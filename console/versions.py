"""Version history: compare any two versions side by side, promote or roll back."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from console.access import current_org, redirect_with_toast, require_login, requires_write
from console.diffing import diff_configs
from errors import Conflict, ValidationFailed
from services import assistants as svc
from services import evaluations as evaluation_svc

bp = require_login(Blueprint("console_versions", __name__, url_prefix="/console/assistants"))


def _version_number(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed({name: ["Choose a version number."]}) from None


@bp.get("/<assistant_id>/diff")
def diff(assistant_id: str) -> str:
    """`?a=1&b=3`; by default the live version against the latest one (or the one before
    it when the latest is live). Asked for one version twice, it says so (it used to
    quietly show another pair)."""
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    b_no = _version_number("b", assistant.latest_version)
    a_no = _version_number("a", assistant.live_version if assistant.live_version != b_no
                           else max(1, b_no - 1))
    a = svc.get_version(org, assistant, a_no)
    b = svc.get_version(org, assistant, b_no)
    versions = svc.list_versions(org, assistant, limit=100, cursor=None).items
    return render_template("assistants/diff.html", assistant=assistant, a=a, b=b,
                           versions=versions, fields=diff_configs(a.config(), b.config()),
                           evaluations=evaluation_svc.latest_per_version(org, assistant.id),
                           test_count=evaluation_svc.count_tests(org, assistant.id))


@bp.post("/<assistant_id>/versions/<int:number>/promote")
@requires_write
def promote(assistant_id: str, number: int) -> Response:
    """Promotion of a draft and rollback to an older version are the same act."""
    org = current_org()
    before = svc.get_assistant(org, assistant_id).live_version
    try:
        assistant = svc.promote_version(org, assistant_id, number, actor=current_user.id)
    except Conflict as exc:  # the promotion gate: no passing evaluation of this version
        return redirect_with_toast("console_assistants.detail", exc.message, "error",
                                   assistant_id=assistant_id, _anchor="tests")
    if number == before:
        message = f"Version {number} was already live."
    elif number < before:
        message = f"Rolled back: version {number} is live again (was {before})."
    else:
        message = f"Version {number} is live now (was {before})."
    return redirect_with_toast("console_assistants.detail", message,
                               assistant_id=assistant.id)
