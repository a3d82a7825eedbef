"""`cruncan demo`: the API, the relay and the worker in one process, every port in memory, and the
token API and third party stood in for over HTTP, so a request goes the whole way."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from entrypoints.api.main import api_services
from entrypoints.demo.container import build_container
from entrypoints.lifecycle import Service, run_until_signalled
from entrypoints.worker.main import consumer

STAND_IN_STOP_S = 5.0


def instructions(url: str, stand_in_url: str, grpc_target: str, token: str | None = None) -> str:
    """What to paste to try the demo; with a `token` (authentication on), every example sends it."""
    http_auth = ' -H "Authorization: Bearer $TOKEN"' if token else ""
    grpc_auth = ' -H "authorization: Bearer $TOKEN"' if token else ""
    submit_auth = ' --token "$TOKEN"' if token else ""
    authentication = [
        "authentication is on; a token for demo-user (one:write one:read, valid 1 h) from the stand-in issuer:",
        f"  TOKEN={token}",
    ]
    return "\n".join(
        [
            f"cruncan demo listening on {url} (everything in memory; Ctrl-C to stop)",
            f"open {url}/ in a browser to send requests and watch them go through; API docs at {url}/docs",
            f"the worker forwards to the stand-in token API and third party on {stand_in_url}, which log what they get",
            *(authentication if token else []),
            "try:",
            f"  curl -si -X POST {url}/one -H 'Content-Type: application/json'{http_auth} \\",
            """    -d '{"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'""",
            f"  curl -s{http_auth} {url}/one/<request_id from the answer above>   # status: forwarded, a moment later",
            f"gRPC (cruncan.one.v1.OneService, with reflection) on {grpc_target}:",
            f"""  cruncan submit --target {grpc_target}{submit_auth} '{{"user_id": "user-1", "prompt": "hello"}}'""",
            f"""  grpcurl -plaintext{grpc_auth} -d '{{"user_id": "user-1", "prompt": "hello"}}' {grpc_target} """
            "cruncan.one.v1.OneService/Submit",
        ]
    )


def run(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = print) -> int:
    container = build_container(settings, telemetry)
    api = container.api()
    try:
        stand_in = container.stand_in.server()
        forwarding, forwarding_timeout_s = consumer(container.worker())
        server, services = api_services(api, [container.page()])
        rpc = container.grpc.server()
        everything: list[tuple[Service, float]] = [(stand_in, STAND_IN_STOP_S), (forwarding, forwarding_timeout_s)]
        clean = run_until_signalled(
            [*everything, *services, (rpc, container.config.grpc.shutdown_timeout_s())],
            on_started=lambda: announce(instructions(server.url, stand_in.url, rpc.target, container.tokens()())),
        )
    finally:
        container.shutdown_resources()
        api.unwire()
    return 0 if clean else 1
