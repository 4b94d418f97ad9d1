"""Imports every module that registers job functions (one task per module)."""
import jobs.analytics_jobs  # noqa: F401,E402
import jobs.evaluation_jobs  # noqa: F401,E402
import jobs.knowledge_jobs  # noqa: F401,E402
