"""Secrets read from files, as Kubernetes and Compose mount them, and the loader under hostile input."""

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrypoints.settings import SECRETS, SettingsError, env_name, load_settings, secret_values

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def secret_file(tmp_path: Path, text: str | bytes, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("key", SECRETS)
def test_every_secret_reads_from_the_file_its_variable_names(tmp_path, key):
    path = secret_file(tmp_path, "from-a-file\n")

    config = load_settings(environ={env_name(key) + "_FILE": str(path)})

    assert config.get(key) == "from-a-file"


@pytest.mark.parametrize("key", SECRETS)
def test_every_secret_reads_from_a_file_key_in_a_settings_file(tmp_path, key):
    path = secret_file(tmp_path, "yaml-named")
    section, _, name = key.rpartition(".")

    config = load_settings(environ={}, overrides=[f"{section}.{name}_file={path}"])

    assert config.get(key) == "yaml-named"


def test_a_file_key_written_in_ones_own_settings_file_is_read(tmp_path):
    secret = secret_file(tmp_path, "s3cret\n")
    custom = tmp_path / "custom.yaml"
    shipped = (Path(__file__).parents[2] / "entrypoints" / "settings.yaml").read_text()
    custom.write_text(shipped.replace("  client_secret_file:\n", f"  client_secret_file: {secret}\n"))

    assert load_settings(custom, environ={}).token.client_secret() == "s3cret"


def test_a_settings_file_without_file_keys_still_loads(tmp_path):
    custom = tmp_path / "custom.yaml"
    shipped = (Path(__file__).parents[2] / "entrypoints" / "settings.yaml").read_text().splitlines()
    custom.write_text("\n".join(line for line in shipped if "_file:" not in line) + "\n")

    config = load_settings(custom, environ={"CRUNCAN_TOKEN__CLIENT_SECRET": "s3cret"})

    assert config.token.client_secret() == "s3cret"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("abc\n", "abc"),
        ("abc\r\n", "abc"),
        ("abc", "abc"),
        (" spaced out \n", " spaced out "),
        ("two\nlines\n", "two\nlines"),
    ],
)
def test_only_the_trailing_newline_is_dropped(tmp_path, content, expected):
    path = secret_file(tmp_path, content)

    assert load_settings(environ={"CRUNCAN_TOKEN__CLIENT_SECRET_FILE": str(path)}).token.client_secret() == expected


def test_a_missing_file_is_a_configuration_error_naming_the_setting(tmp_path):
    with pytest.raises(SettingsError, match=r"token\.client_secret_file: secret file .*absent does not exist"):
        load_settings(environ={"CRUNCAN_TOKEN__CLIENT_SECRET_FILE": str(tmp_path / "absent")})


def test_a_directory_is_not_a_secret_file(tmp_path):
    with pytest.raises(SettingsError, match=r"storage\.postgres\.dsn_file: .* is a directory"):
        load_settings(environ={"CRUNCAN_STORAGE__POSTGRES__DSN_FILE": str(tmp_path)})


def test_an_empty_file_is_refused(tmp_path):
    path = secret_file(tmp_path, "\n")

    with pytest.raises(SettingsError, match=r"messaging\.kafka\.sasl_password_file: secret file .* is empty"):
        load_settings(environ={"CRUNCAN_MESSAGING__KAFKA__SASL_PASSWORD_FILE": str(path)})


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = secret_file(tmp_path, b"\xff\xfe\x00binary")

    with pytest.raises(SettingsError, match=r"ssl_key_password_file: secret file .* is not UTF-8 text"):
        load_settings(environ={"CRUNCAN_MESSAGING__KAFKA__SSL_KEY_PASSWORD_FILE": str(path)})


def test_a_file_that_cannot_be_opened_is_refused_with_the_reason(tmp_path):
    path = tmp_path / ("x" * 300)

    with pytest.raises(SettingsError, match=r"token\.client_secret_file: cannot read secret file .*name too long"):
        load_settings(environ={"CRUNCAN_TOKEN__CLIENT_SECRET_FILE": str(path)})


def test_a_value_and_a_file_for_one_secret_are_refused_as_ambiguous(tmp_path):
    path = secret_file(tmp_path, "from-file")
    environ = {"CRUNCAN_TOKEN__CLIENT_SECRET": "from-env", "CRUNCAN_TOKEN__CLIENT_SECRET_FILE": str(path)}

    with pytest.raises(SettingsError, match=r"CRUNCAN_TOKEN__CLIENT_SECRET and token\.client_secret_file both set"):
        load_settings(environ=environ)


