"""The shim's body limit and error answers on waitress's own parser, byte by byte: a body is
refused exactly when it passes the limit after chunked decoding, however it is cut or chunked."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from waitress.adjustments import Adjustments
from waitress.utilities import BadRequest, Error, RequestHeaderFieldsTooLarge, ServerNotImplemented

from entrypoints.api.waitress_shim import (
    CHUNKED_FRAMING_ALLOWANCE,
    MAX_DETAIL_CHARS,
    BoundedParser,
    RequestTimeout,
    json_error,
)

LIMIT = 1000
HEAD = b"POST /one HTTP/1.1\r\nHost: x\r\n"


def parse(raw: bytes, cuts: list[int]) -> BoundedParser:
    """Feeds `raw` to a parser in pieces cut at `cuts`, as the event loop would as bytes arrive."""
    adjustments = Adjustments(max_request_body_size=2 * LIMIT + CHUNKED_FRAMING_ALLOWANCE)
    parser = BoundedParser(adjustments, max_body_bytes=LIMIT)
    edges = [0, *sorted(cut % (len(raw) + 1) for cut in cuts), len(raw)]
    for start, end in itertools.pairwise(edges):
        piece = raw[start:end]
        while piece and not parser.completed:
            piece = piece[parser.received(piece) :]
    return parser


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, rest = b"", body
    for size in sizes:
        if not rest:
            break
        chunk, rest = rest[:size], rest[size:]
        out += b"%x\r\n%s\r\n" % (len(chunk), chunk)
    if rest:
        out += b"%x\r\n%s\r\n" % (len(rest), rest)
    return out + b"0\r\n\r\n"


sizes = st.integers(min_value=LIMIT - 3, max_value=LIMIT + 3) | st.integers(min_value=0, max_value=3 * LIMIT)
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=8)


@given(size=sizes, cuts=cuts)
@settings(max_examples=200)
def test_a_body_with_a_length_is_refused_exactly_when_it_is_over_the_limit(size: int, cuts: list[int]) -> None:
    parser = parse(HEAD + b"Content-Length: %d\r\n\r\n" % size + b"x" * size, cuts)

    assert parser.completed
    assert (parser.error is not None) == (size > LIMIT)


@given(size=sizes, chunk_sizes=st.lists(st.integers(min_value=1, max_value=400), max_size=20), cuts=cuts)
@settings(max_examples=200)
def test_a_chunked_body_is_refused_exactly_when_its_decoded_size_is_over_the_limit(
    size: int, chunk_sizes: list[int], cuts: list[int]
) -> None:
    parser = parse(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"x" * size, chunk_sizes), cuts)

    assert parser.completed
    assert (parser.error is not None) == (size > LIMIT)
    if parser.error is None:
        assert parser.get_body_stream().read() == b"x" * size


def test_a_length_over_the_limit_is_refused_from_the_headers_alone() -> None:
    parser = parse(HEAD + b"Content-Length: %d\r\n\r\n" % (LIMIT + 1), [])

    assert parser.completed
    assert json_error(parser.error, LIMIT)[0] == "413 Content Too Large"


@pytest.mark.parametrize(
    ("codings", "status"),
    [
        (b"gzip, chunked", "501 Not Implemented"),
        (b"gzip\r\nTransfer-Encoding: chunked", "501 Not Implemented"),
        (b"gzip", "400 Bad Request"),
        (b"chunked, gzip", "400 Bad Request"),
        (b"chunked\r\nTransfer-Encoding: gzip", "400 Bad Request"),
    ],
)
def test_a_coding_the_server_lacks_is_not_implemented_but_a_last_coding_other_than_chunked_is_malformed(
    codings: bytes, status: str
) -> None:
    """RFC 9112: 501 for a transfer coding the server does not understand (6.1), but 400 when chunked
    is not the last coding of a request, as then its body cannot be framed at all (6.3)."""
    parser = parse(HEAD + b"Transfer-Encoding: " + codings + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n", [])

    assert parser.completed
    assert json_error(parser.error, LIMIT)[0] == status


def test_chunked_alone_is_decoded() -> None:
    parser = parse(HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", [])

    assert parser.error is None
    assert parser.get_body_stream().read() == b"{}"


errors = st.sampled_from([BadRequest, RequestHeaderFieldsTooLarge, ServerNotImplemented, RequestTimeout, Error])


@given(kind=errors, detail=st.text())
def test_every_error_waitress_raises_becomes_json_with_a_bounded_detail(kind: type, detail: str) -> None:
    status, body = json_error(kind(detail), LIMIT)

    document = json.loads(body)
    assert set(document) == {"error", "detail"}
    assert len(document["detail"]) <= MAX_DETAIL_CHARS + 3
    assert (
        int(status.split()[0])
        == {
            BadRequest: 400,
            RequestHeaderFieldsTooLarge: 431,
            ServerNotImplemented: 501,
            RequestTimeout: 408,
            Error: 500,
        }[kind]
    )
