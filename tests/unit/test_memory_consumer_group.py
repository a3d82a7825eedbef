"""The in-memory consumer group under any order of joins, leaves and polls: a partition never has two
owners at once, and once everyone has polled every partition has one owner and the shares are even."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.memory.broker import InMemoryBroker
from adapters.memory.consumer import InMemoryMessageSource
from adapters.memory.group import InMemoryConsumerGroup

TOPIC = "t"


class Silent:
    def assigned(self, partitions):
        pass

    def revoked(self, partitions):
        pass

    def lost(self, partitions):
        pass


steps = st.lists(
    st.one_of(st.just(("join", 0)), st.tuples(st.sampled_from(["leave", "poll"]), st.integers(0, 7))),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(partitions=st.integers(1, 6), steps=steps)
def test_partitions_never_have_two_owners_and_settle_evenly(partitions, steps):
    broker, group = InMemoryBroker(partitions=partitions), InMemoryConsumerGroup()
    members: list[InMemoryMessageSource] = []

    for action, index in steps:
        if action == "join":
            member = InMemoryMessageSource(broker, TOPIC, group)
            member.subscribe(Silent())
            members.append(member)
        elif members:
            member = members[index % len(members)]
            if action == "leave":
                member.close()
                members.remove(member)
            else:
                member.poll(0, 0)
        owned = [partition for member in members for partition in member.assignment]
        assert len(owned) == len(set(owned)), f"a partition has two owners: {sorted(owned)}"

    for _ in range(3):
        for member in members:
            member.poll(0, 0)
    if members:
        shares = [len(member.assignment) for member in members]
        assert sum(shares) == partitions
        assert max(shares) - min(shares) <= 1, f"uneven shares {shares}"
