import threading
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.clock import ManualClock
from adapters.system import SystemClock
from domain.model import snowflake
from domain.model.errors import ClockMovedBackwards
from domain.model.snowflake import SequenceShare, SnowflakeParts
from domain.services.snowflake import SnowflakeIdGenerator

TOLERANCE_MS = 50

parts = st.builds(
    SnowflakeParts,
    timestamp_ms=st.integers(0, snowflake.MAX_TIMESTAMP),
    node=st.integers(0, snowflake.MAX_NODE),
    sequence=st.integers(0, snowflake.MAX_SEQUENCE),
)


@given(parts)
def test_an_id_is_twenty_digits_and_decodes_to_its_parts(original):
    encoded = snowflake.encode(original)

    assert len(encoded) == 20
    assert encoded.isdigit()
    assert snowflake.decode(encoded) == original


def _order(p: SnowflakeParts) -> tuple[int, int, int]:
    return (p.timestamp_ms, p.node, p.sequence)


@given(parts, parts)
def test_ids_sort_as_text_in_the_order_of_their_parts(a, b):
    assert (snowflake.encode(a) < snowflake.encode(b)) == (_order(a) < _order(b))


@pytest.mark.parametrize("text", ["", "123", "1" * 21, "x" * 20, "9" * 20, "\uff11" * 20])
def test_decoding_rejects_what_is_not_a_snowflake(text):
    with pytest.raises(ValueError, match=r"snowflake|63 bits"):
        snowflake.decode(text)


@given(st.ip_addresses(v=4))
def test_the_node_is_the_low_sixteen_bits_of_any_ipv4_address(address):
    node = snowflake.node_from_ipv4(str(address))

    assert node == int(address) & 0xFFFF
    assert node == (address.packed[2] << 8) | address.packed[3]


@pytest.mark.parametrize("address", ["", "::1", "10.0.0", "256.1.1.1", "pod-ip"])
def test_a_node_address_must_be_ipv4(address):
    with pytest.raises(ValueError, match="not an IPv4 address"):
        snowflake.node_from_ipv4(address)


def test_the_node_of_a_pod_address_matches_the_original():
    assert snowflake.node_from_ipv4("10.1.2.3") == 2 * 256 + 3


moves = st.lists(
    st.one_of(
        st.tuples(st.just("ids"), st.integers(1, 150)),
        st.tuples(st.just("forward"), st.integers(0, 5_000)),
        st.tuples(st.just("back"), st.integers(1, TOLERANCE_MS)),
    ),
    max_size=30,
)


@given(moves, st.integers(0, snowflake.MAX_NODE))
def test_ids_strictly_increase_whatever_the_clock_does_within_tolerance(schedule, node):
    clock = ManualClock()
    generator = SnowflakeIdGenerator(clock, node=node, backwards_tolerance_ms=TOLERANCE_MS)
    issued: list[str] = []
    furthest = clock.now()
    for move, amount in schedule:
        if move == "ids":
            issued.extend(generator.next_id() for _ in range(amount))
        elif move == "forward":
            clock.advance(amount / 1000)
        else:
            clock.set(
                max(clock.now() - timedelta(milliseconds=amount), furthest - timedelta(milliseconds=TOLERANCE_MS))
            )
        furthest = max(furthest, clock.now())

    assert issued == sorted(issued)
    assert len(set(issued)) == len(issued)
    assert {snowflake.decode(i).node for i in issued} <= {node}


def test_an_id_carries_the_millisecond_it_was_issued_in():
    clock = ManualClock()
    generator = SnowflakeIdGenerator(clock, node=7)

    clock.advance(12.3456)

    decoded = snowflake.decode(generator.next_id())

    assert decoded.issued_at == clock.now() - timedelta(microseconds=clock.now().microsecond % 1000)
    assert (decoded.node, decoded.sequence) == (7, 0)


