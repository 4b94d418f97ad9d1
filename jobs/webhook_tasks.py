"""RQ entry point of webhook deliveries (services mode): one attempt, then the next one
scheduled on the RQ scheduler after its wait, or none."""
from __future__ import annotations

from extensions import db
from jobs.worker import worker_app
from models.webhooks import WebhookDelivery
from services import webhooks


def deliver_webhook(delivery_id: str) -> None:
    app = worker_app()
    with app.app_context():
        if not webhooks.claim(delivery_id):
            return  # another worker has it, or it is done
        wait = webhooks.attempt(delivery_id)
        if wait is not None:
            row = db.session.get(WebhookDelivery, delivery_id)
            webhooks.dispatch(app, delivery_id, row.org_id, delay=wait)
