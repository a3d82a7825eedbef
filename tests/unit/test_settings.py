import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.system import usable_cpus
from domain.model.retry import RetryPolicy
from entrypoints.settings import (
    DEFAULTS,
    MAX_SECONDS,
    PROCESS_COUNTS,
    RETRIES,
    SECONDS,
    WHOLE_NUMBERS,
    SettingsError,
    load_settings,
    process_count,
    require,
)


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
    config = load_settings(environ={"HTTP__PORT": "1", "CRUNCAN_TOKENCLIENT": "s3cret"})

    assert config.http.port() == 8099


def test_the_token_secret_has_one_variable_and_the_old_name_says_so():
    assert load_settings(environ={"CRUNCAN_TOKEN__CLIENT_SECRET": "s3cret"}).token.client_secret() == "s3cret"
    with pytest.raises(SettingsError, match="CRUNCAN_TOKEN_CLIENT_SECRET is no longer read: set CRUNCAN_TOKEN__"):
        load_settings(environ={"CRUNCAN_TOKEN_CLIENT_SECRET": "s3cret"})


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


def test_every_retried_dependency_has_one_retry_section_of_the_same_shape():
    config = load_settings(environ={})

    for section in ("token", "third_party", "worker", "relay"):
        assert set(config.get(f"{section}.retry")) == {"base_s", "max_s", "attempts"}, section
    assert config.get("third_party.retry") == {"base_s": 0.2, "max_s": 10.0, "attempts": 5}


