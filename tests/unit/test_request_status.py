import pytest

from domain.model.request import RequestStatus

ACCEPTED, PUBLISHED, FORWARDED, FAILED = RequestStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [(ACCEPTED, PUBLISHED), (ACCEPTED, FORWARDED), (PUBLISHED, FORWARDED), (PUBLISHED, FAILED), (FAILED, FORWARDED)],
)
def test_a_request_moves_forward(current, target):
    assert target.may_follow(current)


@pytest.mark.parametrize(
    ("current", "target"),
    [(FORWARDED, PUBLISHED), (FAILED, PUBLISHED), (FORWARDED, FAILED), (PUBLISHED, ACCEPTED), (PUBLISHED, PUBLISHED)],
)
def test_a_recorded_outcome_is_never_overwritten_by_an_earlier_stage(current, target):
    assert not target.may_follow(current)
