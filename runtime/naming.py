"""How the consume loop names partitions and positions in its logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ports.messages import Origin, TopicPartition


def partition_name(partition: TopicPartition) -> str:
    return f"{partition.topic}[{partition.partition}]"


def partition_names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(partition_name(partition) for partition in sorted(partitions)) or "no partitions"


def origin_name(origin: Origin) -> str:
    return f"{origin.topic}[{origin.partition}]@{origin.offset}"


def position_names(positions: Mapping[TopicPartition, int]) -> str:
    return ", ".join(f"{partition_name(partition)}@{position}" for partition, position in sorted(positions.items()))