def test_a_retry_setting_is_overridden_like_any_other():
    config = load_settings(environ={"CRUNCAN_TOKEN__RETRY__ATTEMPTS": "2"}, overrides=["worker.retry.base_s=0.1"])

    assert config.token.retry.attempts() == 2
    assert config.worker.retry.base_s() == 0.1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["token.retry.attempts=0"], "token.retry.attempts is 0; expected at least 1"),
        (["third_party.retry.attempts=-1"], "third_party.retry.attempts is -1; expected at least 1"),
        (["worker.retry.attempts=-3"], "worker.retry.attempts is -3; expected at least 0"),
        (["relay.retry.attempts=2"], "relay.retry.attempts is 2; expected 0"),
        (["relay.retry.base_s=-1"], "relay.retry need 0 <= base_s <= max_s"),
        (["token.retry.base_s=9", "token.retry.max_s=1"], "token.retry need 0 <= base_s <= max_s"),
        (["worker.retry.max_s=nan"], "worker.retry need 0 <= base_s <= max_s"),
        (["worker.retry=3"], "worker.retry is a section"),
    ],
)
def test_a_bad_retry_setting_stops_start_up_naming_it(overrides, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(environ={}, overrides=overrides)


def test_a_retry_section_with_a_key_missing_or_unknown_is_refused(tmp_path):
    text = DEFAULTS.read_text().replace("    attempts: 0\n  # On shutdown", "    tries: 0\n  # On shutdown", 1)
    assert "tries: 0" in text
    path = tmp_path / "settings.yaml"
    path.write_text(text)

    with pytest.raises(SettingsError, match=r"relay\.retry must hold exactly base_s, max_s and attempts"):
        load_settings(config_file=path, environ={})


@given(
    base=st.one_of(st.floats(allow_nan=True), st.text(max_size=5)),
    most=st.one_of(st.floats(allow_nan=True), st.text(max_size=5)),
    attempts=st.one_of(st.integers(-5, 5), st.text(max_size=5)),
)
def test_any_retry_values_give_a_usable_policy_or_a_clear_refusal(base, most, attempts):
    overrides = [f"token.retry.base_s={base}", f"token.retry.max_s={most}", f"token.retry.attempts={attempts}"]
    try:
        config = load_settings(environ={}, overrides=overrides)
    except SettingsError as exc:
        refusal = str(exc)
        assert "token.retry" in refusal
    else:
        policy = RetryPolicy(**config.token.retry())
        assert policy.attempts >= 1
        assert 0 <= policy.ceiling(1) <= policy.max_s


def test_one_http_process_is_the_default_and_auto_is_one_per_usable_cpu():
    assert load_settings(environ={}).http.processes() == 1
    assert load_settings(environ={"CRUNCAN_HTTP__PROCESSES": "auto"}).http.processes() == min(usable_cpus(), 64)
    assert load_settings(environ={"CRUNCAN_HTTP__PROCESSES": "4"}, overrides=["http.processes=2"]).http.processes() == 2


def test_a_settings_file_may_give_the_processes_as_a_number_or_auto(tmp_path):
    custom = tmp_path / "custom.yaml"
    for written, count in (("3", 3), ("auto", min(usable_cpus(), 64)), ("' AUTO '", min(usable_cpus(), 64))):
        custom.write_text(DEFAULTS.read_text().replace("  processes: 1\n", f"  processes: {written}\n"))
        assert load_settings(custom, environ={}).http.processes() == count


@given(st.integers(1, 64), st.sampled_from(["{}", " {} ", "0{}", "{}\n"]))
def test_any_whole_number_of_processes_up_to_64_is_read_as_written(count, spelling):
    config = load_settings(environ={"CRUNCAN_HTTP__PROCESSES": spelling.format(count)})

    assert config.http.processes() == count


@given(st.integers(1, 10_000), st.sampled_from(["auto", "AUTO", " Auto "]))
def test_auto_is_the_usable_cpus_up_to_64(cpus, spelling):
    assert process_count("http.processes", spelling, lambda: cpus) == min(cpus, 64)


def _asks_for_processes(text: str) -> bool:
    text = text.strip()
    return text.lower() == "auto" or (text.isascii() and text.isdigit() and 1 <= int(text) <= 64)


@given(
    st.one_of(
        st.text(max_size=8).filter(lambda text: not _asks_for_processes(text)),
        st.integers().filter(lambda count: not 1 <= count <= 64),
        st.floats(),
        st.booleans(),
        st.none(),
    )
)
def test_anything_else_is_refused_naming_the_setting_and_what_it_takes(value):
    with pytest.raises(SettingsError) as refused:
        process_count("http.processes", value, lambda: 2)

    assert str(refused.value) == (
        f"setting http.processes is {value!r}; expected a whole number from 1 to 64, or auto (one per usable CPU)"
    )


@pytest.mark.parametrize(
    ("environ", "overrides", "value"),
    [
        ({"CRUNCAN_HTTP__PROCESSES": "two"}, [], "'two'"),
        ({}, ["http.processes=0"], "'0'"),
        ({}, ["http.processes=65"], "'65'"),
        ({}, ["http.processes=-1"], "'-1'"),
        ({}, ["http.processes=1.5"], "'1.5'"),
        ({}, ["http.processes="], "''"),
    ],
)
def test_a_bad_number_of_processes_stops_start_up_naming_the_key(environ, overrides, value):
    with pytest.raises(SettingsError, match=re.escape(f"setting http.processes is {value}; expected a whole number")):
        load_settings(environ=environ, overrides=overrides)


def test_usable_cpus_follow_a_container_cpu_quota(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))

    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == affinity
    cpu_max.write_text("50000 100000\n")
    assert usable_cpus(cpu_max) == 1
    cpu_max.write_text(f"{affinity * 100000 - 50000} 100000\n")
    assert usable_cpus(cpu_max) == affinity
    cpu_max.write_text("garbage\n")
    assert usable_cpus(cpu_max) == affinity
    assert usable_cpus(tmp_path / "absent") == affinity


def test_every_grpc_connection_limit_has_a_default_and_is_overridden_like_any_other():
    config = load_settings(
        environ={"CRUNCAN_GRPC__MAX_CONNECTION_AGE_MS": "60000"}, overrides=["grpc.max_ping_strikes=0"]
    )

    assert config.grpc.keepalive_time_ms() == 30_000
    assert config.grpc.keepalive_permit_without_calls() is True
    assert config.grpc.max_connection_age_ms() == 60_000
    assert config.grpc.max_ping_strikes() == 0


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("keepalive_time_ms: 0", "setting grpc.keepalive_time_ms is 0; expected a whole number from 1 to 2147483647"),
        ("keepalive_timeout_ms: 1.5", "setting grpc.keepalive_timeout_ms is 1.5; expected a whole number from 1"),
        ("max_ping_strikes: -1", "setting grpc.max_ping_strikes is -1; expected a whole number from 0"),
        ("max_connection_age_ms: 2147483648", "setting grpc.max_connection_age_ms is 2147483648; expected a whole"),
        ("max_connection_idle_ms: true", "setting grpc.max_connection_idle_ms is True; expected a whole number"),
        ("max_connection_age_grace_ms: soon", "setting grpc.max_connection_age_grace_ms is 'soon'; expected a whole"),
    ],
)
def test_a_grpc_connection_limit_outside_what_grpc_takes_stops_start_up_naming_it(tmp_path, written, message):
    key = written.partition(":")[0]
    custom = tmp_path / "custom.yaml"
    custom.write_text(re.sub(rf"(?m)^  {key}: .*$", f"  {written}", DEFAULTS.read_text()))

    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(custom, environ={})


