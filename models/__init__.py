"""Importing this package registers every model on the shared metadata (for Alembic)."""
from models.assistants import Assistant, AssistantVersion
from models.audit import RateLimitEvent, RequestLog
from models.jobs import Job
from models.orgs import ApiKey, Organization, User

__all__ = [
    "ApiKey",
    "Assistant",
    "AssistantVersion",
    "Job",
    "Organization",
    "RateLimitEvent",
    "RequestLog",
    "User",
]
