"""HTTP client adapters on urllib3."""
