"""Domain services: stateful rules built on ports (ID generation, token caching)."""