def test_a_stalled_clock_exhausts_the_sequence_then_waits_for_the_next_millisecond():
    clock = ManualClock()
    generator = SnowflakeIdGenerator(clock, node=1)
    start = snowflake.milliseconds_since_epoch(clock.now())

    ids = [snowflake.decode(generator.next_id()) for _ in range(snowflake.MAX_SEQUENCE + 2)]

    assert [p.sequence for p in ids[:64]] == list(range(64))
    assert {p.timestamp_ms for p in ids[:64]} == {start}
    assert (ids[64].timestamp_ms, ids[64].sequence) == (start + 1, 0)
    assert clock.slept, "the generator must wait through the clock, not spin on it"


def test_a_small_step_backwards_is_waited_out():
    clock = ManualClock()
    generator = SnowflakeIdGenerator(clock, node=1, backwards_tolerance_ms=TOLERANCE_MS)
    before = generator.next_id()
    clock.advance(-0.030)

    after = generator.next_id()

    assert after > before
    assert sum(clock.slept) >= 0.030


def test_a_large_step_backwards_fails_clearly_and_issues_nothing():
    clock = ManualClock()
    generator = SnowflakeIdGenerator(clock, node=1, backwards_tolerance_ms=TOLERANCE_MS)
    before = generator.next_id()
    clock.set(clock.now() - timedelta(seconds=5))

    with pytest.raises(ClockMovedBackwards, match="5000 ms"):
        generator.next_id()

    clock.set(clock.now() + timedelta(seconds=5))
    assert generator.next_id() > before


def test_ids_are_unique_and_ordered_per_thread_across_many_threads():
    generator = SnowflakeIdGenerator(SystemClock(), node=42)
    per_thread: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(per_thread))

    def issue(bucket: list[str]) -> None:
        start.wait()
        bucket.extend(generator.next_id() for _ in range(2_000))

    threads = [threading.Thread(target=issue, args=(bucket,)) for bucket in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every_id = [i for bucket in per_thread for i in bucket]
    assert len(set(every_id)) == len(every_id) == 16_000
    assert all(bucket == sorted(bucket) for bucket in per_thread)


def test_a_node_outside_sixteen_bits_is_refused():
    with pytest.raises(ValueError, match="node"):
        SnowflakeIdGenerator(ManualClock(), node=1 << 16)


@given(
    st.integers(1, snowflake.MAX_SEQUENCE + 1).flatmap(
        lambda of: st.tuples(st.just(of), st.lists(st.tuples(st.integers(0, of - 1), st.integers(1, 100)), max_size=20))
    ),
    st.integers(0, snowflake.MAX_NODE),
)
def test_processes_sharing_a_node_never_issue_the_same_id(schedule, node):
    of, turns = schedule
    clock = ManualClock()
    generators = [SnowflakeIdGenerator(clock, node=node, share=SequenceShare(index, of)) for index in range(of)]
    issued: list[list[str]] = [[] for _ in generators]
    for index, count in turns:
        issued[index].extend(generators[index].next_id() for _ in range(count))

    every_id = [i for ids in issued for i in ids]
    assert len(set(every_id)) == len(every_id)
    for index, ids in enumerate(issued):
        assert ids == sorted(ids)
        assert {snowflake.decode(i).sequence % of for i in ids} <= {index}


def test_a_share_issues_its_part_of_a_millisecond_then_waits_for_the_next():
    clock = ManualClock()
    generator = SnowflakeIdGenerator(clock, node=1, share=SequenceShare(index=1, of=3))
    start = snowflake.milliseconds_since_epoch(clock.now())

    ids = [snowflake.decode(generator.next_id()) for _ in range(22)]

    assert [p.sequence for p in ids[:21]] == list(range(1, 64, 3))
    assert {p.timestamp_ms for p in ids[:21]} == {start}
    assert (ids[21].timestamp_ms, ids[21].sequence) == (start + 1, 1)


@pytest.mark.parametrize(
    ("index", "of", "message"),
    [(0, 0, "0 processes cannot share"), (0, 65, "at most 64"), (2, 2, "outside 0..1"), (-1, 4, "outside 0..3")],
)
def test_a_share_beyond_the_sequence_space_is_refused(index, of, message):
    with pytest.raises(ValueError, match=message):
        SequenceShare(index, of)
