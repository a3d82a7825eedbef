from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from adapters.kafka.admin import TopicSetupError, ensure_topic
from adapters.kafka.config import LIBRDKAFKA_LOG, PLAINTEXT, KafkaConnection, client_config, with_guarantees
from domain.model.errors import CommitFailed, SourceUnavailable
from ports.messages import ConsumedMessage, MessageSource, Origin, PartitionListener, TopicPartition

log = logging.getLogger(__name__)
# Bounds each broker round trip of a lag measurement, which holds up the poll loop that makes it.
LAG_TIMEOUT_S = 1.0

GUARANTEES = {"enable.auto.commit": False, "enable.auto.offset.store": False}


class KafkaMessageSource(MessageSource):
    """Reads `topic` as a member of consumer group `group_id`, committing only the positions it is given.

    Neither offsets nor commits are automatic (`enable.auto.offset.store` and `enable.auto.commit`
    are off): the caller commits, synchronously, what it has finished. A new group starts from the
    earliest message. Heartbeats go every third of `session_timeout_ms`, as Kafka advises (the 3 s
    default would let a short session expire). Partitions are balanced with the cooperative sticky
    assignor, so a member joining or leaving only moves the partitions that change hands. The
    topic is created with `partitions` if missing when subscribing.

    Polling for no messages pauses the assignment, so the member stays in the group (and hears of
    rebalances) while it takes nothing; the next poll for messages resumes it.

    `fetch_wait_max_ms` bounds how long the broker may hold a fetch waiting for data; a broker that
    answers only when that wait ends (Tansu) delays every message by up to that much.

    Lag is measured inside `poll`, on the loop's thread, at most every `lag_refresh_s`, and kept for
    `lag()`: asking the consumer for offsets from a metrics thread while the loop polls can hang in
    the client, and a hung reader would stop every metric's export with it. (librdkafka's own
    statistics do not serve: a paused partition is not fetched, so its high watermark goes stale
    exactly when the worker is saturated.)
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        *,
        session_timeout_ms: int,
        partitions: int,
        replication_factor: int,
        fetch_wait_max_ms: int = 500,
        lag_refresh_s: float = 5.0,
        setup_timeout_s: float = 10.0,
        client_id: str = "cruncan-worker",
        extra_config: Mapping[str, Any] | None = None,
        connection: KafkaConnection = PLAINTEXT,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._setup_timeout_s = setup_timeout_s
        self._connection = connection
        self._config = with_guarantees(
            {
                **client_config(bootstrap_servers, client_id, connection),
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": session_timeout_ms,
                "heartbeat.interval.ms": max(session_timeout_ms // 3, 100),
                "partition.assignment.strategy": "cooperative-sticky",
                "fetch.wait.max.ms": fetch_wait_max_ms,
                "error_cb": _log_client_error,
            },
            GUARANTEES,
            extra_config,
            "at-least-once delivery relies on them",
        )
        self._consumer: Consumer | None = None
        self._listener: PartitionListener | None = None
        self._paused = False
        self._held: deque[Message] = deque()
        self._closing = threading.Lock()
        # Kept on the polling thread (the rebalance callbacks run inside `poll`), read by `lag()`.
        self._assigned: set[tuple[str, int]] = set()
        self._lag: dict[TopicPartition, int] = {}
        self._lag_refresh_s = lag_refresh_s
        self._lag_due = 0.0

    def subscribe(self, listener: PartitionListener) -> None:
        try:
            ensure_topic(
                self._bootstrap_servers,
                self._topic,
                self._partitions,
                self._replication_factor,
                self._setup_timeout_s,
                connection=self._connection,
            )
        except TopicSetupError as exc:
            raise SourceUnavailable(str(exc)) from None
        self._listener = listener
        consumer = Consumer(self._config, logger=LIBRDKAFKA_LOG)
        consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self._consumer = consumer

    def poll(self, max_messages: int, timeout_s: float) -> Sequence[ConsumedMessage]:
        consumer = self._subscribed()
        self._measure_lag(consumer)
        if max_messages <= 0:
            self._pause(consumer)
            self._hold(consumer.poll(timeout_s))
            return []
        self._resume(consumer)
        taken: list[Message] = []
        while self._held and len(taken) < max_messages:
            taken.append(self._held.popleft())
        if not taken:
            first = consumer.poll(timeout_s)
            taken.extend([first] if first is not None else [])
        if taken and len(taken) < max_messages:
            taken.extend(consumer.consume(num_messages=max_messages - len(taken), timeout=0))
        return [consumed(message) for message in taken if self._is_message(message)]

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        consumer = self._subscribed()
        offsets = [KafkaTopicPartition(p.topic, p.partition, position) for p, position in sorted(positions.items())]
        try:
            results = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET:
                return
            raise CommitFailed(_describe(exc)) from None
        refused = [f"{r.topic}[{r.partition}]: {r.error.str()}" for r in results or [] if r.error is not None]
        if refused:
            raise CommitFailed("; ".join(refused))

    def close(self) -> None:
        with self._closing:
            consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        with self._closing:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing the Kafka consumer failed: %s", _describe(exc))
        self._held.clear()
        self._assigned.clear()
        self._lag = {}

    def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition, the messages the group has yet to commit: the high watermark less the
        committed offset (the low watermark before the first commit), as last measured by `poll`.
        Safe from any thread: it never calls into the consumer. Empty when not subscribed."""
        return dict(self._lag)

    def _measure_lag(self, consumer: Consumer) -> None:
        if time.monotonic() < self._lag_due:
            return
        self._lag_due = time.monotonic() + self._lag_refresh_s
        assigned = [KafkaTopicPartition(topic, partition) for topic, partition in sorted(self._assigned)]
        try:
            self._lag = _lag(consumer, assigned, LAG_TIMEOUT_S)
        except (KafkaException, RuntimeError) as exc:
            log.warning("consumer lag not measured: %s", _describe(exc))

    def _subscribed(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("the source is not subscribed (or already closed)")
        return self._consumer

    def _pause(self, consumer: Consumer) -> None:
        assignment = consumer.assignment()
        if assignment:
            consumer.pause(assignment)
        self._paused = True

    def _resume(self, consumer: Consumer) -> None:
        if self._paused:
            assignment = consumer.assignment()
            if assignment:
                consumer.resume(assignment)
            self._paused = False

    def _hold(self, message: Message | None) -> None:
        """Keeps a message that arrived while paused, for the next poll that asks for messages."""
        if message is not None and self._is_message(message):
            self._held.append(message)

    def _is_message(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.fatal():
            raise KafkaException(error)
        log.warning("Kafka consumer: %s", error.str())
        return False

    def _on_assign(self, _consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        """Also told when the group gives this member nothing: it has joined, and knows it is idle."""
        self._assigned.update((p.topic, p.partition) for p in partitions)
        if self._listener is not None:
            self._listener.assigned(_ours(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        if partitions and self._listener is not None:
            self._forget(partitions)
            self._listener.revoked(_ours(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        if partitions and self._listener is not None:
            self._forget(partitions)
            self._listener.lost(_ours(partitions))

    def _forget(self, partitions: list[KafkaTopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        self._assigned -= gone
        self._lag = {
            partition: lag for partition, lag in self._lag.items() if (partition.topic, partition.partition) not in gone
        }
        self._held = deque(m for m in self._held if (m.topic(), m.partition()) not in gone)


def _lag(consumer: Consumer, assignment: list[KafkaTopicPartition], timeout_s: float) -> dict[TopicPartition, int]:
    if not assignment:
        return {}
    committed = {(p.topic, p.partition): p.offset for p in consumer.committed(assignment, timeout=timeout_s)}
    lag = {}
    for partition in assignment:
        key = (partition.topic, partition.partition)
        low, high = consumer.get_watermark_offsets(partition, timeout=timeout_s, cached=False)
        done = committed.get(key, -1) if committed.get(key, -1) >= 0 else low
        lag[TopicPartition(*key)] = max(high - done, 0)
    return lag


def _ours(partitions: list[KafkaTopicPartition]) -> list[TopicPartition]:
    return [TopicPartition(p.topic, p.partition) for p in partitions]


def consumed(message: Message) -> ConsumedMessage:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message without topic, partition or offset")
    headers = message.headers() or ()
    pairs = headers.items() if isinstance(headers, dict) else headers
    return ConsumedMessage(
        origin=Origin(topic, partition, offset),
        key=message.key(),
        value=message.value(),
        headers=tuple((name, _bytes(value)) for name, value in pairs),
    )


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _log_client_error(error: KafkaError) -> None:
    log.warning("Kafka client error: %s", error.str())


def _describe(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else None
    return f"{error.name()}: {error.str()}" if isinstance(error, KafkaError) else str(exc)
