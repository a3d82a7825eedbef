"""The `cruncan` command."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from domain.model.errors import CruncanError
from entrypoints.api import main as api
from entrypoints.api.processes import FLAG as HTTP_PROCESS_FLAG
from entrypoints.api.processes import Handoff
from entrypoints.cleanup import main as cleanup
from entrypoints.components import start_telemetry
from entrypoints.connections import check_kafka_connection
from entrypoints.demo import main as demo
from entrypoints.grpc import main as rpc
from entrypoints.migrate import main as migrate
from entrypoints.redrive import main as redrive
from entrypoints.relay import main as relay
from entrypoints.settings import SettingsError, load_settings, secret_values
from entrypoints.worker import main as worker

Command = Callable[[providers.Configuration, Telemetry], int]


def explained(exc: BaseException) -> str:
    """The error, and the first line of the failure an adapter translated into it."""
    reason = str(exc.__cause__ or "").strip().splitlines()
    return f"{exc} ({reason[0]})" if reason and reason[0] not in str(exc) else str(exc)


COMMANDS: dict[str, tuple[Command, str]] = {
    "api": (api.run, "serve the ingestion API (and the outbox relay, unless relay.embedded is false)"),
    "grpc": (rpc.run, "serve the ingestion API over gRPC (and the outbox relay, unless relay.embedded is false)"),
    "relay": (relay.run, "publish the transactional outbox to Kafka (for running relays apart from the API)"),
    "worker": (worker.run, "forward requests from Kafka to the third party, recording each outcome"),
    "migrate": (migrate.run, "apply the database migrations this release knows (idempotent, safe to run concurrently)"),
    "demo": (demo.run, "run the whole flow in one process, in memory, on 127.0.0.1:8099"),
    "redrive": (
        lambda settings, telemetry: redrive.run(settings, telemetry, redrive.RedriveOptions()),
        "send failed requests again after a fix, each exactly once however many copies run",
    ),
    "cleanup": (
        cleanup.run,
        "delete sent outbox messages and finished requests past their retention, and expired idempotency keys",
    ),
}
OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "redrive": redrive.add_arguments,
    "cleanup": cleanup.add_arguments,
}


def chosen(args: argparse.Namespace, handoff: Handoff | None = None) -> Command:
    """The command `args` names, given the options it takes; `handoff` when it is one of `http.processes`."""
    if args.command == "api":
        log_level = str(args.log_level)
        if handoff is not None:
            return lambda settings, telemetry: api.run_handed_off(settings, telemetry, handoff)
        return lambda settings, telemetry: api.run(settings, telemetry, log_level=log_level)
    if args.command == "redrive":
        options = redrive.RedriveOptions.of(args)
        return lambda settings, telemetry: redrive.run(settings, telemetry, options)
    if args.command == "cleanup":
        dry_run = bool(args.dry_run)
        return lambda settings, telemetry: cleanup.run(settings, telemetry, dry_run)
    if args.command == "migrate":
        return migrate.ACTIONS[args.action]
    return COMMANDS[args.command][0]


def _submit(args: argparse.Namespace, settings: providers.Configuration) -> int:
    from entrypoints.grpc.client import CallFailed, get, pretty, submit

    target = args.target or f"{settings.grpc.host()}:{settings.grpc.port()}"
    try:
        if args.get:
            print(pretty(get(target, args.get, args.token)))
        else:
            body = json.loads(args.body)
            if not isinstance(body, dict):
                print("cruncan submit: the body must be a JSON object, as POST /one takes it", file=sys.stderr)
                return 2
            print(pretty({"request_id": submit(target, body, args.token)}))
    except json.JSONDecodeError as exc:
        print(f"cruncan submit: the body is not valid JSON: {exc}", file=sys.stderr)
        return 2
    except CallFailed as exc:
        print(f"cruncan submit: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_submit(add_parser: Callable[..., argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    summary = "submit a request over gRPC (or read one back with --get ID), as a client program would"
    command = add_parser("submit", parents=[common], help=summary, description=summary)
    command.add_argument("body", nargs="?", default="{}", help='the request as JSON, e.g. \'{"user_id": "u"}\'')
    command.add_argument("--get", metavar="REQUEST_ID", help="read this request back instead of submitting")
    command.add_argument("--target", help="host:port of the gRPC server (default: grpc.host:grpc.port)")
    command.add_argument("--token", help="a bearer token, when the server has auth.enabled")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a YAML file replacing the shipped settings.yaml")
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set storage.backend=postgres (wins over CRUNCAN_* variables)",
    )
    common.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--host", help="address to listen on (http.host)")
    serving.add_argument("--port", type=int, help="port to listen on (http.port)")
    parser = argparse.ArgumentParser(prog="cruncan", description="cruncan: ingest requests and forward them.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        parents = [common, serving] if name in {"api", "demo"} else [common]
        command = commands.add_parser(name, parents=parents, help=summary, description=summary)
        if name == "api":
            # Set by the supervising `cruncan api` on the processes it starts (http.processes), never by hand.
            command.add_argument(HTTP_PROCESS_FLAG, dest="http_process", help=argparse.SUPPRESS)
        if name == "demo":
            command.add_argument(
                "--auth",
                action="store_true",
                help="require bearer tokens, issued by the demo's stand-in (auth.enabled)",
            )
        if name == "grpc":
            command.add_argument("--host", dest="grpc_host", help="address to listen on (grpc.host)")
            command.add_argument("--port", dest="grpc_port", type=int, help="port to listen on (grpc.port)")
        if name == "migrate":
            command.add_argument(
                "action",
                nargs="?",
                default="apply",
                choices=list(migrate.ACTIONS),
                help="apply (the default) the pending migrations, show their status, or roll back the last one",
            )
        if name in OPTIONS:
            OPTIONS[name](command)
    _add_submit(commands.add_parser, common)
    return parser


def parsed(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments, with the checks argparse cannot make on one option alone."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "redrive":
        redrive.check(args, parser)
    return args


def dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 PID` writes every thread's stack to stderr: what a process that stopped answering
    is doing. Not when stderr is no file (captured, or closed): there is nowhere to write them."""
    with contextlib.suppress(RuntimeError, ValueError, OSError):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parsed(argv)
    handoff = Handoff.receive(sys.stdin, args.http_process) if getattr(args, "http_process", None) else None
    if handoff is not None:
        settings = handoff.configuration()
    else:
        loaded = _settings(args)
        if loaded is None:
            return 2
        settings = loaded
    if args.command == "submit":
        return _submit(args, settings)
    dump_stacks_on_sigusr1()
    try:
        telemetry = start_telemetry(
            f"cruncan-{args.command}",
            settings.environment(),
            args.log_level,
            secrets=secret_values(settings),
            log_format=settings.logging.format(),
        )
    except ValueError as exc:
        print(f"cruncan: telemetry configuration error: {exc}", file=sys.stderr)
        return 2
    command = chosen(args, handoff)
    try:
        if handoff is None and settings.messaging.backend() == "kafka":
            check_kafka_connection(settings.messaging.kafka())
        return command(settings, telemetry)
    except SettingsError as exc:
        print(f"cruncan: configuration error: {exc}", file=sys.stderr)
        return 2
    except CruncanError as exc:
        print(f"cruncan {args.command}: {explained(exc)}", file=sys.stderr)
        return 1
    finally:
        telemetry.shutdown()


def _settings(args: argparse.Namespace) -> providers.Configuration | None:
    """The settings the file, environment and flags give, or None once the error is printed."""
    overrides = list(args.overrides)
    if getattr(args, "host", None):
        overrides.append(f"http.host={args.host}")
    if getattr(args, "port", None) is not None:
        overrides.append(f"http.port={args.port}")
    if getattr(args, "auth", False):
        overrides.append("auth.enabled=true")
    if getattr(args, "grpc_host", None):
        overrides.append(f"grpc.host={args.grpc_host}")
    if getattr(args, "grpc_port", None) is not None:
        overrides.append(f"grpc.port={args.grpc_port}")
    try:
        return load_settings(args.config, os.environ, overrides)
    except SettingsError as exc:
        print(f"cruncan: configuration error: {exc}", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
