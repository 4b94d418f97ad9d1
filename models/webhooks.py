"""Webhook endpoints and their deliveries (SPEC §12): the delivery rows are the outbox,
written in the transaction of the event and sent after it commits."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.ids import id_factory
from models.types import JSONType, UTCDateTime, utcnow

EVENT_TYPES = ("source.ready", "source.failed", "feedback.created", "rate_limit.exceeded",
               "evaluation.finished", "assistant.version_promoted")
DELIVERY_STATUSES = ("pending", "sending", "retrying", "succeeded", "failed")


class WebhookEndpoint(OrgScoped, Timestamps, db.Model):
    """A receiver the organization registered. The secret signs every delivery; it is
    shown once, at creation, and kept to sign (it cannot be a one-way hash)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org_created", "org_id", "created_at"),)
    not_found_message = "Webhook not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("wh"))
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    events: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    secret: Mapped[str] = mapped_column(String(80), nullable=False)
    is_active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, default=True)


class WebhookDelivery(OrgScoped, db.Model):
    """One event for one endpoint: its body as first built (a redelivery sends the same
    bytes, with the same event id, so a receiver can drop duplicates) and every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    not_found_message = "Delivery not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("whd"))
    endpoint_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)
    event_type: Mapped[str] = mapped_column(String(40), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(db.Float)
    error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow,
                                                 onupdate=utcnow)
