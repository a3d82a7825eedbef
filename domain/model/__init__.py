"""Entities, value objects and errors of request ingestion and forwarding."""
