"""Configuration: the shipped YAML file, overridden by environment variables, overridden by flags.

Strict throughout: an unknown key, a value of the wrong type, a malformed file or a
missing required value stops start-up with a message naming the key. Each secret setting can
also be read from a file (`<key>_file`, as Kubernetes and Compose mount secrets).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from dependency_injector import errors, providers

from adapters.system import usable_cpus
from domain.model.snowflake import MAX_SEQUENCE

DEFAULTS = Path(__file__).with_name("settings.yaml")
ENV_PREFIX = "CRUNCAN_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SECRETS = (
    "token.client_secret",
    "storage.postgres.dsn",
    "storage.postgres.password",
    "messaging.kafka.sasl_password",
    "messaging.kafka.ssl_key_password",
)
"""Settings that are credentials: each has a `<key>_file` twin naming a file to read it from."""
FILE_SUFFIX = "_file"
PROPERTY_MAPS = ("messaging.kafka.extra",)
"""Settings that map free-form names to values: a JSON object replaces the map, `<map>.<name>=v` sets one entry."""
RENAMED = {"CRUNCAN_TOKEN_CLIENT_SECRET": "CRUNCAN_TOKEN__CLIENT_SECRET"}
CHOICES = {
    "storage.backend": ("memory", "postgres"),
    "messaging.backend": ("memory", "kafka"),
    "logging.format": ("auto", "console", "json"),
    "jobs.lock.backend": ("memory", "redis"),
}
PROCESS_COUNTS = ("http.processes",)
"""Settings that take a number of processes, or `auto` for one per usable CPU."""
AUTO = "auto"
MAX_PROCESSES = MAX_SEQUENCE + 1
"""Processes on one host share its Snowflake node, and split each millisecond's sequence numbers."""
C_INT_MAX = 2**31 - 1
PORT = (0, 65_535)  # 0: any free port
WHOLE_NUMBERS: dict[str, tuple[int, int]] = {
    "http.port": PORT,
    "http.threads": (1, 1024),
    "http.max_body_bytes": (1, C_INT_MAX),
    "http.max_header_bytes": (1, C_INT_MAX),
    "http.connection_limit": (1, 1_000_000),
    "grpc.port": PORT,
    "grpc.threads": (1, 1024),
    "grpc.max_message_bytes": (1, C_INT_MAX),
    "grpc.keepalive_time_ms": (1, C_INT_MAX),
    "grpc.keepalive_timeout_ms": (1, C_INT_MAX),
    "grpc.max_pings_without_data": (0, C_INT_MAX),
    "grpc.min_ping_interval_without_data_ms": (0, C_INT_MAX),
    "grpc.max_ping_strikes": (0, C_INT_MAX),
    "grpc.max_connection_idle_ms": (0, C_INT_MAX),
    "grpc.max_connection_age_ms": (0, C_INT_MAX),
    "grpc.max_connection_age_grace_ms": (0, C_INT_MAX),
    "idempotency.window_s": (1, C_INT_MAX),
    "ids.backwards_tolerance_ms": (0, 3_600_000),
    "storage.postgres.pool_size": (1, 10_000),
    "storage.postgres.connect_timeout_s": (1, 3_600),
    "storage.postgres.stale_timeout_s": (1, C_INT_MAX),
    "storage.postgres.statement_timeout_ms": (0, C_INT_MAX),  # 0: no limit, as in Postgres
    "messaging.kafka.partitions": (1, 1_000_000),
    "messaging.kafka.replication_factor": (1, 32_767),
    "messaging.kafka.linger_ms": (0, 900_000),  # librdkafka's ranges, here and below
    "messaging.kafka.consumer_fetch_wait_max_ms": (0, 300_000),
    "messaging.kafka.delivery_timeout_ms": (0, C_INT_MAX),
    "messaging.kafka.request_timeout_ms": (1, 900_000),
    "relay.batch_size": (1, 100_000),
    "worker.concurrency": (1, 1024),
    "worker.session_timeout_ms": (1, 3_600_000),
    "worker.health.port": PORT,
    "third_party.pool_size": (1, 1024),
    "redrive.batch_size": (1, 100_000),
    "redrive.hold_after_claim_lock": (0, 2**63 - 1),
    "cleanup.batch_size": (1, 1_000_000),
    "demo.stand_in_port": PORT,
}
"""Settings that take a whole number, with the least and the most each takes (gRPC's options are C ints)."""
MAX_SECONDS = 366 * 86_400
SECONDS: dict[str, bool] = {
    "http.header_timeout_s": False,
    "http.body_timeout_s": False,
    "http.shutdown_timeout_s": True,
    "grpc.shutdown_timeout_s": True,
    "auth.leeway_s": True,
    "auth.jwks_lifespan_s": False,
    "auth.jwks_cooldown_s": True,
    "auth.jwks_timeout_s": False,
    "messaging.kafka.close_timeout_s": True,
    "relay.poll_interval_s": False,
    "relay.drain_s": True,
    "relay.shutdown_timeout_s": True,
    "worker.commit_interval_s": True,  # 0: commit after every pass
    "worker.lag_refresh_s": False,
    "worker.shutdown_timeout_s": True,
    "worker.health.liveness_threshold_s": False,
    "token.expiry_skew_s": True,
    "token.timeout_s": False,
    "third_party.connect_timeout_s": False,
    "third_party.read_timeout_s": False,
    "jobs.lock.ttl_s": False,
}
"""Settings that take a number of seconds up to `MAX_SECONDS`, and whether each may be 0 (a wait,
a deadline or a margin that can be none); the others must be more than 0."""
# Each dependency is retried in one place, by a `retry: {base_s, max_s, attempts}` section; the
# fewest and most attempts (0: until it succeeds; None: no most) each section allows.
RETRIES: dict[str, tuple[int, int | None]] = {
    "token.retry": (1, None),
    "third_party.retry": (1, None),
    "worker.retry": (0, None),
    "relay.retry": (0, 0),
}


