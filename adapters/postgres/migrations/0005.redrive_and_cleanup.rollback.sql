-- Undoes 0005.redrive_and_cleanup: the re-drive history and the dead-letter positions go with it.
DROP TABLE dead_letter_redrive;
DROP INDEX outbox_sent_at;
DROP INDEX outbox_unsent_key;
DROP INDEX request_created_at;
DROP INDEX request_failed;
ALTER TABLE request DROP COLUMN last_redriven_at, DROP COLUMN redrive_count;
