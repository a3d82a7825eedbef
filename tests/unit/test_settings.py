import pytest

from entrypoints.settings import DEFAULTS, SettingsError, load_settings, require


def test_the_shipped_file_gives_every_default():
    config = load_settings(environ={})

    assert config.http.port() == 8099
    assert config.storage.backend() == "memory"
    assert config.messaging.kafka.topic() == "one-request"


def test_environment_overrides_the_file_and_flags_override_the_environment():
    environ = {"CRUNCAN_HTTP__PORT": "9000", "CRUNCAN_STORAGE__BACKEND": "postgres"}

    config = load_settings(environ=environ, overrides=["http.port=9100"])

    assert config.http.port() == 9100
    assert config.storage.backend() == "postgres"


def test_values_take_the_type_of_their_default():
    environ = {
        "CRUNCAN_RELAY__EMBEDDED": "false",
        "CRUNCAN_RELAY__POLL_INTERVAL_S": "0.5",
        "CRUNCAN_STORAGE__POSTGRES__POOL_SIZE": "4",
    }

    config = load_settings(environ=environ)

    assert config.relay.embedded() is False
    assert config.relay.poll_interval_s() == 0.5
    assert config.storage.postgres.pool_size() == 4


def test_placeholders_read_the_environment_when_the_file_is_loaded(monkeypatch):
    monkeypatch.setenv("POD_IP", "10.1.2.3")

    assert load_settings(environ={}).ids.node_ip() == "10.1.2.3"


def test_variables_without_the_prefix_or_nesting_are_ignored():
    config = load_settings(environ={"HTTP__PORT": "1", "CRUNCAN_TOKEN_CLIENT_SECRET": "s3cret"})

    assert config.http.port() == 8099


@pytest.mark.parametrize(
    ("environ", "overrides", "message"),
    [
        ({"CRUNCAN_HTTP__PROT": "1"}, [], "CRUNCAN_HTTP__PROT: unknown setting http.prot"),
        ({"CRUNCAN_HTTP__PORT": "eighty"}, [], "CRUNCAN_HTTP__PORT: setting http.port expects int, got 'eighty'"),
        ({}, ["relay.embedded=maybe"], "--set relay.embedded: setting relay.embedded expects bool"),
        ({}, ["http"], "expected key=value"),
        ({}, ["http=1"], "http is a section"),
        ({}, ["storage.backend=mysql"], "setting storage.backend is 'mysql'; expected one of memory, postgres"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_key(environ, overrides, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(environ=environ, overrides=overrides)


def test_a_malformed_file_is_reported_with_its_path(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("http: [port\n")

    with pytest.raises(SettingsError, match=f"{broken} is not valid YAML"):
        load_settings(broken, environ={})


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "absent.yaml", environ={})


def test_an_empty_file_is_reported(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")

    with pytest.raises(SettingsError, match="holds no settings"):
        load_settings(empty, environ={})


def test_a_file_of_ones_own_replaces_the_shipped_one(tmp_path):
    custom = tmp_path / "custom.yaml"
    custom.write_text(DEFAULTS.read_text().replace("port: 8099", "port: 7000"))

    assert load_settings(custom, environ={}).http.port() == 7000


def test_a_missing_required_value_names_the_key_and_how_to_set_it():
    config = load_settings(environ={})

    with pytest.raises(SettingsError, match=r"token\.client_secret is required: set CRUNCAN_TOKEN__CLIENT_SECRET"):
        require(config, ["token.url", "token.client_secret"])


def test_a_file_that_is_not_a_mapping_is_reported(tmp_path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- http\n- ids\n")

    with pytest.raises(SettingsError, match="expected a mapping of sections"):
        load_settings(listing, environ={})
