"""The Postgres password read from its own secret replaces the DSN's, whatever characters it holds."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg2.extensions import parse_dsn

from entrypoints.components import Storage
from entrypoints.connections import postgres_dsn
from entrypoints.settings import SettingsError, load_settings


def test_without_a_password_the_dsn_is_used_as_given():
    assert postgres_dsn("postgresql://app@db:5432/cruncan", None) == "postgresql://app@db:5432/cruncan"


@given(password=st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1))
def test_a_password_replaces_the_one_in_the_dsn(password):
    dsn = postgres_dsn("postgresql://app:old@db:5432/cruncan", password)

    assert parse_dsn(dsn) == {"user": "app", "password": password, "host": "db", "port": "5432", "dbname": "cruncan"}


def test_a_password_that_is_not_text_is_a_configuration_error():
    # An environment variable holding bytes that are not UTF-8 reaches Python as lone surrogates.
    with pytest.raises(SettingsError, match=r"storage\.postgres\.password is not valid UTF-8 text"):
        postgres_dsn("postgresql://app@db/cruncan", "pass\udcffword")


def test_a_malformed_dsn_with_a_password_is_a_configuration_error():
    with pytest.raises(SettingsError, match=r"storage\.postgres\.dsn is not a valid connection string"):
        postgres_dsn("host=db port", "secret")


def test_the_storage_connects_with_the_password_from_its_file(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n")
    settings = load_settings(
        environ={
            "CRUNCAN_STORAGE__POSTGRES__DSN": "postgresql://cruncan_app@db/cruncan",
            "CRUNCAN_STORAGE__POSTGRES__PASSWORD_FILE": str(secret),
        }
    )

    storage = Storage(config=settings.storage())

    assert parse_dsn(storage.dsn())["password"] == "from-the-file"
