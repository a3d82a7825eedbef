-- Undoes 0003.idempotency_key: the idempotency keys (their requests stay).
DROP TABLE idempotency_key;
