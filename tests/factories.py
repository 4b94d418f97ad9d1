"""Small factories that read like the user story: make_org(), make_key(org), ..."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Tenant:
    """An organization with a working API key and a client that sends it."""

    org_id: str
    key_id: str
    secret: str
    client: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.secret}

    def _call(self, method: str, path: str, **kwargs: Any):  # noqa: ANN202
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any):  # noqa: ANN201
        return self._call("GET", path, **kw)

    def post(self, path: str, **kw: Any):  # noqa: ANN201
        return self._call("POST", path, **kw)

    def patch(self, path: str, **kw: Any):  # noqa: ANN201
        return self._call("PATCH", path, **kw)

    def put(self, path: str, **kw: Any):  # noqa: ANN201
        return self._call("PUT", path, **kw)

    def delete(self, path: str, **kw: Any):  # noqa: ANN201
        return self._call("DELETE", path, **kw)


def make_org(app, name: str = "Acme", rate_limit: int = 100_000):  # noqa: ANN001, ANN201
    from services.orgs import create_organization

    with app.app_context():
        org = create_organization(name, rate_limit_per_hour=rate_limit)
        return org.id


def make_key(app, org_id: str | None, name: str = "test", platform: bool = False,  # noqa: ANN001,ANN201
             scopes: list[str] | None = None, **settings):  # noqa: ANN003
    """A key as the CLI mints it; `scopes` None = the default (all but keys:manage)."""
    from extensions import db
    from models.orgs import Organization
    from services.keys import create_key

    with app.app_context():
        org = db.session.get(Organization, org_id) if org_id else None
        minted = create_key(org, name=name, platform=platform, scopes=scopes, **settings)
        return minted.key.id, minted.secret


def make_user(app, org_id: str, role: str = "owner", email: str | None = None,  # noqa: ANN001
              password: str = "correct-horse-battery") -> tuple[str, str, str]:
    import secrets

    from extensions import db
    from models.orgs import Organization
    from services.users import create_user

    email = email or f"{role}-{secrets.token_hex(3)}@example.com"
    with app.app_context():
        user = create_user(db.session.get(Organization, org_id), email=email,
                           password=password, role=role)
        return user.id, email, password


def make_tenant(app, name: str = "Acme", rate_limit: int = 100_000) -> Tenant:  # noqa: ANN001
    from services.keys import SCOPES

    org_id = make_org(app, name, rate_limit)
    key_id, secret = make_key(app, org_id, scopes=list(SCOPES))  # every route is in reach
    return Tenant(org_id=org_id, key_id=key_id, secret=secret, client=app.test_client())


@pytest.fixture
def tenant(app) -> Tenant:  # noqa: ANN001
    return make_tenant(app, "Org A")


@pytest.fixture
def other_tenant(app) -> Tenant:  # noqa: ANN001
    return make_tenant(app, "Org B")


@pytest.fixture
def assistant(tenant: Tenant) -> dict:
    resp = tenant.post("/api/v1/assistants/", json={
        "name": "Support", "tone": "friendly", "language": "en",
        "instructions": "Answer from the knowledge base.",
        "task_models": {"chat": "claude-sonnet-4-5", "summarize": "claude-haiku-4-5"}})
    assert resp.status_code == 201, resp.json
    return resp.json
