"""Fixtures for the real wiremock server."""
