"""The job lock on Redis."""
