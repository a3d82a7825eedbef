"""The `MessageSource` contract, run against the in-memory source and against Kafka on a real broker:
assignment and rebalances between two members of a group, positions committed across members,
pause (polling for none) and resume, and polls that never return more than asked."""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Producer

from adapters.kafka.consumer import KafkaMessageSource
from adapters.memory.broker import InMemoryBroker
from adapters.memory.consumer import InMemoryMessageSource
from adapters.memory.group import InMemoryConsumerGroup
from domain.model.errors import CommitFailed, SourceUnavailable
from harness.kafka import create_topic
from harness.polling import eventually
from harness.tansu import TansuBroker
from ports.messages import ConsumedMessage, MessageSource, TopicPartition

PARTITIONS = 3
REBALANCE_TIMEOUT_S = 30.0
_sequence = itertools.count()


@dataclass
class Member:
    """A source and what its listener heard: (sequence, event, partitions), on which thread."""

    source: MessageSource
    events: list[tuple[int, str, frozenset[int]]] = field(default_factory=list)
    owned: set[int] = field(default_factory=set)
    threads: set[int] = field(default_factory=set)

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        self._heard("assigned", partitions)
        self.owned |= {p.partition for p in partitions}

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self._heard("revoked", partitions)
        self.owned -= {p.partition for p in partitions}

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        self._heard("lost", partitions)
        self.owned -= {p.partition for p in partitions}

    def _heard(self, event: str, partitions: Sequence[TopicPartition]) -> None:
        self.events.append((next(_sequence), event, frozenset(p.partition for p in partitions)))
        self.threads.add(threading.get_ident())

    def when(self, event: str, partition: int) -> int:
        """The sequence number of the last `event` that named `partition`."""
        return max(n for n, heard, partitions in self.events if heard == event and partition in partitions)


@dataclass
class Group:
    """One topic and one consumer group on a backend: `join()` adds a subscribed member."""

    topic: str
    new_source: Callable[[], MessageSource]
    write: Callable[[str | None, bytes | None, dict[str, str]], object]
    members: list[Member] = field(default_factory=list)

    def join(self) -> Member:
        member = Member(self.new_source())
        member.source.subscribe(member)
        self.members.append(member)
        return member

    def partition(self, number: int) -> TopicPartition:
        return TopicPartition(self.topic, number)


@contextlib.contextmanager
def memory_group(topic: str) -> Iterator[Group]:
    broker, group = InMemoryBroker(partitions=PARTITIONS), InMemoryConsumerGroup()
    yield Group(topic, lambda: InMemoryMessageSource(broker, topic, group), functools.partial(broker.append, topic))


@contextlib.contextmanager
def kafka_group(broker: TansuBroker, topic: str) -> Iterator[Group]:
    group_id = f"contract-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap_servers, topic, PARTITIONS)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})

    def write(key: str | None, value: bytes | None, headers: dict[str, str]) -> None:
        encoded = [(name, text.encode()) for name, text in headers.items()]
        producer.produce(topic, key=key.encode() if key is not None else None, value=value, headers=encoded)
        assert producer.flush(10) == 0, "the test message was not acknowledged"

    yield Group(topic, lambda: kafka_source(broker, topic, group_id), write)
    producer.flush(5)


def kafka_source(broker: TansuBroker, topic: str, group_id: str) -> KafkaMessageSource:
    return KafkaMessageSource(
        broker.bootstrap_servers, topic, group_id, session_timeout_ms=6000, partitions=PARTITIONS, replication_factor=1
    )


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def group(request: pytest.FixtureRequest, fresh_topic: str) -> Iterator[Group]:
    if request.param == "memory":
        chosen = memory_group(fresh_topic)
    else:
        chosen = kafka_group(request.getfixturevalue("kafka_broker"), fresh_topic)
    with chosen as the_group:
        yield the_group
        for member in the_group.members:
            member.source.close()


def rebalance_until(members: Sequence[Member], settled: Callable[[], bool], what: str) -> None:
    """Polls every member for no messages (which still delivers rebalances) until `settled()`."""

    def round_of_polls() -> bool:
        for member in members:
            member.source.poll(0, 0.1)
        return settled()

    eventually(round_of_polls, what, timeout_s=REBALANCE_TIMEOUT_S)


def owns_all(member: Member) -> bool:
    return member.owned == set(range(PARTITIONS))


def read(member: Member, count: int, max_messages: int = 100) -> list[ConsumedMessage]:
    """Exactly `count` messages, in as many polls as it takes; each poll's size is checked."""
    received: list[ConsumedMessage] = []

    def more() -> bool:
        batch = member.source.poll(max_messages, 0.2)
        assert len(batch) <= max_messages, f"poll({max_messages}) returned {len(batch)} messages"
        received.extend(batch)
        return len(received) >= count

    eventually(more, f"{count} messages read (got {len(received)})", timeout_s=REBALANCE_TIMEOUT_S)
    assert len(received) == count, f"read {len(received)} messages, expected {count}"
    return received


def test_a_lone_member_gets_every_partition_and_reads_each_in_offset_order(group):
    for n in range(12):
        group.write(f"key-{n % 4}", f"value {n}".encode(), {"traceparent": f"tp-{n}", "n": str(n)})
    member = group.join()

    received = read(member, 12)

    assert owns_all(member)
    for key in {message.key for message in received}:
        values = [message.value for message in received if message.key == key]
        assert values == sorted(values, key=lambda value: int((value or b"").split()[1])), f"{key!r} out of order"
    for partition in range(PARTITIONS):
        offsets = [message.origin.offset for message in received if message.origin.partition == partition]
        assert offsets == list(range(len(offsets))), f"partition {partition} read as {offsets}"
    for message in received:
        n = int((message.value or b"").split()[1])
        assert message.key == f"key-{n % 4}".encode()
        assert message.origin.topic == group.topic
        assert dict(message.headers) == {"traceparent": f"tp-{n}".encode(), "n": str(n).encode()}


