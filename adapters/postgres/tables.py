"""peewee's view of the tables the migrations create.

The models are bound to `DIALECT`, a Postgres database that is never connected: it renders
their queries, and units of work send the SQL over connections of their own. A query run
through a model directly fails, which keeps every statement inside a unit of work.
"""

from __future__ import annotations

from peewee import BigAutoField, BlobField, IntegerField, Model, PostgresqlDatabase, TextField
from playhouse.postgres_ext import BinaryJSONField, DateTimeTZField

DIALECT = PostgresqlDatabase(None)
OUTBOX_CHANNEL = "cruncan_outbox"
IDEMPOTENCY_KEY_TABLE = "idempotency_key"


class Table(Model):
    class Meta:
        database = DIALECT


class RequestRow(Table):
    req_id = TextField(primary_key=True)
    user_id = TextField()
    created_at = DateTimeTZField()
    updated_at = DateTimeTZField()
    req = BinaryJSONField()
    status = TextField()
    failure_reason = TextField(null=True)
    submitted_by = TextField(null=True)
    redrive_count = IntegerField()
    last_redriven_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "request"


class OutboxRow(Table):
    id = BigAutoField()
    key = TextField()
    payload = BlobField()
    headers = BinaryJSONField()
    created_at = DateTimeTZField()
    sent_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "outbox"


class IdempotencyKeyRow(Table):
    key = TextField(primary_key=True)
    fingerprint = TextField()
    req_id = TextField()
    created_at = DateTimeTZField()
    expires_at = DateTimeTZField()

    class Meta:
        table_name = IDEMPOTENCY_KEY_TABLE
