"""The clean-up part of the store contracts: only sent messages, finished requests without an unsent
message and expired keys are deleted, a batch at a time, and rows another unit of work holds are skipped."""

from __future__ import annotations

from domain.model.idempotency import IdempotencyRecord
from domain.model.request import RequestStatus, StoredRequest
from tests.contract.conftest import Backend, on_another_thread
from tests.contract.examples import T0, a_message, a_request, later


def sent_messages(backend: Backend, *keys: str, at: float) -> None:
    with backend.unit_of_work() as uow:
        for key in keys:
            uow.outbox.add(a_message(key))
        uow.commit()
    with backend.unit_of_work() as uow:
        uow.outbox.mark_sent([p.outbox_id for p in uow.outbox.claim_pending(100)], later(at))
        uow.commit()


def unsent_message(backend: Backend, key: str) -> None:
    with backend.unit_of_work() as uow:
        uow.outbox.add(a_message(key))
        uow.commit()


def deleted_messages(backend: Backend, cutoff: float, limit: int = 100) -> int:
    with backend.unit_of_work() as uow:
        count = uow.outbox.delete_sent_before(later(cutoff), limit)
        uow.commit()
    return count


def test_only_messages_sent_before_the_cutoff_are_deleted(backend: Backend) -> None:
    sent_messages(backend, "a", "b", at=10)
    sent_messages(backend, "c", at=30)
    unsent_message(backend, "d")

    with backend.unit_of_work() as uow:
        assert uow.outbox.count_sent_before(later(20)) == 2
    assert deleted_messages(backend, 20, limit=1) == 1
    assert deleted_messages(backend, 20) == 1
    assert deleted_messages(backend, 20) == 0
    with backend.unit_of_work() as uow:
        assert uow.outbox.count_sent_before(later(1000)) == 1
        assert uow.outbox.backlog() == 1
        assert [p.message.key for p in uow.outbox.claim_pending(10)] == ["d"]


def test_two_units_deleting_at_once_delete_each_message_once(backend: Backend) -> None:
    sent_messages(backend, "a", "b", "c", at=10)

    with backend.unit_of_work() as first:
        assert first.outbox.delete_sent_before(later(20), 2) == 2
        assert on_another_thread(lambda: deleted_messages(backend, 20)) == 1
        first.commit()
    assert deleted_messages(backend, 1000) == 0


def finished(request_id: str, status: RequestStatus, created: float) -> StoredRequest:
    request = a_request(request_id, status)
    return StoredRequest(request_id, request.body, status, later(created), later(created))


def deleted_requests(backend: Backend, cutoff: float, limit: int = 100) -> int:
    with backend.unit_of_work() as uow:
        count = uow.requests.delete_finished_before(later(cutoff), limit)
        uow.commit()
    return count


def test_only_finished_requests_created_before_the_cutoff_without_unsent_messages_are_deleted(
    backend: Backend,
) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(finished("done", RequestStatus.FORWARDED, 0))
        uow.requests.add(finished("gave-up", RequestStatus.FAILED, 0))
        uow.requests.add(finished("waiting", RequestStatus.ACCEPTED, 0))
        uow.requests.add(finished("published", RequestStatus.PUBLISHED, 0))
        uow.requests.add(finished("recent", RequestStatus.FORWARDED, 50))
        uow.requests.add(finished("redriven", RequestStatus.FAILED, 0))
        uow.commit()
    unsent_message(backend, "redriven")

    with backend.unit_of_work() as uow:
        assert uow.requests.count_finished_before(later(20)) == 2
    assert deleted_requests(backend, 20, limit=1) + deleted_requests(backend, 20) == 2
    with backend.unit_of_work() as uow:
        kept = {i for i in ("done", "gave-up", "waiting", "published", "recent", "redriven") if uow.requests.get(i)}
    assert kept == {"waiting", "published", "recent", "redriven"}


def test_two_units_deleting_requests_at_once_delete_each_once(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        for i in range(3):
            uow.requests.add(finished(f"r{i}", RequestStatus.FORWARDED, 0))
        uow.commit()

    with backend.unit_of_work() as first:
        assert first.requests.delete_finished_before(later(20), 2) == 2
        assert on_another_thread(lambda: deleted_requests(backend, 20)) == 1
        first.commit()
    assert deleted_requests(backend, 20) == 0


def a_key(key: str, request_id: str, expires: float) -> IdempotencyRecord:
    return IdempotencyRecord(key, "f" * 64, request_id, created_at=T0, expires_at=later(expires))


def test_a_bounded_purge_deletes_expired_keys_a_batch_at_a_time(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        for i in range(3):
            uow.requests.add(a_request(f"r{i}"))
        uow.idempotency_keys.add(a_key("old-1", "r0", 10))
        uow.idempotency_keys.add(a_key("old-2", "r1", 10))
        uow.idempotency_keys.add(a_key("live", "r2", 1000))
        uow.commit()

    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.count_expired(later(20)) == 2
        assert uow.idempotency_keys.purge_expired(later(20), 1) == 1
        uow.commit()
    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.purge_expired(later(20), 10) == 1
        uow.commit()
    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.count_expired(later(20)) == 0
        assert uow.idempotency_keys.claim("live", later(20)) == a_key("live", "r2", 1000)


def test_deleting_a_request_deletes_its_idempotency_key(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(finished("done", RequestStatus.FORWARDED, 0))
        uow.idempotency_keys.add(a_key("k", "done", 10_000))
        uow.commit()

    assert deleted_requests(backend, 20) == 1
    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.claim("k", later(30)) is None
