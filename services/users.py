"""Console operators: creation, password checks, roles."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from errors import Conflict, Forbidden, ValidationFailed
from extensions import db
from models.orgs import Organization, User
from models.types import utcnow

MIN_PASSWORD = 8
# scrypt is werkzeug's default KDF; an unknown email still pays for one hash check so
# response time does not reveal which emails exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def normalize_email(email: str) -> str:
    try:
        return validate_email(email or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed({"email": [str(exc)]}) from exc


def create_user(
    org: Organization, *, email: str, password: str, role: str = "viewer", name: str = "",
    acting: User | None = None,
) -> User:
    """`acting` is the operator doing it (None from the CLI); only an owner makes owners."""
    errors: dict[str, list[str]] = {}
    try:
        email = normalize_email(email)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = [f"Use at least {MIN_PASSWORD} characters."]
    if role not in User.ROLES:
        errors["role"] = [f"Choose one of {', '.join(User.ROLES)}."]
    if acting is not None and role == "owner" and acting.role != "owner":
        errors["role"] = ["Only an owner can make another owner."]
    if errors:
        raise ValidationFailed(errors)
    exists = db.session.execute(
        select(func.count()).select_from(User).where(User.org_id == org.id, User.email == email)
    ).scalar_one()
    if exists:
        raise Conflict("A user with this email already exists.", code="email_taken")
    user = User(org_id=org.id, email=email, password_hash=generate_password_hash(password),
                role=role, name=(name or "").strip()[:120])
    db.session.add(user)
    db.session.commit()
    return user


def list_users(org: Organization) -> list[User]:
    """The organization's operators, oldest first (the team page; names in the audit)."""
    stmt = User.query_for_org(org).order_by(User.created_at.asc(), User.id.asc())
    return list(db.session.execute(stmt).scalars())


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    try:
        email = normalize_email(email)
    except ValidationFailed:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    users = list(db.session.execute(select(User).where(User.email == email)).scalars())
    if not users:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    for user in users:
        if user.disabled_at is None and check_password_hash(user.password_hash, password or ""):
            user.last_login_at = utcnow()
            db.session.commit()
            return user
    return None


def set_role(org: Organization, user_id: str, role: str, *, acting: User) -> User:
    if role not in User.ROLES:
        raise ValidationFailed({"role": [f"Choose one of {', '.join(User.ROLES)}."]})
    user = User.get_for_org(user_id, org)
    if user.id == acting.id and role != acting.role:
        raise Conflict("You cannot change your own role.", code="own_role")
    if user.role == "owner" and role != "owner" and acting.role != "owner":
        raise Forbidden("Only an owner can change another owner's role.", code="owner_only")
    if user.role == "owner" and role != "owner":
        owners = db.session.execute(
            select(func.count()).select_from(User)
            .where(User.org_id == org.id, User.role == "owner", User.disabled_at.is_(None))
        ).scalar_one()
        if owners <= 1:
            raise Conflict("An organization needs at least one owner.", code="last_owner")
    if role == "owner" and acting.role != "owner":
        raise ValidationFailed({"role": ["Only an owner can make another owner."]})
    if user.role != role:
        user.role = role
        user.session_version += 1  # open sessions re-check who they are: sign in again
    db.session.commit()
    return user


def end_sessions(user: User) -> None:
    """Sign-out ends every console session of this operator, not only the cookie that
    asked: a copy of the cookie saved before is refused from now on, in every process."""
    user.session_version += 1
    db.session.commit()


def set_disabled(org: Organization, user_id: str, disabled: bool, *, acting: User) -> User:
    """Disable (sign-in refused, open sessions end on their next request) or re-enable.

    Nobody disables themselves, only an owner touches an owner, and the last active owner
    stays, so an organization can never lock itself out.
    """
    user = User.get_for_org(user_id, org)
    if user.id == acting.id:
        raise Conflict("You cannot disable your own account.", code="own_account")
    if user.role == "owner" and acting.role != "owner":
        raise Forbidden("Only an owner can disable or enable an owner.")
    if disabled and user.role == "owner" and user.disabled_at is None:
        owners = db.session.execute(
            select(func.count()).select_from(User)
            .where(User.org_id == org.id, User.role == "owner", User.disabled_at.is_(None))
        ).scalar_one()
        if owners <= 1:
            raise Conflict("An organization needs at least one owner.", code="last_owner")
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
    elif not disabled:
        user.disabled_at = None
    db.session.commit()
    return user
