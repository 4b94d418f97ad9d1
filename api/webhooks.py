"""`/api/v1/webhooks/` — signed event deliveries to the organization's own systems
(SPEC §12). The signing secret is in the create response only."""
from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.common import ListQuery, Page, Strict, Timestamp
from models.webhooks import EVENT_TYPES, WebhookDelivery, WebhookEndpoint
from services import webhooks as svc

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")
TAGS = ["Webhooks"]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
_URL_DOC = ("http(s) URL of your receiver; private, loopback and metadata addresses are "
            "refused unless the operator allowed the network (OUTBOUND_ALLOW_CIDRS).")


class WebhookOut(BaseModel):
    id: str
    url: str
    description: str
    events: list[str]
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, e: WebhookEndpoint) -> "WebhookOut":
        return cls(id=e.id, url=e.url, description=e.description, events=list(e.events or []),
                   is_active=e.is_active, created_at=e.created_at, updated_at=e.updated_at)


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (Companin-Signature); shown in "
                                    "this response only.")


class WebhookCreate(Strict):
    url: str = Field(..., min_length=1, max_length=2048, description=_URL_DOC)
    events: list[EventType] = Field(..., min_length=1)
    description: str = Field("", max_length=300)


class WebhookUpdate(Strict):
    url: str | None = Field(None, min_length=1, max_length=2048, description=_URL_DOC)
    events: list[EventType] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=300)
    is_active: bool | None = Field(None, description="false: nothing is sent until true.")


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "sending", "retrying", "succeeded", "failed"]
    attempts: int
    response_status: int | None
    latency_ms: float | None
    error: str | None
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None
    created_at: Timestamp

    @classmethod
    def of(cls, d: WebhookDelivery) -> "DeliveryOut":
        return cls(id=d.id, webhook_id=d.endpoint_id, event_id=d.event_id,
                   event_type=d.event_type, status=d.status, attempts=d.attempts,
                   response_status=d.response_status, latency_ms=d.latency_ms, error=d.error,
                   next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at,
                   created_at=d.created_at)


@bp.get("/")
@endpoint(summary="List the organization's webhooks (newest first)", tags=TAGS,
          query=ListQuery, response=Page[WebhookOut])
def list_(query: ListQuery) -> Page[WebhookOut]:
    page = svc.list_endpoints(current_org().id, limit=query.limit, cursor=query.cursor)
    return Page[WebhookOut](items=[WebhookOut.of(e) for e in page.items],
                            next_cursor=page.next_cursor)


@bp.post("/")
@endpoint(summary="Register a webhook; the signing secret is in this response only",
          tags=TAGS, body=WebhookCreate, response=WebhookCreated, status=201, errors=(422,))
def create(body: WebhookCreate) -> WebhookCreated:
    hook, secret = svc.create_endpoint(current_org().id, url=body.url, events=body.events,
                                       description=body.description)
    return WebhookCreated(**WebhookOut.of(hook).model_dump(), secret=secret)


@bp.get("/<webhook_id>")
@endpoint(summary="Get a webhook (never its secret)", tags=TAGS, response=WebhookOut,
          errors=(404,))
def get(webhook_id: str) -> WebhookOut:
    return WebhookOut.of(svc.get_endpoint(current_org().id, webhook_id))


@bp.patch("/<webhook_id>")
@endpoint(summary="Change a webhook's URL, events, description or on/off switch", tags=TAGS,
          body=WebhookUpdate, response=WebhookOut, errors=(404, 422))
def update(webhook_id: str, body: WebhookUpdate) -> WebhookOut:
    return WebhookOut.of(svc.update_endpoint(current_org().id, webhook_id,
                                             body.model_dump(exclude_unset=True)))


@bp.delete("/<webhook_id>")
@endpoint(summary="Delete a webhook and its delivery log", tags=TAGS, status=204,
          errors=(404,))
def delete(webhook_id: str) -> None:
    svc.delete_endpoint(current_org().id, webhook_id)


@bp.get("/<webhook_id>/deliveries")
@endpoint(summary="A webhook's deliveries, newest first: status, attempts, latency",
          tags=TAGS, query=ListQuery, response=Page[DeliveryOut], errors=(404,))
def deliveries(webhook_id: str, query: ListQuery) -> Page[DeliveryOut]:
    page = svc.list_deliveries(current_org().id, webhook_id, limit=query.limit,
                               cursor=query.cursor)
    return Page[DeliveryOut](items=[DeliveryOut.of(d) for d in page.items],
                             next_cursor=page.next_cursor)


@bp.post("/<webhook_id>/deliveries/<delivery_id>/redeliver")
@endpoint(summary="Send a delivery's event again (same event id and body)", tags=TAGS,
          response=DeliveryOut, status=202, errors=(404,))
def redeliver(webhook_id: str, delivery_id: str) -> DeliveryOut:
    return DeliveryOut.of(svc.redeliver(current_org().id, webhook_id, delivery_id))
