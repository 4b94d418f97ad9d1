"""Analytics query and response shapes (SPEC §7)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from api.schemas.common import IsoDateTime, Page, Strict, Timestamp
from services.analytics.scope import as_utc

Precision = Literal["exact", "approximate"]


class AnalyticsQuery(Strict):
    organization_id: str | None = Field(
        None, max_length=80,
        description="Platform keys: read this organization (default: all). Org keys: only "
        "their own id is accepted; any other is 404.")
    api_key_id: str | None = Field(None, max_length=80)
    since: IsoDateTime | None = Field(None, description="ISO 8601, inclusive; UTC if no offset.")
    until: IsoDateTime | None = Field(None, description="ISO 8601, exclusive; UTC if no offset.")

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return as_utc(v)

    @model_validator(mode="after")
    def _order(self) -> AnalyticsQuery:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be earlier than until.")
        return self


class PagedQuery(AnalyticsQuery):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=500)


class LogsQuery(PagedQuery):
    status: str | None = Field(None, pattern=r"^([1-5]xx|[1-5][0-9]{2})$",
                               description="Exact status (404) or a class (4xx).")
    method: str | None = Field(None, pattern=r"^[A-Za-z]{3,10}$")
    path: str | None = Field(None, max_length=500, description="Path prefix.")
    route: str | None = Field(None, max_length=200, description="Exact route template.")
    format: Literal["json", "csv"] = "json"


class UsageQuery(AnalyticsQuery):
    interval: Literal["hour", "day"] = "hour"


class LogOut(BaseModel):
    id: int
    created_at: Timestamp
    organization_id: str | None
    api_key_id: str | None
    method: str
    route: str
    path: str
    status: int
    latency_ms: float
    request_id: str
    client_ip: str | None


class LogPage(Page[LogOut]):
    pass


class Counts(BaseModel):
    requests: int
    errors_4xx: int = Field(description="Every 4xx, 429s included.")
    errors_5xx: int
    rate_limited: int = Field(description="429 responses (a subset of errors_4xx).")


class UsageBucket(Counts):
    start: Timestamp
    p50_ms: float | None = Field(description="null when the bucket has no requests.")
    p95_ms: float | None


class UsageOut(BaseModel):
    interval: Literal["hour", "day"]
    since: Timestamp
    until: Timestamp
    organization_id: str | None
    api_key_id: str | None
    percentiles: Precision = Field(description="exact from raw rows; approximate (within "
                                   "25%) when hourly rollups answered part of the range.")
    totals: Counts
    buckets: list[UsageBucket]


class EndpointRow(Counts):
    method: str
    route: str
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    share: float


class EndpointsOut(BaseModel):
    since: Timestamp
    until: Timestamp
    organization_id: str | None
    api_key_id: str | None
    total: int
    percentiles: Precision
    items: list[EndpointRow]


class RateLimitEventOut(BaseModel):
    id: str
    created_at: Timestamp
    organization_id: str | None
    api_key_id: str | None
    method: str
    path: str
    route: str | None
    client_ip: str | None
    limit: str
    request_id: str | None


class KeyTotal(BaseModel):
    organization_id: str | None
    api_key_id: str | None
    count: int
    last_at: Timestamp


class RateLimitsOut(Page[RateLimitEventOut]):
    total: int
    per_key: list[KeyTotal]


class RatingSummary(BaseModel):
    count: int
    mean: float | None
    distribution: dict[str, int] = Field(description='Ratings "1" to "5", zeros included.')


class AssistantRating(RatingSummary):
    assistant_id: str
    name: str | None


class VersionRating(RatingSummary):
    assistant_id: str
    assistant_version: int | None


class LowRatedSource(BaseModel):
    source_id: str
    title: str | None
    low_rated_answers: int


class KnowledgeGap(BaseModel):
    question: str
    count: int
    last_asked_at: Timestamp
    last_message_id: str = Field(..., description="The latest \"I don't know\" reply to it: "
                                 "correct it with POST .../messages/{id}/corrections.")
    last_conversation_id: str


class FeedbackOut(RatingSummary):
    organization_id: str | None
    since: Timestamp | None
    until: Timestamp | None
    per_assistant: list[AssistantRating]
    per_version: list[VersionRating]
    low_rated_sources: list[LowRatedSource]
    knowledge_gaps: list[KnowledgeGap]


class ConversationMetrics(BaseModel):
    conversations: int = Field(..., description="Conversations started.")
    messages: int = Field(..., description="Messages (questions and replies) written.")
    replies: int
    no_answer_rate: float | None = Field(..., description="Share of replies that were an "
                                         "\"I don't know\"; null without replies.")
    ratings: int
    mean_rating: float | None


class VersionMetrics(ConversationMetrics):
    assistant_id: str
    assistant_version: int | None


class ConversationBucket(ConversationMetrics):
    start: Timestamp
    end_users: int = Field(..., description="Distinct known end users who started a "
                           "conversation in this bucket.")
    versions: list[VersionMetrics]


class ConversationTotals(ConversationMetrics):
    end_users: int


class ConversationsOut(BaseModel):
    interval: Literal["hour", "day"]
    since: Timestamp
    until: Timestamp
    organization_id: str | None
    totals: ConversationTotals
    per_version: list[VersionMetrics]
    buckets: list[ConversationBucket]
