from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from adapters.http.semantics import retry_after_seconds

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("header", "seconds"), [("0", 0.0), ("120", 120.0), (" 5 ", 5.0)])
def test_delay_seconds(header, seconds):
    assert retry_after_seconds(header, NOW) == seconds


def test_an_http_date_is_the_time_left_until_it():
    header = format_datetime(NOW + timedelta(minutes=2), usegmt=True)

    assert retry_after_seconds(header, NOW) == 120.0


def test_an_http_date_in_the_past_means_now():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "²", "Wed, 99 Foo 2015"])
def test_an_absent_or_unreadable_header_gives_no_delay(header):
    assert retry_after_seconds(header, NOW) is None