def test_a_negative_grpc_connection_limit_from_a_flag_is_refused():
    with pytest.raises(SettingsError, match=re.escape("setting grpc.max_pings_without_data is -2")):
        load_settings(environ={}, overrides=["grpc.max_pings_without_data=-2"])


def numeric_settings(section: dict[str, object], prefix: str = "") -> list[str]:
    """The key of every setting whose default is a number (not a flag), however deeply nested."""
    keys: list[str] = []
    for name, value in section.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            keys += numeric_settings(value, f"{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            keys.append(key)
    return keys


def test_every_numeric_setting_has_bounds_that_its_default_keeps():
    defaults = load_settings(environ={})
    retried = {f"{section}.{name}" for section in RETRIES for name in ("base_s", "max_s", "attempts")}

    unbounded = set(numeric_settings(defaults())) - set(WHOLE_NUMBERS) - set(SECONDS) - retried - set(PROCESS_COUNTS)

    assert unbounded == set(), "give each numeric setting its bounds in entrypoints/settings.py"


@pytest.mark.parametrize("key", sorted(WHOLE_NUMBERS))
def test_a_whole_number_setting_takes_its_bounds_and_refuses_one_past_them(key):
    least, most = WHOLE_NUMBERS[key]

    assert load_settings(environ={}, overrides=[f"{key}={least}"]).get(key) == least
    assert load_settings(environ={}, overrides=[f"{key}={most}"]).get(key) == most
    for outside in (least - 1, most + 1):
        with pytest.raises(SettingsError, match=re.escape(f"setting {key} is {outside}; expected a whole number")):
            load_settings(environ={}, overrides=[f"{key}={outside}"])


@pytest.mark.parametrize("key", sorted(SECONDS))
def test_a_number_of_seconds_refuses_the_negative_the_endless_and_not_a_number(key):
    assert load_settings(environ={}, overrides=[f"{key}={MAX_SECONDS}"]).get(key) == MAX_SECONDS
    refused = ["-0.001", "inf", "nan", str(MAX_SECONDS + 1)] + ([] if SECONDS[key] else ["0"])
    for value in refused:
        with pytest.raises(SettingsError, match=re.escape(f"setting {key} is ")):
            load_settings(environ={}, overrides=[f"{key}={value}"])
    if SECONDS[key]:
        assert load_settings(environ={}, overrides=[f"{key}=0"]).get(key) == 0


@given(key=st.sampled_from(sorted(WHOLE_NUMBERS)), value=st.integers(min_value=-(2**70), max_value=2**70))
def test_any_whole_number_loads_within_its_bounds_or_is_refused_naming_the_setting(key, value):
    least, most = WHOLE_NUMBERS[key]
    if least <= value <= most:
        assert load_settings(environ={}, overrides=[f"{key}={value}"]).get(key) == value
    else:
        with pytest.raises(SettingsError, match=re.escape(f"setting {key} is {value}")):
            load_settings(environ={}, overrides=[f"{key}={value}"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("http.port=70000", "setting http.port is 70000; expected a whole number from 0 to 65535"),
        ("http.threads=0", "setting http.threads is 0; expected a whole number from 1 to 1024"),
        ("http.connection_limit=0", "setting http.connection_limit is 0"),
        ("http.header_timeout_s=-5", "setting http.header_timeout_s is -5.0; expected a number of seconds more than 0"),
    ],
)
def test_values_that_started_a_server_that_could_not_serve_are_refused(override, message):
    """Each started before: 70000 bound port 4464, no threads answered nothing, a limit of 0 accepted nothing."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(environ={}, overrides=[override])
