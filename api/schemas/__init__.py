"""Pydantic models: request bodies, query strings and responses of the JSON API."""
