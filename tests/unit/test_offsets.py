import pytest
from hypothesis import given
from hypothesis import strategies as st

from ports.messages import Origin, TopicPartition
from runtime.offsets import OffsetTracker

TP = TopicPartition("one-request", 0)


def at(offset, partition=0):
    return Origin("one-request", partition, offset)


offsets = st.tuples(st.integers(0, 1_000), st.lists(st.integers(1, 3), min_size=1, max_size=40)).map(
    lambda start_and_gaps: _offsets(*start_and_gaps)
)


def _offsets(start, gaps):
    result = [start]
    for gap in gaps:
        result.append(result[-1] + gap)
    return result


@given(offsets, st.data())
def test_the_position_never_passes_an_unfinished_offset_and_reaches_the_end(consumed, data):
    tracker = OffsetTracker()
    started, unfinished, committed = 0, set(), consumed[0]

    while started < len(consumed) or unfinished:
        if started < len(consumed) and (not unfinished or data.draw(st.booleans())):
            tracker.start(at(consumed[started]))
            unfinished.add(consumed[started])
            started += 1
        else:
            done = data.draw(st.sampled_from(sorted(unfinished)))
            assert tracker.finish(at(done))
            unfinished.remove(done)

        position = tracker.committable().get(TP, committed)
        assert all(offset >= position for offset in unfinished)
        expected = min(unfinished) if unfinished else consumed[started - 1] + 1
        assert position == expected
        if data.draw(st.booleans()):
            tracker.committed(tracker.committable())
            committed = position
            assert TP not in tracker.committable()

    assert tracker.committable().get(TP, committed) == consumed[-1] + 1
    assert tracker.in_flight() == 0


def test_partitions_advance_independently():
    tracker = OffsetTracker()
    for offset in range(3):
        tracker.start(at(offset, partition=0))
        tracker.start(at(offset, partition=1))

    tracker.finish(at(0, partition=0))
    tracker.finish(at(2, partition=1))

    assert tracker.committable() == {TopicPartition("one-request", 0): 1}
    assert tracker.in_flight() == 4


def test_revoking_returns_what_is_finished_and_forgets_the_rest():
    tracker = OffsetTracker()
    for offset in range(10, 15):
        tracker.start(at(offset))
    tracker.finish(at(10))
    tracker.finish(at(11))
    tracker.finish(at(13))

    assert tracker.revoke([TP, TopicPartition("other", 0)]) == {TP: 12}
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0
    assert not tracker.finish(at(12))
    tracker.start(at(12))
    assert tracker.in_flight() == 1


def test_revoking_a_partition_with_nothing_new_returns_nothing():
    tracker = OffsetTracker()
    tracker.start(at(5))
    tracker.finish(at(5))
    tracker.committed(tracker.committable())

    assert tracker.revoke([TP]) == {}


def test_a_partition_that_only_started_has_nothing_to_commit():
    tracker = OffsetTracker()
    tracker.start(at(100))

    assert tracker.committable() == {}


def test_offsets_must_be_started_in_increasing_order():
    tracker = OffsetTracker()
    tracker.start(at(7))

    with pytest.raises(ValueError, match="increasing order"):
        tracker.start(at(7))


def test_finishing_what_was_never_started_is_ignored():
    tracker = OffsetTracker()
    tracker.start(at(0))

    assert not tracker.finish(at(1))
    assert not tracker.finish(at(0, partition=2))
    assert tracker.committable() == {}
