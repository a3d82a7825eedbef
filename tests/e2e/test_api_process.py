import http.client
import json
import re
import signal
import socket
import time
from urllib.parse import urlsplit

import urllib3

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


def test_a_real_waitress_server_stores_and_serves_requests(cruncan):
    api = cruncan("api", "--port", "0", "--set", "relay.embedded=false")
    url = api.url()
    http = urllib3.PoolManager()

    created = http.request("POST", f"{url}/one", json=BODY)
    read = http.request("GET", f"{url}{created.headers['Location']}")
    malformed = http.request("POST", f"{url}/one", body=b"{", headers={"Content-Type": "application/json"})

    assert created.status == 201
    assert read.status == 200
    assert read.json()["request"] == BODY
    assert (malformed.status, malformed.json()["error"]) == (400, "malformed_json")
    assert api.terminate() == 0


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _refuses_connections(url: str) -> bool:
    try:
        _connect(url).close()
    except OSError:
        return True
    return False


def test_a_request_in_flight_when_sigterm_arrives_still_gets_its_201(cruncan):
    api = cruncan("api", "--port", "0", "--set", "relay.embedded=false")
    url = api.url()
    body = json.dumps(BODY).encode()
    head = f"POST /one HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    in_flight = _connect(url)
    in_flight.sendall(head.encode() + body[:10])

    api.process.send_signal(15)
    deadline = time.monotonic() + 10
    while not _refuses_connections(url) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _refuses_connections(url), "the server must stop accepting once SIGTERM arrives"
    in_flight.sendall(body[10:])
    answer = http.client.HTTPResponse(in_flight)
    answer.begin()

    assert answer.status == 201
    assert json.loads(answer.read())["request_id"]
    assert api.process.wait(30) == 0
    assert "stopping http server" in api.output()


def test_sigusr1_writes_every_threads_stack_and_the_server_serves_on(cruncan):
    api = cruncan("api", "--port", "0", "--set", "relay.embedded=false")
    url = api.url()

    api.process.send_signal(signal.SIGUSR1)
    api.wait_for_line(re.compile(r"Current thread 0x|Thread 0x"))
    time.sleep(0.5)

    stacks = api.output()
    assert "waitress/wasyncore.py" in stacks, "the event loop's thread is among them"
    assert "lifecycle.py" in stacks, "and the main thread, waiting for a signal"
    assert urllib3.PoolManager().request("GET", f"{url}/healthz").status == 200
    assert api.terminate() == 0
