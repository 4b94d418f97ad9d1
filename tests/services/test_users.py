"""Role rules live in the service, whichever door (console form, CLI) calls them."""
from __future__ import annotations

import pytest

from tests.factories import make_org, make_user


def test_admin_cannot_demote_an_owner_even_with_two_owners(app):
    from errors import Forbidden
    from extensions import db
    from models.orgs import Organization, User
    from services.users import set_role

    org_id = make_org(app)
    owner_a, _, _ = make_user(app, org_id, "owner")
    owner_b, _, _ = make_user(app, org_id, "owner")
    admin, _, _ = make_user(app, org_id, "admin")
    with app.app_context():
        org = db.session.get(Organization, org_id)
        with pytest.raises(Forbidden):
            set_role(org, owner_a, "viewer", acting=db.session.get(User, admin))
        assert db.session.get(User, owner_a).role == "owner"
        # an owner may demote another owner while one remains
        set_role(org, owner_a, "admin", acting=db.session.get(User, owner_b))
        assert db.session.get(User, owner_a).role == "admin"


def test_operators_cannot_change_their_own_role(app):
    from errors import Conflict
    from extensions import db
    from models.orgs import Organization, User
    from services.users import set_role

    org_id = make_org(app)
    owner, _, _ = make_user(app, org_id, "owner")
    with app.app_context():
        org = db.session.get(Organization, org_id)
        with pytest.raises(Conflict):
            set_role(org, owner, "viewer", acting=db.session.get(User, owner))
        assert db.session.get(User, owner).role == "owner"


def test_authenticate_accepts_right_password_only(app):
    from services.users import authenticate

    org_id = make_org(app)
    _, email, password = make_user(app, org_id, "viewer")
    with app.app_context():
        assert authenticate(email.upper(), password) is not None
        assert authenticate(email, password + "x") is None
        assert authenticate("nobody@example.com", password) is None
        assert authenticate("not an email", password) is None
