-- Re-drives: each one counted on its request (`redrive_count`, the fencing token a re-drive increments
-- in the transaction that enqueues its message) and dated; dead letters re-driven from the DLQ topic,
-- by position, so a second run skips them. Indexes for the clean-up's and the re-drive's scans, and for
-- the relay's claim of the oldest unsent message of each key.
-- depends: 0004.submitted_by
ALTER TABLE request
    ADD COLUMN redrive_count    integer     NOT NULL DEFAULT 0 CONSTRAINT request_redrive_count_positive CHECK (redrive_count >= 0),
    ADD COLUMN last_redriven_at timestamptz;

CREATE INDEX request_failed ON request (updated_at, req_id) WHERE status = 'failed';
CREATE INDEX request_created_at ON request (created_at);
CREATE INDEX outbox_unsent_key ON outbox (key, id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE dead_letter_redrive (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    req_id      text,
    redriven_at timestamptz NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
