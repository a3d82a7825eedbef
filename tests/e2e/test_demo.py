import re
import time

import pytest
import urllib3

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


def test_a_posted_request_is_forwarded_to_the_stand_in_third_party_and_shows_as_forwarded(cruncan):
    demo = cruncan("demo", "--port", "0", "--set", "demo.stand_in_port=0", "--set", "grpc.port=0")
    url = demo.url()
    http = urllib3.PoolManager()

    created = http.request("POST", f"{url}/one", json=BODY)
    assert created.status == 201
    request_id = created.json()["request_id"]

    deadline = time.monotonic() + 20
    while (stored := http.request("GET", f"{url}/one/{request_id}").json())["status"] != "forwarded":
        if time.monotonic() > deadline:
            pytest.fail(f"request {request_id} not forwarded within 20 s: {stored}\n{demo.output()}")
        time.sleep(0.05)

    received = demo.wait_for_line(re.compile(rf"third party received request {request_id} .*"))
    assert re.search(r'prompt\\?": \\?"hello', received.group(0)), "the log shows the body the third party got"
    assert stored["request"] == BODY
    assert demo.terminate() == 0
