"""The consume loop on the in-memory source: bounded concurrency, contiguous commits, rebalances,
dead letters and a graceful stop."""

import threading
import time
from collections import Counter

import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.consumer import InMemoryMessageSource
from adapters.memory.dead_letters import InMemoryDeadLetters
from adapters.memory.group import InMemoryConsumerGroup
from domain.model.errors import OutcomeNotRecorded, StoreUnavailable
from domain.model.outcomes import DeadLetter, DeadLetterCause, Forwarded
from domain.model.retry import RetryPolicy
from ports.messages import ConsumedMessage, Origin, TopicPartition
from runtime.consume import ConsumeLoop
from runtime.dead_letters import dead_letter_message

TOPIC = "one-request"
DLQ = "one-request-dlq"
P0 = TopicPartition(TOPIC, 0)
WAIT_S = 10.0


def eventually(condition, what, timeout_s=WAIT_S):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        time.sleep(0.005)


class Handler:
    """Forwards every message unless told otherwise; can hold chosen offsets until released."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started: Counter[Origin] = Counter()
        self.finished: Counter[Origin] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self.gates: dict[int, threading.Event] = {}
        self.failures: dict[int, int] = {}
        self.unrecorded: set[int] = set()
        self.dead: set[int] = set()

    def hold(self, *offsets):
        for offset in offsets:
            self.gates[offset] = threading.Event()

    def release(self, *offsets):
        for offset in offsets or list(self.gates):
            self.gates[offset].set()

    def __call__(self, message: ConsumedMessage):
        origin = message.origin
        with self.lock:
            self.started[origin] += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            gate = self.gates.get(origin.offset)
            if gate is not None:
                gate.wait()
            with self.lock:
                if self.failures.get(origin.offset, 0) > 0:
                    self.failures[origin.offset] -= 1
                    raise StoreUnavailable("the store is down")
            request_id = message.key.decode()
            outcome: Forwarded | DeadLetter = Forwarded(request_id, attempts=1)
            if origin.offset in self.dead:
                outcome = DeadLetter(request_id, DeadLetterCause.REJECTED, "the third party answered 400", 1)
            if origin.offset in self.unrecorded:
                raise OutcomeNotRecorded(outcome, StoreUnavailable("the store is down"))
            return outcome
        finally:
            with self.lock:
                self.in_flight -= 1
                self.finished[origin] += 1

    def starts(self, offset, partition=0):
        with self.lock:
            return self.started[Origin(TOPIC, partition, offset)]

    def finishes(self, offset, partition=0):
        with self.lock:
            return self.finished[Origin(TOPIC, partition, offset)]


class Consumer:
    """A `ConsumeLoop` running on its own thread over an in-memory broker."""

    def __init__(self, handler, *, concurrency=4, partitions=1, drain_timeout_s=WAIT_S, commit_interval_s=0.0):
        self.handler = handler
        self.broker = InMemoryBroker(partitions=partitions)
        self.offsets = InMemoryConsumerGroup()
        self.source = InMemoryMessageSource(self.broker, TOPIC, self.offsets)
        self.dead_letters = InMemoryDeadLetters(self.broker, DLQ)
        self.record_failures = 0
        self.recorded: list[Forwarded | DeadLetter] = []
        self.loop = ConsumeLoop(
            self.source,
            handler,
            self.dead_letters,
            record=self.record,
            concurrency=concurrency,
            drain_timeout_s=drain_timeout_s,
            commit_interval_s=commit_interval_s,
            poll_timeout_s=0.02,
            retry=RetryPolicy(base_s=0.005, max_s=0.02),
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop,), daemon=True)

    def record(self, outcome):
        if self.record_failures > 0:
            self.record_failures -= 1
            raise StoreUnavailable("the store is still down")
        self.recorded.append(outcome)

    def publish(self, count, key_prefix="req"):
        for n in range(count):
            self.broker.append(TOPIC, f"{key_prefix}-{n:03d}", f"value {n}".encode(), {"traceparent": f"tp-{n}"})

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "the loop did not return after stop"

    def committed(self, partition=P0):
        return self.offsets.get(partition)

    def end(self, partition=0):
        return len(self.broker.read(TOPIC, partition, 0, limit=1_000_000))

    def after_polls(self, count):
        """Waits until the loop has polled `count` more times: it went round with the state as it is."""
        target = self.source.polls + count
        eventually(lambda: self.source.polls >= target, f"{count} more polls")


@pytest.fixture
def handler():
    handler = Handler()
    yield handler
    handler.release()


def test_every_message_is_handled_once_and_every_partition_committed_to_its_end(handler):
    consumer = Consumer(handler, partitions=3)
    consumer.publish(60)
    consumer.start()

    partitions = [TopicPartition(TOPIC, p) for p in range(3)]
    eventually(lambda: all(consumer.committed(tp) == consumer.end(tp.partition) for tp in partitions), "all committed")
    consumer.finish()

    assert sum(handler.started.values()) == 60
    assert set(handler.started.values()) == {1}
    assert consumer.source.closed


def test_never_more_than_concurrency_messages_are_in_flight(handler):
    consumer = Consumer(handler, concurrency=3)
    handler.hold(*range(10))
    consumer.publish(10)
    consumer.start()

    eventually(lambda: handler.in_flight == 3, "three messages in flight")
    idle_before = consumer.source.idle_polls
    eventually(lambda: consumer.source.idle_polls >= idle_before + 3, "polls for nothing while full")
    assert sum(handler.started.values()) == 3
    assert consumer.loop.in_flight == 3

    handler.release()
    eventually(lambda: consumer.committed() == 10, "everything committed")
    consumer.finish()
    assert handler.most_in_flight == 3


def test_commits_advance_only_over_contiguous_finished_offsets(handler):
    consumer = Consumer(handler, concurrency=4)
    handler.hold(0)
    consumer.publish(6)
    consumer.start()

    eventually(lambda: all(handler.finishes(n) == 1 for n in range(1, 6)), "offsets 1 to 5 finished")
    consumer.after_polls(3)
    assert consumer.offsets.commits == []

    handler.release(0)
    eventually(lambda: consumer.committed() == 6, "committed past offset 0 once it finished")
    consumer.finish()


def test_a_revoked_partition_commits_what_finished_and_drops_what_is_in_flight(handler):
    consumer = Consumer(handler, concurrency=4)
    handler.hold(2)
    consumer.publish(5)
    consumer.start()
    eventually(lambda: handler.starts(2) == 1 and all(handler.finishes(n) for n in (0, 1, 3, 4)), "all but 2 done")

    consumer.source.revoke([P0])
    eventually(lambda: consumer.source.assignment == [], "the partition revoked")
    assert consumer.committed() == 2

    handler.release(2)
    eventually(lambda: handler.finishes(2) == 1 and consumer.loop.in_flight == 0, "the dropped message finished")
    consumer.after_polls(3)
    assert consumer.committed() == 2

    consumer.source.assign([P0])
    eventually(lambda: consumer.committed() == 5, "the new assignment committed")
    consumer.finish()
    assert [handler.starts(n) for n in range(5)] == [1, 1, 2, 2, 2]


def test_a_lost_partition_commits_nothing_and_is_read_again_from_its_committed_position(handler):
    consumer = Consumer(handler, concurrency=4, commit_interval_s=3600)
    handler.hold(1)
    consumer.publish(3)
    consumer.start()
    eventually(lambda: handler.finishes(0) == 1 and handler.finishes(2) == 1, "offsets 0 and 2 done")

    consumer.source.lose([P0])
    eventually(lambda: consumer.source.assignment == [], "the partition lost")
    handler.release(1)
    consumer.source.assign([P0])
    eventually(lambda: handler.starts(2) == 2, "the partition read again from the start")
    consumer.finish()

    assert consumer.offsets.commits == [{P0: 3}]
    assert [handler.starts(n) for n in range(3)] == [2, 2, 2]


def test_a_dead_letter_keeps_the_message_and_says_why_where_from_and_after_how_many_attempts(handler):
    consumer = Consumer(handler)
    handler.dead.add(1)
    consumer.publish(3)
    consumer.start()

    eventually(lambda: consumer.committed() == 3, "all committed")
    consumer.finish()

    [letter] = consumer.broker.records(DLQ)
    assert (letter.key, letter.value) == ("req-001", b"value 1")
    assert letter.headers == {
        "traceparent": "tp-1",
        "cruncan.dlq.reason": "the third party answered 400",
        "cruncan.dlq.cause": "rejected",
        "cruncan.dlq.topic": TOPIC,
        "cruncan.dlq.partition": "0",
        "cruncan.dlq.offset": "1",
        "cruncan.dlq.attempts": "1",
    }


def test_a_dead_letter_not_acknowledged_keeps_its_offset_uncommitted_until_it_is(handler):
    consumer = Consumer(handler)
    handler.dead.add(0)
    consumer.dead_letters.refuse_next(1_000_000)
    consumer.publish(3)
    consumer.start()

    eventually(lambda: consumer.dead_letters.refused >= 3 and handler.finishes(2) == 1, "refused, others done")
    consumer.after_polls(3)
    assert consumer.offsets.commits == []
    assert consumer.loop.in_flight == 1

    consumer.dead_letters.accept()
    eventually(lambda: consumer.committed() == 3, "committed once the dead letter was kept")
    consumer.finish()
    assert len(consumer.broker.records(DLQ)) == 1
    assert handler.starts(0) == 1, "only the dead letter is sent again, not the message forwarded again"


def test_a_message_whose_outcome_cannot_be_recorded_is_handled_again_in_place_never_skipped(handler):
    consumer = Consumer(handler)
    handler.failures[0] = 3
    consumer.publish(2)
    consumer.start()

    eventually(lambda: consumer.committed() == 2, "committed once the outcome was recorded")
    consumer.finish()
    assert handler.starts(0) == 4
    assert consumer.offsets.commits[0] in ({P0: 2}, {P0: 1})


@pytest.mark.parametrize("dead", [False, True])
def test_an_outcome_not_recorded_is_recorded_again_without_handling_the_message_again(handler, dead):
    consumer = Consumer(handler)
    handler.unrecorded.add(0)
    if dead:
        handler.dead.add(0)
    consumer.record_failures = 3
    consumer.publish(2)
    consumer.start()

    eventually(lambda: consumer.committed() == 2, "committed once the outcome was recorded")
    consumer.finish()
    assert handler.starts(0) == 1, "the third party is not called again for a recording failure"
    assert [outcome.request_id for outcome in consumer.recorded] == ["req-000"]
    assert len(consumer.broker.records(DLQ)) == (1 if dead else 0)


def test_a_message_retrying_on_a_revoked_partition_gives_up_its_slot(handler):
    consumer = Consumer(handler, concurrency=1)
    handler.failures[0] = 1_000_000
    consumer.publish(1)
    consumer.start()
    eventually(lambda: handler.starts(0) >= 2, "retrying")

    consumer.source.revoke([P0])
    eventually(lambda: consumer.loop.in_flight == 0, "the slot given up")
    consumer.finish()
    assert consumer.offsets.commits == []


def test_a_failed_commit_is_tried_again(handler):
    consumer = Consumer(handler)
    consumer.source.fail_commits(2)
    consumer.publish(4)
    consumer.start()

    eventually(lambda: consumer.committed() == 4, "committed after two refusals")
    consumer.finish()


def test_stop_waits_for_messages_in_flight_then_commits_and_leaves_the_group(handler):
    consumer = Consumer(handler, concurrency=2)
    handler.hold(1)
    consumer.publish(2)
    consumer.start()
    eventually(lambda: handler.starts(1) == 1 and handler.finishes(0) == 1, "offset 1 in flight")

    consumer.stop.set()
    idle_before = consumer.source.idle_polls
    eventually(lambda: consumer.source.idle_polls > idle_before, "draining")
    consumer.publish(1, key_prefix="late")
    consumer.after_polls(2)
    assert consumer.thread.is_alive()
    assert not consumer.source.closed

    handler.release(1)
    consumer.thread.join(WAIT_S)
    assert not consumer.thread.is_alive()
    assert consumer.committed() == 2
    assert consumer.source.closed
    assert handler.starts(2) == 0, "nothing is fetched once stopping"


def test_stop_abandons_messages_still_in_flight_at_the_deadline_uncommitted(handler):
    consumer = Consumer(handler, concurrency=2, drain_timeout_s=0.1)
    handler.hold(0)
    consumer.publish(2)
    consumer.start()
    eventually(lambda: handler.starts(0) == 1 and handler.finishes(1) == 1, "offset 0 in flight")

    consumer.finish()

    assert consumer.offsets.commits == []
    assert consumer.source.closed


def test_a_dead_letter_replaces_the_headers_of_an_earlier_dead_lettering():
    message = ConsumedMessage(
        Origin("one-request-dlq", 0, 7),
        b"req-1",
        b"{}",
        (("traceparent", b"00-abc"), ("cruncan.dlq.reason", b"old"), ("cruncan.dlq.attempts", b"5")),
    )
    letter = DeadLetter("req-1", DeadLetterCause.UNDECODABLE, "undecodable message: no JSON", 0)

    headers = dead_letter_message(message, letter).headers

    assert headers == (
        ("traceparent", b"00-abc"),
        ("cruncan.dlq.reason", b"undecodable message: no JSON"),
        ("cruncan.dlq.cause", b"undecodable"),
        ("cruncan.dlq.topic", b"one-request-dlq"),
        ("cruncan.dlq.partition", b"0"),
        ("cruncan.dlq.offset", b"7"),
        ("cruncan.dlq.attempts", b"0"),
    )


def test_a_limited_retry_gives_up_and_leaves_the_message_uncommitted(handler):
    consumer = Consumer(handler)
    consumer.loop = ConsumeLoop(
        consumer.source,
        handler,
        consumer.dead_letters,
        record=consumer.record,
        concurrency=2,
        drain_timeout_s=WAIT_S,
        commit_interval_s=0.0,
        poll_timeout_s=0.02,
        retry=RetryPolicy(base_s=0.001, max_s=0.001, attempts=3),
    )
    consumer.thread = threading.Thread(target=consumer.loop.run, args=(consumer.stop,), daemon=True)
    handler.failures[0] = 1_000_000
    consumer.publish(2)
    consumer.start()

    eventually(lambda: consumer.loop.in_flight == 0 and handler.finishes(1) == 1, "given up, the other done")
    consumer.finish()
    assert handler.starts(0) == 3
    assert consumer.offsets.commits == []


def test_concurrency_must_allow_one_message(handler):
    broker = InMemoryBroker()
    with pytest.raises(ValueError, match="at least one"):
        ConsumeLoop(
            InMemoryMessageSource(broker, TOPIC),
            handler,
            InMemoryDeadLetters(broker, DLQ),
            record=lambda outcome: None,
            concurrency=0,
            drain_timeout_s=1,
        )
