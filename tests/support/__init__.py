"""Fixtures that start or reach the real servers the tests talk to."""
