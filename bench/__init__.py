"""Benchmarks: scripts that print figures. They assert nothing; tests never time anything."""
