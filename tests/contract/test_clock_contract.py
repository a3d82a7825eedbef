"""The Clock and IdGenerator ports on each implementation: the system clock production uses,
and the manual clock the unit tests and property tests move by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.clock import ManualClock
from adapters.system import SystemClock
from domain.model import snowflake
from domain.services.snowflake import SnowflakeIdGenerator
from ports.clock import Clock


@pytest.fixture(params=["system", "manual"])
def clock(request: pytest.FixtureRequest) -> Clock:
    return SystemClock() if request.param == "system" else ManualClock()


def test_now_is_timezone_aware_utc(clock: Clock) -> None:
    now = clock.now()

    assert now.utcoffset() == timedelta(0)


def test_sleeping_moves_now_forward_by_at_least_the_time_slept(clock: Clock) -> None:
    before = clock.now()

    clock.sleep(0.01)

    assert (clock.now() - before).total_seconds() >= 0.01


def test_sleeping_for_no_time_or_less_is_harmless(clock: Clock) -> None:
    before = clock.now()

    clock.sleep(0)
    clock.sleep(-1)

    assert clock.now() >= before


def test_ids_on_any_clock_are_unique_increasing_and_carry_the_node(clock: Clock) -> None:
    generator = SnowflakeIdGenerator(clock, node=513)

    ids = [generator.next_id() for _ in range(500)]

    assert ids == sorted(set(ids))
    assert {snowflake.decode(i).node for i in ids} == {513}
    assert abs(snowflake.decode(ids[-1]).issued_at - clock.now()).total_seconds() < 1
