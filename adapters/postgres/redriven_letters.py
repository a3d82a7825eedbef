from __future__ import annotations

from datetime import datetime

from adapters.postgres.transaction import Transaction
from ports.dead_letter_reader import RedrivenLetters
from ports.messages import Origin

# The primary key makes a second claim of a position wait for the first's transaction, then find it taken.
CLAIM_POSITION = """
    INSERT INTO dead_letter_redrive (topic, partition, "offset", req_id, redriven_at) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT DO NOTHING"""


class PeeweeRedrivenLetters(RedrivenLetters):
    """Positions in the `dead_letter_redrive` table, inserted in the unit of work that re-drives the letter."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    def claim(self, origin: Origin, request_id: str | None, at: datetime) -> bool:
        inserted = self._transaction.execute(
            (CLAIM_POSITION, [origin.topic, origin.partition, origin.offset, request_id, at])
        )
        return inserted == 1
