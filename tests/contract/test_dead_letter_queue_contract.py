"""The `DeadLetterQueue` contract, run against the in-memory queue and against Kafka on a real broker."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from adapters.kafka.dead_letters import KafkaDeadLetterQueue
from adapters.memory.broker import InMemoryBroker
from adapters.memory.dead_letters import InMemoryDeadLetters
from domain.model.errors import DeadLetterUnavailable
from ports.messages import DeadLetterMessage, DeadLetterQueue
from tests.contract.topics import Reader, TopicMessage, kafka_reader, memory_reader

DELIVERY_TIMEOUT_MS = 2000


@dataclass
class Queue:
    """A dead-letter queue, how to read what it kept, and how to make it unable to keep anything."""

    queue: DeadLetterQueue
    kept: Reader
    unavailable: Callable[[], contextlib.AbstractContextManager[None]]


def memory_queue(topic: str) -> Iterator[Queue]:
    broker = InMemoryBroker()
    queue = InMemoryDeadLetters(broker, topic)

    @contextlib.contextmanager
    def unavailable() -> Iterator[None]:
        queue.refuse_next(1_000_000)
        try:
            yield
        finally:
            queue.accept()

    yield Queue(queue, memory_reader(broker, topic), unavailable)


def kafka_queue(request: pytest.FixtureRequest, topic: str) -> Iterator[Queue]:
    broker = request.getfixturevalue("kafka_broker")
    queue = KafkaDeadLetterQueue(
        broker.bootstrap_servers,
        topic,
        partitions=3,
        replication_factor=1,
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
        request_timeout_ms=1000,
    )

    yield Queue(queue, kafka_reader(broker.bootstrap_servers, topic), broker.outage)
    queue.close(timeout_s=5.0)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def dead_letters(request: pytest.FixtureRequest, fresh_topic: str) -> Iterator[Queue]:
    if request.param == "memory":
        yield from memory_queue(fresh_topic)
    else:
        yield from kafka_queue(request, fresh_topic)


def letter(key: bytes | None, value: bytes | None = b"{}", **headers: str) -> DeadLetterMessage:
    return DeadLetterMessage(key, value, tuple((name, text.encode()) for name, text in headers.items()))


def test_a_dead_letter_is_kept_with_its_key_value_and_headers_once_published(dead_letters):
    dead_letters.queue.publish(
        letter(b"00000000000000000001", b'{"request_id": 1}', traceparent="00-ab-cd-01", **{"cruncan.dlq.cause": "x"})
    )

    assert dead_letters.kept(1) == [
        TopicMessage(
            "00000000000000000001", b'{"request_id": 1}', {"traceparent": "00-ab-cd-01", "cruncan.dlq.cause": "x"}
        )
    ]


def test_a_message_without_key_or_value_is_kept_as_such(dead_letters):
    dead_letters.queue.publish(letter(None, None, reason="poison"))

    assert dead_letters.kept(1) == [TopicMessage(None, None, {"reason": "poison"})]


def test_dead_letters_published_from_many_threads_are_all_kept(dead_letters):
    def publish_five(thread: int) -> None:
        for n in range(5):
            dead_letters.queue.publish(letter(f"{thread}-{n}".encode()))

    threads = [threading.Thread(target=publish_five, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(kept.key or "" for kept in dead_letters.kept(20)) == sorted(
        f"{t}-{n}" for t in range(4) for n in range(5)
    )


def test_a_queue_that_cannot_keep_a_message_says_so_and_keeps_it_when_sent_again(dead_letters):
    dead_letters.queue.publish(letter(b"before"))
    with dead_letters.unavailable(), pytest.raises(DeadLetterUnavailable):
        dead_letters.queue.publish(letter(b"during"))

    dead_letters.queue.publish(letter(b"during"))

    assert "during" in {kept.key for kept in dead_letters.kept(1)}
