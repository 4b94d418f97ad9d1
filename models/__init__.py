"""Importing this package registers every model on the shared metadata (for Alembic)."""
from models.assistants import Assistant, AssistantPromotion, AssistantVersion
from models.audit import AuditEvent, IdempotencyRecord, RateLimitEvent, RequestLog  # noqa: F401
from models.analytics import RequestRollup, RequestRouteRollup, RollupState  # noqa: F401
from models.jobs import Job
from models.knowledge import KnowledgeChunk, KnowledgeSource, SentenceVector  # noqa: F401
from models.orgs import ApiKey, Organization, User
from models.sessions import Context, EndUser, Session
from models.conversations import Conversation, Feedback, Message
from models.evaluations import AssistantTest, Evaluation  # noqa: F401
from models.webhooks import WebhookDelivery, WebhookEndpoint  # noqa: F401

__all__ = [
    "ApiKey",
    "Assistant",
    "AssistantPromotion",
    "AssistantVersion",
    "AuditEvent",
    "Job",
    "Organization",
    "RateLimitEvent",
    "RequestLog",
    "User",
    "Context", "EndUser", "Session", "Conversation", "Feedback", "Message",
]
