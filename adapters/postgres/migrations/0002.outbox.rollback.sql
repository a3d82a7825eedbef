-- Undoes 0002.outbox: the outbox, its wake-up trigger and the trigger's function.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TABLE outbox;
