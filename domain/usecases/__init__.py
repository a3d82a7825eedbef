"""Use cases: short handlers that build, call ports and commit."""
