"""One module per content type; `services.knowledge.extract` dispatches between them."""
