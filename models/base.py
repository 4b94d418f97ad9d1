"""Mixins every model shares, and the one helper that scopes queries to an organization.

A tenant-owned model inherits `OrgScoped`; reading it goes through `get_for_org` or
`query_for_org`, whose `org` argument is required, so a cross-tenant read has to be written
on purpose. A missing row and another organization's row raise the same NotFound.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, Self

from sqlalchemy import ForeignKey, Select, String, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from errors import NotFound
from extensions import db
from models.types import UTCDateTime, utcnow


class OrgLike(Protocol):
    """Anything with an organization id (an Organization row): scoping needs only the id,
    so this module does not import models.orgs, which builds on it."""

    id: str


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


def _org_id_of(org: "OrgLike | str") -> str:
    if org is None:
        raise ValueError("an organization is required to scope a query")
    return org if isinstance(org, str) else org.id


# Per model and form (ORM entity, or table columns): the organization column and the
# not-deleted criterion (None without `deleted_at`). SQL expressions are immutable, so every
# statement shares them; building `deleted_at IS NULL` on each call cost ~60,000
# instructions on the keyed list's path (issue 15).
_SCOPE_PARTS: dict[tuple[type, bool], tuple[Any, Any]] = {}


class OrgScoped:
    """Tenant-owned rows: `org_id` plus the scoped accessors."""

    not_found_message: str = "The requested resource does not exist."

    @declared_attr
    def org_id(cls) -> Mapped[str]:  # noqa: N805 - SQLAlchemy declared_attr
        return mapped_column(
            String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True,
            nullable=False,
        )

    @classmethod
    def query_for_org(cls, org: "OrgLike | str", *columns: Any) -> Select[Any]:
        """SELECT of this model limited to one organization; add filters on top.

        With `columns` (the model's table, or columns of it) it is a Core SELECT of those:
        plain rows read by attribute, no ORM instances to build, for reads that only
        serialize what they fetch (a list). The scoping is the same."""
        org_column, not_deleted = cls._scope_parts(bool(columns))
        stmt = select(*columns) if columns else select(cls)
        if not_deleted is not None:
            return stmt.where(org_column == _org_id_of(org), not_deleted)
        return stmt.where(org_column == _org_id_of(org))

    @classmethod
    def _scope_parts(cls, core: bool) -> tuple[Any, Any]:
        parts = _SCOPE_PARTS.get((cls, core))
        if parts is None:
            c = cls.__table__.c if core else cls  # type: ignore[attr-defined]
            not_deleted = c.deleted_at.is_(None) if hasattr(cls, "deleted_at") else None
            parts = _SCOPE_PARTS.setdefault((cls, core), (c.org_id, not_deleted))
        return parts

    @classmethod
    def get_for_org(
        cls, id_: str | None, org: "OrgLike | str", *, include_deleted: bool = False,
        for_update: bool = False,
    ) -> Self:
        """The row with this id in this organization, or NotFound (never a 403)."""
        org_id = _org_id_of(org)
        if not id_ or not isinstance(id_, str) or len(id_) > 80:
            raise NotFound(cls.not_found_message)
        stmt = select(cls).where(cls.id == id_, cls.org_id == org_id)  # type: ignore[attr-defined]
        if hasattr(cls, "deleted_at") and not include_deleted:
            stmt = stmt.where(cls.deleted_at.is_(None))  # type: ignore[attr-defined]
        if for_update:
            stmt = stmt.with_for_update()
        row = db.session.execute(stmt).scalar_one_or_none()
        if row is None:
            raise NotFound(cls.not_found_message)
        return row


def scoped_count(model: Any, org: "OrgLike | str", *criteria: Any) -> int:
    from sqlalchemy import func

    stmt = select(func.count()).select_from(model).where(model.org_id == _org_id_of(org), *criteria)
    return int(db.session.execute(stmt).scalar_one())


def grouped_for_org(model: Any, org: "OrgLike | str", parent_column: Any,
                    parent_ids: list[str]) -> dict[str, list[Any]]:
    """parent id → its rows of `model` in this organization, oldest first, in one query
    (exports and transcripts would otherwise query once per parent)."""
    grouped: dict[str, list[Any]] = {pid: [] for pid in parent_ids}
    if not parent_ids:
        return grouped
    rows = db.session.execute(
        model.query_for_org(org).where(parent_column.in_(parent_ids))
        .order_by(model.created_at.asc(), model.id.asc())
    ).scalars()
    for row in rows:
        grouped[getattr(row, parent_column.key)].append(row)
    return grouped
