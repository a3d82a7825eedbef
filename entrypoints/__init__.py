"""Entrypoints: the HTTP API, the relay, the worker and the `cruncan` command.

Each entrypoint's container is its composition root, the only place adapters are imported.
"""
