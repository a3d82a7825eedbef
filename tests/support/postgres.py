"""Fixtures for the real postgres server."""
