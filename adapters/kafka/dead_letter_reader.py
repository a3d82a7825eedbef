from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from adapters.kafka.config import LIBRDKAFKA_LOG, PLAINTEXT, KafkaConnection, client_config, with_guarantees
from adapters.kafka.consumer import GUARANTEES, consumed
from domain.model.errors import CommitFailed, SourceUnavailable
from ports.dead_letter_reader import DeadLetterReader
from ports.messages import ConsumedMessage, Origin

log = logging.getLogger(__name__)
OFFSET_UNSET = -1001


class KafkaDeadLetterReader(DeadLetterReader):
    """Reads `topic` with consumer group `group_id`'s positions, assigned rather than subscribed (one
    reader reads every partition), up to each partition's high watermark when reading starts. Positions
    are committed only when told, synchronously; a group that never committed starts from the earliest."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        *,
        timeout_s: float = 10.0,
        client_id: str = "cruncan-redrive",
        extra_config: Mapping[str, Any] | None = None,
        connection: KafkaConnection = PLAINTEXT,
    ) -> None:
        self._topic = topic
        self._timeout_s = timeout_s
        self._config = with_guarantees(
            {
                **client_config(bootstrap_servers, client_id, connection),
                "group.id": group_id,
                "auto.offset.reset": "earliest",
            },
            GUARANTEES,
            extra_config,
            "dead letters are committed only once re-driven",
        )
        self._consumer: Consumer | None = None

    def read(self) -> Iterator[ConsumedMessage]:
        consumer = self._consumer = Consumer(self._config, logger=LIBRDKAFKA_LOG)
        ends = self._assign(consumer)
        while ends:
            message = consumer.poll(self._timeout_s)
            if message is None:
                raise SourceUnavailable(f"no dead letter from {self._topic} within {self._timeout_s} s of its end")
            if message.error() is not None:
                log.warning("reading %s: %s", self._topic, message.error())
                continue
            partition, offset = message.partition(), message.offset()
            if partition not in ends or offset is None:
                continue
            if offset < ends[partition]:
                yield consumed(message)
            if offset + 1 >= ends[partition]:
                del ends[partition]

    def commit(self, origin: Origin) -> None:
        if self._consumer is None:
            raise CommitFailed("nothing was read")
        position = KafkaTopicPartition(origin.topic, origin.partition, origin.offset + 1)
        try:
            results = self._consumer.commit(offsets=[position], asynchronous=False)
        except KafkaException as exc:
            raise CommitFailed(f"dead-letter position not committed: {exc}") from None
        failed = [r for r in results or [] if r.error is not None]
        if failed:
            raise CommitFailed(f"dead-letter position not committed: {failed[0].error}")

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _assign(self, consumer: Consumer) -> dict[int, int]:
        """Assigns each partition with letters past the group's position; returns their ends."""
        try:
            metadata = consumer.list_topics(self._topic, timeout=self._timeout_s).topics.get(self._topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                return {}
            partitions = [KafkaTopicPartition(self._topic, p) for p in sorted(metadata.partitions)]
            committed = consumer.committed(partitions, timeout=self._timeout_s)
            starts, ends = {}, {}
            for position in committed:
                low, high = consumer.get_watermark_offsets(position, timeout=self._timeout_s, cached=False)
                start = low if position.offset == OFFSET_UNSET else max(position.offset, low)
                if start < high:
                    starts[position.partition], ends[position.partition] = start, high
        except KafkaException as exc:
            raise SourceUnavailable(f"cannot read the dead letters of {self._topic}: {exc}") from None
        consumer.assign([KafkaTopicPartition(self._topic, p, offset) for p, offset in starts.items()])
        return ends
