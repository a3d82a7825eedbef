"""The librdkafka configuration each Kafka security mode produces, and what start-up refuses."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.kafka.config import KafkaConnection, client_config
from entrypoints.connections import check_kafka_connection, kafka_connection
from entrypoints.settings import SettingsError, load_settings

BASE = {"bootstrap.servers": "broker:9093", "client.id": "cruncan-test"}


def kafka_settings(**given: object) -> dict[str, object]:
    section = load_settings(environ={}).messaging.kafka()
    return {**section, **given}


@pytest.mark.parametrize(
    ("settings_given", "expected"),
    [
        ({}, {"security.protocol": "plaintext"}),
        ({"security_protocol": "ssl"}, {"security.protocol": "ssl"}),
        (
            {"security_protocol": "SSL", "ssl_ca_location": "/ca.pem"},
            {"security.protocol": "ssl", "ssl.ca.location": "/ca.pem"},
        ),
        (
            {
                "security_protocol": "ssl",
                "ssl_ca_location": "/ca.pem",
                "ssl_certificate_location": "/client.pem",
                "ssl_key_location": "/client.key",
                "ssl_key_password": "key-pass",
            },
            {
                "security.protocol": "ssl",
                "ssl.ca.location": "/ca.pem",
                "ssl.certificate.location": "/client.pem",
                "ssl.key.location": "/client.key",
                "ssl.key.password": "key-pass",
            },
        ),
        (
            {
                "security_protocol": "sasl_plaintext",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
                "sasl_password": "p",
            },
            {
                "security.protocol": "sasl_plaintext",
                "sasl.mechanism": "PLAIN",
                "sasl.username": "u",
                "sasl.password": "p",
            },
        ),
        (
            {
                "security_protocol": "sasl_ssl",
                "sasl_mechanism": "SCRAM-SHA-256",
                "sasl_username": "u",
                "sasl_password": "p",
                "ssl_ca_location": "/ca.pem",
            },
            {
                "security.protocol": "sasl_ssl",
                "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.username": "u",
                "sasl.password": "p",
                "ssl.ca.location": "/ca.pem",
            },
        ),
        (
            {
                "security_protocol": "sasl_ssl",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "u",
                "sasl_password": "p",
            },
            {
                "security.protocol": "sasl_ssl",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "u",
                "sasl.password": "p",
            },
        ),
        (
            {"extra": {"socket.keepalive.enable": True, "client.rack": "eu-1a"}},
            {"security.protocol": "plaintext", "socket.keepalive.enable": True, "client.rack": "eu-1a"},
        ),
    ],
    ids=["plaintext", "tls", "tls-own-ca", "mutual-tls", "sasl-plain", "sasl-scram-256", "sasl-scram-512", "extra"],
)
def test_each_mode_produces_its_client_configuration(settings_given, expected):
    connection = kafka_connection(kafka_settings(**settings_given))

    assert client_config("broker:9093", "cruncan-test", connection) == {**expected, **BASE}


def test_the_typed_settings_win_over_nothing_and_bootstrap_is_always_the_configured_one():
    connection = kafka_connection(kafka_settings(extra={"socket.timeout.ms": 5000}))

    assert client_config("a:1", "x", connection)["bootstrap.servers"] == "a:1"


def test_passwords_stay_out_of_the_representation():
    connection = KafkaConnection(
        "sasl_ssl",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="sasl-s3cret",
        ssl_key_password="key-s3cret",
    )

    assert "s3cret" not in repr(connection)


@pytest.mark.parametrize(
    ("settings_given", "message"),
    [
        ({"security_protocol": "tls"}, "security_protocol is 'tls'; expected one of plaintext, ssl"),
        ({"security_protocol": "sasl_ssl", "sasl_username": "u", "sasl_password": "p"}, "sasl_mechanism is None"),
        ({"security_protocol": "sasl_ssl", "sasl_mechanism": "GSSAPI"}, "sasl_mechanism is 'GSSAPI'"),
        (
            {"security_protocol": "sasl_plaintext", "sasl_mechanism": "PLAIN"},
            "sasl_username and sasl_password required",
        ),
        ({"sasl_username": "u"}, "sasl_username set, but security_protocol plaintext does not use SASL"),
        ({"ssl_ca_location": "/ca.pem"}, "ssl_ca_location set, but security_protocol plaintext does not use TLS"),
        ({"security_protocol": "ssl", "ssl_key_location": "/k"}, "ssl_certificate_location and ssl_key_location go"),
        ({"extra": {"security.protocol": "ssl"}}, r"extra sets security.protocol \(set by security_protocol\)"),
        ({"extra": {"sasl.password": "p"}}, r"extra sets sasl.password \(set by sasl_password\)"),
        ({"extra": {"enable.idempotence": False}}, "extra sets enable.idempotence, which cruncan's clients set"),
        ({"extra": {"bootstrap.servers": "elsewhere:9092"}}, "extra sets bootstrap.servers"),
        ({"extra": {"socket.timeout.ms": [1]}}, "extra socket.timeout.ms: a librdkafka property takes a string"),
        ({"extra": ["socket.timeout.ms"]}, "messaging.kafka.extra must be a mapping"),
    ],
)
def test_inconsistent_settings_stop_start_up_naming_themselves(settings_given, message):
    with pytest.raises(SettingsError, match=message):
        kafka_connection(kafka_settings(**settings_given))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"no.such.property": "1"}, 'No such configuration property: "no.such.property"'),
        ({"socket.timeout.ms": "soon"}, 'Invalid value for configuration property "socket.timeout.ms"'),
        ({"error_cb": "print"}, "error_cb"),
    ],
)
def test_librdkafka_itself_refuses_unknown_or_malformed_extra_properties(extra, message):
    with pytest.raises(SettingsError, match=f"messaging.kafka: librdkafka refuses the settings: .*{message}"):
        check_kafka_connection(kafka_settings(extra=extra))


def test_librdkafka_refuses_a_certificate_authority_it_cannot_read(tmp_path):
    with pytest.raises(SettingsError, match=r"librdkafka refuses the settings: .*ssl\.ca\.location"):
        check_kafka_connection(kafka_settings(security_protocol="ssl", ssl_ca_location=str(tmp_path / "absent.pem")))


def test_known_properties_of_either_client_kind_pass():
    check_kafka_connection(kafka_settings(extra={"fetch.min.bytes": 1, "compression.type": "zstd"}))


@settings(max_examples=60, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", min_size=1, max_size=25),
        st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)),
        max_size=3,
    )
)
def test_any_extra_map_is_either_accepted_or_refused_by_name(extra):
    refusal = ""
    try:
        check_kafka_connection(kafka_settings(extra=extra))
    except SettingsError as exc:
        refusal = str(exc)
    assert not refusal or refusal.startswith("messaging.kafka"), refusal
