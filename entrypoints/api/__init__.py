"""`cruncan api`: the ingestion HTTP API (service "one")."""
