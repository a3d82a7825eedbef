from datetime import UTC, datetime, timedelta

from domain.model.token import AccessToken

SECRET_VALUE = "eyJhbGciOiJub25lIn0.c2VjcmV0"
EXPIRY = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_token_never_shows_its_value():
    token = AccessToken(SECRET_VALUE, "Bearer", EXPIRY)

    for shown in (repr(token), str(token), f"{token}", f"{token!r}", repr([token]), str(ValueError(token))):
        assert SECRET_VALUE not in shown
        assert "Bearer" in shown


def test_a_token_is_expired_from_its_expiry_on():
    token = AccessToken(SECRET_VALUE, "Bearer", EXPIRY)

    assert not token.expired(EXPIRY - timedelta(microseconds=1))
    assert token.expired(EXPIRY)
    assert token.expired(EXPIRY + timedelta(seconds=1))
