-- Who submitted each request: the subject of the bearer token it came with (NULL when authentication
-- is off, and for every request stored before this migration).
-- depends: 0003.idempotency_key
ALTER TABLE request ADD COLUMN submitted_by text;
