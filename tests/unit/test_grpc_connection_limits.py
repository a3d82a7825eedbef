from entrypoints.grpc.server import NEVER, ConnectionLimits
from entrypoints.settings import load_settings

FIELDS = set(ConnectionLimits.__dataclass_fields__)


def limits(**changed: int) -> ConnectionLimits:
    shipped = {key: value for key, value in load_settings(environ={}).grpc().items() if key in FIELDS}
    return ConnectionLimits(**{**shipped, **changed})


def test_every_limit_is_a_setting_of_the_grpc_section() -> None:
    assert FIELDS.issubset(load_settings(environ={}).grpc())


def test_no_idle_time_or_age_at_zero_is_what_grpc_reads_as_no_limit() -> None:
    options = dict(limits(max_connection_idle_ms=0, max_connection_age_ms=0).options())

    assert options["grpc.max_connection_idle_ms"] == NEVER
    assert options["grpc.max_connection_age_ms"] == NEVER
    assert dict(limits().options())["grpc.max_connection_age_ms"] == 300_000


def test_the_keepalive_timeout_also_bounds_the_wait_for_any_ping_acknowledgement() -> None:
    options = dict(limits(keepalive_timeout_ms=1234).options())

    assert options["grpc.keepalive_timeout_ms"] == options["grpc.http2.ping_timeout_ms"] == 1234
