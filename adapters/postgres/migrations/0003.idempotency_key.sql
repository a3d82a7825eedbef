-- Idempotency keys clients sent with POST /one, each with the fingerprint of the body and the
-- request it created; written in the request's transaction, purged once `expires_at` has passed.
-- depends: 0002.outbox
CREATE TABLE idempotency_key (
    key         text        PRIMARY KEY,
    fingerprint text        NOT NULL,
    req_id      text        NOT NULL REFERENCES request (req_id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE INDEX idempotency_key_expiry ON idempotency_key (expires_at);
