"""The one error the harness raises for a server it cannot start or reach."""


class ServerUnavailable(RuntimeError):
    """A server the tests or benchmarks need is missing or misbehaves; the message says how to fix it."""
