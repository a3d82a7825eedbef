"""Snowflake ID layout: 64 bits = 1 unused sign bit, 41 bits of milliseconds since
`EPOCH`, 16 node bits and 6 sequence bits, rendered as 20 zero-padded decimal digits
so that IDs sort as text in the order they were issued."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TIMESTAMP_BITS = 41
NODE_BITS = 16
SEQUENCE_BITS = 6
MAX_TIMESTAMP = (1 << TIMESTAMP_BITS) - 1
MAX_NODE = (1 << NODE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
DIGITS = 20


@dataclass(frozen=True)
class SnowflakeParts:
    timestamp_ms: int
    node: int
    sequence: int

    @property
    def issued_at(self) -> datetime:
        return EPOCH + timedelta(milliseconds=self.timestamp_ms)


@dataclass(frozen=True)
class SequenceShare:
    """The sequence numbers one of `of` processes sharing a node issues in a millisecond: those equal
    to `index` modulo `of`, so that processes on one node never issue the same ID."""

    index: int = 0
    of: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.of <= MAX_SEQUENCE + 1:
            raise ValueError(f"{self.of} processes cannot share a node: at most {MAX_SEQUENCE + 1}")
        if not 0 <= self.index < self.of:
            raise ValueError(f"process {self.index} is outside 0..{self.of - 1}")


WHOLE_NODE = SequenceShare()
"""The share of a process that has its node to itself: every sequence number."""


def encode(parts: SnowflakeParts) -> str:
    if not 0 <= parts.timestamp_ms <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {parts.timestamp_ms} ms is outside the {TIMESTAMP_BITS}-bit range")
    if not 0 <= parts.node <= MAX_NODE:
        raise ValueError(f"node {parts.node} is outside 0..{MAX_NODE}")
    if not 0 <= parts.sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence {parts.sequence} is outside 0..{MAX_SEQUENCE}")
    value = (parts.timestamp_ms << (NODE_BITS + SEQUENCE_BITS)) | (parts.node << SEQUENCE_BITS) | parts.sequence
    return f"{value:0{DIGITS}d}"


def is_snowflake(text: str) -> bool:
    """Whether `text` has the form of an ID: exactly `DIGITS` ASCII decimal digits."""
    return len(text) == DIGITS and text.isascii() and text.isdigit()


def decode(snowflake: str) -> SnowflakeParts:
    if not is_snowflake(snowflake):
        raise ValueError(f"a snowflake ID is {DIGITS} decimal digits, got {snowflake!r}")
    value = int(snowflake)
    if value >> (TIMESTAMP_BITS + NODE_BITS + SEQUENCE_BITS):
        raise ValueError(f"{snowflake!r} does not fit in 63 bits")
    return SnowflakeParts(
        timestamp_ms=value >> (NODE_BITS + SEQUENCE_BITS),
        node=(value >> SEQUENCE_BITS) & MAX_NODE,
        sequence=value & MAX_SEQUENCE,
    )


def milliseconds_since_epoch(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def node_from_ipv4(address: str) -> int:
    """The low 16 bits of an IPv4 address: a pod's node ID, unique within a /16 pod network."""
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IPv4 address") from None
    return int(parsed) & MAX_NODE
