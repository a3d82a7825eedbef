"""`cruncan redrive`: send failed requests again, each exactly once however many copies run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from domain.model.dead_letters import LettersRedriven
from domain.model.redrive import RedriveSelection
from domain.usecases.redrive_dead_letters import RedriveDeadLetters
from entrypoints import arguments
from entrypoints.redrive.container import build_container

PREVIEW_MAX = 1000
PROGRESS_EVERY = 100


@dataclass(frozen=True)
class RedriveOptions:
    cause: str | None = None
    older_than: timedelta | None = None
    newer_than: timedelta | None = None
    request_ids: frozenset[str] = frozenset()
    limit: int | None = None
    dry_run: bool = False
    from_dlq: bool = False

    @classmethod
    def of(cls, args: argparse.Namespace) -> RedriveOptions:
        return cls(
            cause=args.cause,
            older_than=args.older_than,
            newer_than=args.newer_than,
            request_ids=frozenset(args.request_ids),
            limit=args.limit,
            dry_run=args.dry_run,
            from_dlq=args.from_dlq,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that select what to re-drive; an option left out selects every failed request."""
    parser.add_argument("--cause", type=arguments.cause, help="only requests whose failure reason contains TEXT")
    parser.add_argument(
        "--older-than", type=arguments.duration, metavar="DURATION", help="only requests that failed longer ago"
    )
    parser.add_argument(
        "--newer-than", type=arguments.duration, metavar="DURATION", help="only requests that failed more recently"
    )
    parser.add_argument(
        "--id",
        dest="request_ids",
        type=arguments.request_id,
        action="append",
        default=[],
        metavar="REQUEST_ID",
        help="only this request (repeat for several)",
    )
    parser.add_argument("--limit", type=arguments.positive_int, help="re-drive at most N requests")
    parser.add_argument("--dry-run", action="store_true", help="list what would be re-driven, change nothing")
    parser.add_argument(
        "--from-dlq",
        action="store_true",
        help="re-drive the messages in the dead-letter topic (worker.dlq_topic), poison ones included",
    )


def check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Rejects option combinations that select nothing by construction."""
    if args.older_than is not None and args.newer_than is not None and args.newer_than <= args.older_than:
        parser.error("--newer-than must be longer than --older-than, or no request can match both")
    if args.from_dlq and (args.cause or args.older_than or args.newer_than or args.request_ids):
        parser.error(
            "--from-dlq takes every dead letter: --cause, --older-than, --newer-than and --id select failed requests"
        )


def run(
    settings: providers.Configuration,
    telemetry: Telemetry,
    options: RedriveOptions,
    announce: Callable[[str], None] = print,
) -> int:
    container = build_container(settings, telemetry)
    if options.from_dlq:
        try:
            return _dead_letters(container.redrive_dead_letters(), options, announce)
        finally:
            container.shutdown_resources()
    try:
        selection = RedriveSelection.of(
            container.core.clock().now(),
            cause=options.cause,
            older_than=options.older_than,
            newer_than=options.newer_than,
            request_ids=options.request_ids,
        )
        redrive = container.redrive()
        if options.dry_run:
            found = redrive.preview(selection, options.limit or PREVIEW_MAX)
            for request in found:
                failed_at = request.updated_at.isoformat()
                announce(f"would re-drive {request.request_id} (failed {failed_at}: {request.failure_reason})")
            shown = " (the first ones)" if len(found) == PREVIEW_MAX else ""
            announce(f"dry run: {len(found)} request(s) would be re-driven{shown}")
            return 0
        done = redrive(
            selection,
            options.limit,
            progress=lambda batch, total: announce(f"re-drove {batch} request(s), {total} so far"),
        )
    finally:
        container.shutdown_resources()
    if done.busy:
        announce("another run holds the re-drive lock: nothing to do here")
    else:
        announce(f"re-drove {done.requests} request(s) in {done.batches} batch(es)")
    return 0


def _dead_letters(redrive: RedriveDeadLetters, options: RedriveOptions, announce: Callable[[str], None]) -> int:
    if options.dry_run:
        found = redrive.preview(options.limit or PREVIEW_MAX)
        for queued in found:
            origin, what = queued.letter.origin, queued.request_id or "a poison message (no readable request ID)"
            announce(f"would re-drive {origin.topic}[{origin.partition}]@{origin.offset}: {what}")
        announce(f"dry run: {len(found)} dead letter(s) would be re-driven")
        return 0
    done = redrive(options.limit, progress=lambda so_far: _progress(so_far, announce))
    if done.busy:
        announce("another run holds the re-drive lock: nothing to do here")
        return 0
    announce(
        f"re-drove {done.requests} request(s) and {done.poison} poison message(s) from the dead letters; "
        f"{done.seen_before} re-driven before, {done.not_failed} no longer failed"
    )
    return 0


def _progress(so_far: LettersRedriven, announce: Callable[[str], None]) -> None:
    if so_far.letters % PROGRESS_EVERY == 0:
        announce(f"{so_far.letters} dead letter(s) so far")