class SettingsError(Exception):
    """The configuration cannot be used; the message names the key and where it came from."""


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
) -> providers.Configuration:
    """Builds the configuration: `config_file` (default: the shipped one), then
    `CRUNCAN_*` variables of `environ`, then `key=value` strings from flags."""
    config = providers.Configuration(strict=True)
    path = config_file or DEFAULTS
    try:
        config.from_yaml(path, required=True, envs_required=False)
    except FileNotFoundError:
        raise SettingsError(f"configuration file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"configuration file {path} is not valid YAML: {exc}") from None
    except (TypeError, AttributeError, ValueError):
        raise SettingsError(f"configuration file {path} holds no settings: expected a mapping of sections") from None
    if not config():
        raise SettingsError(f"configuration file {path} holds no settings")
    _refuse_renamed(environ or {})
    given: dict[str, str] = {}
    for key, raw, source in _environment_overrides(environ or {}):
        given[_apply(config, key, raw, source)] = source
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SettingsError(f"--set {item!r}: expected key=value, for example storage.backend=postgres")
        given[_apply(config, key.strip(), raw, f"--set {key.strip()}")] = f"--set {key.strip()}"
    _read_secret_files(config, given)
    _check_values(config)
    return config


def _check_values(config: providers.Configuration) -> None:
    """Refuses, naming the key, the first value outside what its setting takes; reads `auto` process counts."""
    for key, allowed in CHOICES.items():
        value = setting(config, key)
        if value not in allowed:
            raise SettingsError(f"setting {key} is {value!r}; expected one of {', '.join(allowed)}")
    for key, attempts in RETRIES.items():
        _check_retry(key, setting(config, key), attempts)
    for key in PROCESS_COUNTS:
        config.set(key, process_count(key, setting(config, key), usable_cpus))
    for key, bounds in WHOLE_NUMBERS.items():
        _check_whole_number(key, setting(config, key), bounds)
    for key, zero_allowed in SECONDS.items():
        _check_seconds(key, setting(config, key), zero_allowed)


def process_count(key: str, value: object, cpus: Callable[[], int]) -> int:
    """The number of processes `value` asks for: a whole number from 1 to `MAX_PROCESSES`, or `auto`
    for `cpus()` (at most `MAX_PROCESSES`); anything else is a `SettingsError` naming `key`."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.lower() == AUTO:
        return max(1, min(cpus(), MAX_PROCESSES))
    if text is not None and text.isascii() and text.isdigit():
        count: object = int(text)
    else:
        count = value
    if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= MAX_PROCESSES:
        return count
    raise SettingsError(
        f"setting {key} is {value!r}; expected a whole number from 1 to {MAX_PROCESSES}, or {AUTO} (one per usable CPU)"
    )


def _check_whole_number(key: str, value: object, bounds: tuple[int, int]) -> None:
    least, most = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise SettingsError(f"setting {key} is {value!r}; expected a whole number from {least} to {most}")


def _check_seconds(key: str, value: object, zero_allowed: bool) -> None:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if zero_allowed else value > 0)
        and value <= MAX_SECONDS
    ):
        return
    least = "from 0" if zero_allowed else "more than 0"
    raise SettingsError(
        f"setting {key} is {value!r}; expected a number of seconds {least} up to {MAX_SECONDS} (366 days)"
    )


def _check_retry(key: str, section: object, attempts: tuple[int, int | None]) -> None:
    if not isinstance(section, dict) or set(section) != {"base_s", "max_s", "attempts"}:
        raise SettingsError(f"setting {key} must hold exactly base_s, max_s and attempts")
    base_s, max_s, count = section["base_s"], section["max_s"], section["attempts"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (base_s, max_s)):
        raise SettingsError(f"settings {key}.base_s and {key}.max_s must be numbers of seconds")
    if not 0 <= base_s <= max_s:
        raise SettingsError(f"settings {key} need 0 <= base_s <= max_s, got {base_s} and {max_s}")
    fewest, most = attempts
    if not isinstance(count, int) or isinstance(count, bool) or count < fewest or (most is not None and count > most):
        expected = (
            f"{fewest}" if most == fewest else f"{fewest} to {most}" if most is not None else f"at least {fewest}"
        )
        raise SettingsError(f"setting {key}.attempts is {count!r}; expected {expected}")


def setting(config: providers.Configuration, key: str) -> Any:
    try:
        return config.get(key)
    except errors.Error:
        raise SettingsError(f"unknown setting {key}") from None


def require(config: providers.Configuration, keys: Iterable[str]) -> None:
    """Fails naming the first of `keys` that has no value, and how to give it one."""
    for key in keys:
        if setting(config, key) in (None, ""):
            raise SettingsError(f"setting {key} is required: set {env_name(key)} or pass --set {key}=...")


def env_name(key: str) -> str:
    section, _, rest = key.partition(".")
    return ENV_PREFIX + "__".join([section, *rest.split(".")] if rest else [section]).upper()


def secret_values(config: providers.Configuration) -> list[str]:
    """The values of every secret setting that has one, and the password inside the DSN: for redaction."""
    values = [str(value) for key in SECRETS if (value := _optional(config, key))]
    dsn = str(_optional(config, "storage.postgres.dsn") or "")
    with contextlib.suppress(ValueError):
        values.extend(password for password in [urlsplit(dsn).password] if password)
    return values


def _optional(config: providers.Configuration, key: str) -> Any:
    try:
        return config.get(key)
    except errors.Error:
        return None


def _refuse_renamed(environ: Mapping[str, str]) -> None:
    for old, new in RENAMED.items():
        if old in environ:
            raise SettingsError(f"{old} is no longer read: set {new} (or {new}{FILE_SUFFIX.upper()}) instead")


def _read_secret_files(config: providers.Configuration, given: Mapping[str, str]) -> None:
    """Replaces each secret whose `<key>_file` is set by that file's text, less its trailing newline."""
    for key in SECRETS:
        file_key = key + FILE_SUFFIX
        path = _optional(config, file_key)
        if not path:
            continue
        if key in given:
            raise SettingsError(f"{given[key]} and {file_key} both set {key}: give one of them")
        config.set(key, _read_secret(Path(str(path)), file_key))


def _read_secret(path: Path, file_key: str) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SettingsError(f"setting {file_key}: secret file {path} does not exist") from None
    except IsADirectoryError:
        raise SettingsError(f"setting {file_key}: {path} is a directory, not a secret file") from None
    except UnicodeDecodeError:
        raise SettingsError(f"setting {file_key}: secret file {path} is not UTF-8 text") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError(f"setting {file_key}: cannot read secret file {path}: {reason}") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise SettingsError(f"setting {file_key}: secret file {path} is empty")
    return secret


def _environment_overrides(environ: Mapping[str, str]) -> Iterable[tuple[str, str, str]]:
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and "__" in name:
            key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            yield key, environ[name], name


def _apply(config: providers.Configuration, key: str, raw: str, source: str) -> str:
    """Sets `key` from `raw`, typed like its default; returns the key."""
    for mapping in PROPERTY_MAPS:
        if key == mapping:
            config.set(key, _property_map(raw, key, source))
            return key
        if key.startswith(mapping + ".") and len(key) > len(mapping) + 1:
            entries = dict(setting(config, mapping) or {})
            entries[key[len(mapping) + 1 :]] = raw.strip()
            config.set(mapping, entries)
            return mapping
    if not all(part.isidentifier() for part in key.split(".")):
        raise SettingsError(f"{source}: {key!r} is not a setting name (words joined by dots)")
    try:
        current = config.get(key)
    except (errors.Error, AttributeError, TypeError):
        raise SettingsError(f"{source}: unknown setting {key}") from None
    if isinstance(current, dict):
        raise SettingsError(f"{source}: {key} is a section, not a setting")
    if key in PROCESS_COUNTS:
        config.set(key, raw)  # a number or `auto`, read with the rest once every source is applied
        return key
    config.set(key, _coerce(raw, current, key, source))
    return key


def _property_map(raw: str, key: str, source: str) -> dict[str, object]:
    try:
        entries = json.loads(raw) if raw.strip() else {}
    except ValueError:
        entries = None
    if not isinstance(entries, dict):
        raise SettingsError(f"{source}: setting {key} expects a JSON object of names and values, got {raw!r}")
    return entries


def _coerce(raw: str, current: object, key: str, source: str) -> object:
    text = raw.strip()
    try:
        if isinstance(current, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        kind = type(current).__name__
        raise SettingsError(f"{source}: setting {key} expects {kind}, got {raw!r}") from None
    return text or None
