"""peewee's view of the tables the migrations create; queries are built from these models."""

from __future__ import annotations

from peewee import BigAutoField, BlobField, Model, TextField
from playhouse.postgres_ext import BinaryJSONField, DateTimeTZField

OUTBOX_CHANNEL = "cruncan_outbox"


class RequestRow(Model):
    req_id = TextField(primary_key=True)
    user_id = TextField()
    created_at = DateTimeTZField()
    updated_at = DateTimeTZField()
    req = BinaryJSONField()
    status = TextField()
    failure_reason = TextField(null=True)

    class Meta:
        table_name = "request"


class OutboxRow(Model):
    id = BigAutoField()
    key = TextField()
    payload = BlobField()
    headers = BinaryJSONField()
    created_at = DateTimeTZField()
    sent_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "outbox"
