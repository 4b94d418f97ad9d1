"""Team: the organization's operators, their roles, and who may still sign in."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from console.access import current_org, redirect_with_toast, require_login, requires_write
from errors import Conflict, ValidationFailed
from models.orgs import User
from services import users as svc

bp = require_login(Blueprint("console_team", __name__, url_prefix="/console/team"))


def _page(values: dict | None = None, errors: dict | None = None, status: int = 200
          ) -> tuple[str, int]:
    return render_template("team/list.html", members=svc.list_users(current_org()),
                           roles=User.ROLES,
                           values=values or {"role": "viewer"}, errors=errors or {}), status


@bp.get("/")
def index() -> tuple[str, int]:
    return _page()


@bp.post("/")
@requires_write
def create() -> Response | tuple[str, int]:
    form = request.form
    values = {k: form.get(k, "") for k in ("email", "name", "role")}
    try:
        user = svc.create_user(current_org(), email=values["email"],
                               password=form.get("password", ""), role=values["role"],
                               name=values["name"], acting=current_user)
    except ValidationFailed as exc:
        return _page(values, exc.fields, 422)
    except Conflict as exc:
        return _page(values, {"email": [exc.message]}, 409)
    return redirect_with_toast("console_team.index",
                               f"{user.email} can sign in now as {user.role}.")


@bp.post("/<user_id>/role")
@requires_write
def set_role(user_id: str) -> Response:
    user = svc.set_role(current_org(), user_id, request.form.get("role", ""),
                        acting=current_user)
    return redirect_with_toast("console_team.index", f"{user.email} is now {user.role}.")


@bp.post("/<user_id>/disable")
@requires_write
def disable(user_id: str) -> Response:
    user = svc.set_disabled(current_org(), user_id, True, acting=current_user)
    return redirect_with_toast("console_team.index",
                               f"{user.email} is disabled and signed out everywhere.")


@bp.post("/<user_id>/enable")
@requires_write
def enable(user_id: str) -> Response:
    user = svc.set_disabled(current_org(), user_id, False, acting=current_user)
    return redirect_with_toast("console_team.index", f"{user.email} can sign in again.")
