from __future__ import annotations

import math
import select
import socket
import threading
import time

import psycopg2
import psycopg2.extensions

from adapters.postgres.errors import translated_errors
from adapters.postgres.tables import OUTBOX_CHANNEL
from ports.outbox import OutboxSignal

APPLICATION_NAME = "cruncan-outbox-signal"


class PostgresOutboxSignal(OutboxSignal):
    """Wakes on the NOTIFY that the outbox trigger sends when an insert commits.

    LISTEN needs a session of its own, so this holds one connection outside the pool, opened
    at the first `wait`. On (re)connecting it reports messages already waiting, so none committed
    while it was not listening is missed. When it cannot connect it raises `StoreUnavailable`,
    and tries again on the next call. TCP keepalives notice a server that vanished silently.
    """

    def __init__(self, dsn: str, *, connect_timeout_s: float = 3.0) -> None:
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._connection: psycopg2.extensions.connection | None = None
        self._waiting = threading.Lock()
        self._closed = threading.Event()
        self._wakeup_reader, self._wakeup_writer = socket.socketpair()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._waiting:
            while not self._closed.is_set():
                connection = self._connection
                if connection is None:
                    connection, already_waiting = self._listen()
                    self._connection = connection
                    if already_waiting:
                        return True
                try:
                    return self._await_notification(connection, deadline)
                except psycopg2.Error:
                    self._disconnect()
            return False

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._wakeup_writer.send(b"\0")
        with self._waiting:
            self._disconnect()
            self._wakeup_reader.close()
            self._wakeup_writer.close()

    def _listen(self) -> tuple[psycopg2.extensions.connection, bool]:
        """A listening connection, and whether messages are already waiting: they may have been
        committed before the LISTEN."""
        with translated_errors():
            connection = psycopg2.connect(
                self._dsn,
                connect_timeout=max(2, math.ceil(self._connect_timeout_s)),
                application_name=APPLICATION_NAME,
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
            connection.autocommit = True
            try:
                cursor = connection.cursor()
                cursor.execute(f"LISTEN {OUTBOX_CHANNEL}")
                cursor.execute("SELECT EXISTS (SELECT FROM outbox WHERE sent_at IS NULL)")
                row = cursor.fetchone()
            except BaseException:
                connection.close()
                raise
        return connection, bool(row and row[0])

    def _await_notification(self, connection: psycopg2.extensions.connection, deadline: float) -> bool:
        while True:
            connection.poll()
            if connection.notifies:
                connection.notifies.clear()
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([connection.fileno(), self._wakeup_reader.fileno()], [], [], remaining)
            if self._closed.is_set():
                return False

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
