import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.model.errors import RequestNotFound
from domain.model.snowflake import DIGITS, is_snowflake
from domain.usecases.query import GetRequest


def no_store():
    raise AssertionError("the store must not be asked")


@given(st.text(max_size=40).filter(lambda text: not is_snowflake(text)))
def test_an_id_that_cannot_be_a_request_id_is_not_found_without_asking_the_store(request_id):
    with pytest.raises(RequestNotFound) as missing:
        GetRequest(no_store)(request_id)

    assert missing.value.malformed
    assert str(missing.value) == "no request has this id: a request id is 20 decimal digits"


@pytest.mark.parametrize("request_id", ["0" * DIGITS, "9" * DIGITS, "00000750110474519616"])
def test_twenty_ascii_digits_have_the_form_of_an_id(request_id):
    assert is_snowflake(request_id)


@pytest.mark.parametrize("request_id", ["0" * 19, "0" * 21, "\u0661" * DIGITS, "0" * 19 + "\x00", " " + "0" * 19])
def test_anything_else_does_not(request_id):
    assert not is_snowflake(request_id)