def test_the_file_replaces_the_shipped_default(tmp_path):
    path = secret_file(tmp_path, "postgresql://cruncan_app@db:5432/cruncan\n")

    config = load_settings(environ={"CRUNCAN_STORAGE__POSTGRES__DSN_FILE": str(path)})

    assert config.storage.postgres.dsn() == "postgresql://cruncan_app@db:5432/cruncan"


def test_secret_values_lists_every_secret_and_the_dsn_password_for_redaction(tmp_path):
    environ = {
        "CRUNCAN_TOKEN__CLIENT_SECRET": "token-secret",
        "CRUNCAN_STORAGE__POSTGRES__DSN": "postgresql://app:dsn-password@db/cruncan",
        "CRUNCAN_MESSAGING__KAFKA__SASL_PASSWORD_FILE": str(secret_file(tmp_path, "sasl-secret\n")),
    }

    values = secret_values(load_settings(environ=environ))

    assert {"token-secret", "dsn-password", "sasl-secret"} <= set(values)


def test_the_kafka_extra_map_takes_json_from_the_environment_and_entries_from_flags():
    config = load_settings(
        environ={"CRUNCAN_MESSAGING__KAFKA__EXTRA": '{"socket.keepalive.enable": true}'},
        overrides=["messaging.kafka.extra.client.rack=eu-1a"],
    )

    assert config.messaging.kafka.extra() == {"socket.keepalive.enable": True, "client.rack": "eu-1a"}


@pytest.mark.parametrize("raw", ["[1, 2]", "not json", '"a string"', "3"])
def test_the_kafka_extra_map_refuses_anything_but_a_json_object(raw):
    with pytest.raises(SettingsError, match=r"CRUNCAN_MESSAGING__KAFKA__EXTRA: setting messaging\.kafka\.extra"):
        load_settings(environ={"CRUNCAN_MESSAGING__KAFKA__EXTRA": raw})


# Hostile input: whatever the environment, the flags or a secret file hold, the loader either succeeds or
# raises SettingsError naming the setting or variable at fault; nothing else escapes.
KNOWN_KEYS = [
    "http.port",
    "http.host",
    "relay.embedded",
    "relay.poll_interval_s",
    "storage.backend",
    "messaging.kafka.extra",
    "token.client_secret",
    *(key + "_file" for key in SECRETS),
]
key_text = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.text(alphabet=string.ascii_lowercase + "._", min_size=0, max_size=30),
    st.sampled_from(KNOWN_KEYS).map(lambda key: key + ".deeper"),
)
value_text = st.one_of(st.text(max_size=40), st.sampled_from(["", "true", "-1", "1e999", "nan", "{}", '{"a": []}']))


def env_of(key: str) -> str:
    return "CRUNCAN_" + key.replace(".", "__").upper()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(key_text, value_text), max_size=4), as_flag=st.booleans())
def test_any_setting_input_either_loads_or_names_its_key(pairs, as_flag):
    environ = {} if as_flag else {env_of(key): value.replace("\x00", "") for key, value in pairs}
    overrides = [f"{key}={value}" for key, value in pairs] if as_flag else []
    message = ""
    try:
        load_settings(environ=environ, overrides=overrides)
    except SettingsError as exc:
        message = str(exc)
    if message:
        named = [
            name
            for key, value in pairs
            for name in (key.strip(), env_of(key), repr(f"{key}={value}") if as_flag else "")
            if name
        ]
        assert any(name in message for name in named), f"{message!r} names none of {pairs}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=64), key=st.sampled_from(SECRETS))
def test_any_secret_file_content_either_loads_or_names_the_file_key(tmp_path_factory, content, key):
    path = tmp_path_factory.mktemp("secret") / "value"
    path.write_bytes(content)
    loaded, refusal = None, ""
    try:
        loaded = load_settings(environ={env_name(key) + "_FILE": str(path)}).get(key)
    except SettingsError as exc:
        refusal = str(exc)
    if refusal:
        assert f"{key}_file" in refusal
    else:
        assert loaded == content.decode().removesuffix("\n").removesuffix("\r")
