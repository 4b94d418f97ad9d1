"""Issue 8 item 7: a bounded soak in services mode (2 gunicorn workers, 1 RQ worker,
PostgreSQL + Redis, 3 organizations mixing chat, ingestion and analytics)."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.soak, pytest.mark.services]


def test_soak_no_5xx_nothing_lost_memory_flat(tmp_path):
    from bench.soak import run

    figures = run(seconds=40, orgs=3, clients_per_org=2, results=str(tmp_path / "r.md"))
    assert figures["server_errors"] == 0, figures["statuses"]
    sent, stored = figures["sent"], figures["stored"]
    assert sent["messages"] > 0 and sent["analytics"] > 0 and sent["uploads"] > 0
    assert stored["messages"] == sent["messages"]  # every accepted exchange is stored
    assert stored["feedback"] == sent["feedback"]
    for name, (start, end) in figures["rss"].items():
        # flat once warm: a leak grows with traffic (two thirds of the run here)
        assert end - start < max(64.0, 0.15 * start), (name, start, end)
