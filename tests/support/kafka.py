"""Fixtures for the real kafka server."""