def test_a_message_without_key_or_value_is_read_as_such(group):
    group.write(None, None, {})
    member = group.join()

    [message] = read(member, 1)

    assert (message.key, message.value, message.headers) == (None, None, ())


def test_a_poll_returns_at_most_as_many_messages_as_asked_for(group):
    for n in range(10):
        group.write("one-key", f"{n}".encode(), {})
    member = group.join()

    received = read(member, 10, max_messages=3)

    assert [message.value for message in received] == [f"{n}".encode() for n in range(10)]


def test_polling_for_no_messages_keeps_the_member_assigned_and_loses_nothing(group):
    member = group.join()
    rebalance_until([member], lambda: owns_all(member), "every partition assigned")
    for n in range(6):
        group.write("one-key", f"{n}".encode(), {})

    for _ in range(5):
        assert member.source.poll(0, 0.2) == []

    assert [message.value for message in read(member, 6)] == [f"{n}".encode() for n in range(6)]
    assert owns_all(member)
    assert [event for _, event, _ in member.events] == ["assigned"]


def test_closing_revokes_every_partition_through_the_listener_on_the_closing_thread(group):
    member = group.join()
    rebalance_until([member], lambda: owns_all(member), "every partition assigned")

    member.source.close()

    assert member.owned == set()
    assert member.events[-1][1:] == ("revoked", frozenset(range(PARTITIONS)))
    assert member.threads == {threading.get_ident()}


def test_a_new_member_resumes_from_the_positions_committed_before_the_last_one_closed(group):
    for n in range(6):
        group.write("one-key", f"{n}".encode(), {})
    first = group.join()
    [partition] = {message.origin.partition for message in read(first, 6)}
    first.source.commit({group.partition(partition): 4})
    first.source.close()

    second = group.join()

    assert [(m.origin.partition, m.origin.offset) for m in read(second, 2)] == [(partition, 4), (partition, 5)]


def test_committing_a_position_of_a_topic_that_does_not_exist_fails(group):
    member = group.join()
    rebalance_until([member], lambda: owns_all(member), "every partition assigned")

    with pytest.raises(CommitFailed):
        member.source.commit({TopicPartition(f"{group.topic}-missing", 0): 1})


def write_to_every_partition(group: Group, per_partition: int) -> None:
    """`per_partition` messages on each partition: keys chosen by CRC32, the partitioner both backends use."""
    for partition in range(PARTITIONS):
        for n in range(per_partition):
            group.write(key_on(partition, n), f"{partition}/{n}".encode(), {})


def key_on(partition: int, n: int) -> str:
    return next(
        key for k in itertools.count() if zlib.crc32((key := f"key-{n}-{k}").encode()) % PARTITIONS == partition
    )


def origins(messages: Sequence[ConsumedMessage]) -> set[tuple[int, int]]:
    return {(message.origin.partition, message.origin.offset) for message in messages}


def test_a_joining_member_gets_its_share_once_the_owner_revoked_it_and_reads_from_the_commits(group):
    write_to_every_partition(group, per_partition=3)
    first = group.join()
    read(first, 3 * PARTITIONS)
    first.source.commit({group.partition(p): 1 for p in range(PARTITIONS)})

    second = group.join()
    rebalance_until(
        [second, first],  # the newcomer polls first: it must still wait for the owner to revoke
        lambda: bool(first.owned and second.owned) and first.owned | second.owned == set(range(PARTITIONS)),
        "the partitions shared between the two members",
    )

    assert not first.owned & second.owned
    for partition in second.owned:
        assert first.when("revoked", partition) < second.when("assigned", partition)
    expected = {(partition, offset) for partition in second.owned for offset in (1, 2)}
    assert origins(read(second, len(expected))) == expected


def test_a_leaving_members_partitions_go_to_the_one_left_and_are_read_from_its_commits(group):
    first = group.join()
    rebalance_until([first], lambda: owns_all(first), "every partition with the first member")
    second = group.join()
    rebalance_until([first, second], lambda: bool(second.owned) and not first.owned & second.owned, "a share moved")
    write_to_every_partition(group, per_partition=3)
    handed_over = set(second.owned)
    read(second, 3 * len(handed_over))
    second.source.commit({group.partition(p): 2 for p in handed_over})

    second.source.close()
    rebalance_until([first], lambda: owns_all(first), "the leaving member's partitions with the first")

    assert all(first.when("assigned", p) > second.when("revoked", p) for p in handed_over)
    mine = {(p, offset) for p in range(PARTITIONS) if p not in handed_over for offset in range(3)}
    assert origins(read(first, len(mine) + len(handed_over))) == mine | {(p, 2) for p in handed_over}


@pytest.mark.kafka
def test_subscribing_while_the_broker_is_down_is_a_clear_error(kafka_broker, fresh_topic):
    source = KafkaMessageSource(
        kafka_broker.bootstrap_servers,
        fresh_topic,
        "contract-down",
        session_timeout_ms=6000,
        partitions=PARTITIONS,
        replication_factor=1,
        setup_timeout_s=2.0,
    )
    with kafka_broker.outage(), pytest.raises(SourceUnavailable):
        source.subscribe(Member(source))
