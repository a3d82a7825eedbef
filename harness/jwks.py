"""An issuer the tests control: key pairs, tokens signed as any issuer might (or as an attacker would),
and a JWKS served over real HTTP that can rotate its keys, count its fetches and go down."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.test/"
AUDIENCE = "cruncan-test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    @property
    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.algorithm.startswith(("RS", "PS")) else ECAlgorithm
        public: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header})


def rsa_key(kid: str | None = None, algorithm: str = "RS256") -> SigningKey:
    return SigningKey(
        kid or uuid.uuid4().hex, algorithm, rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


def ec_key(kid: str | None = None) -> SigningKey:
    return SigningKey(kid or uuid.uuid4().hex, "ES256", ec.generate_private_key(ec.SECP256R1()))


def claims(
    subject: str = "user-1", scope: str = "one:write one:read", lifetime_s: int = 300, **overrides: Any
) -> dict[str, Any]:
    """Claims that pass every check; `overrides` replaces any (a value of None removes the claim, and
    `from_now(seconds)` is a time counted from when the claims are made, not when a test was collected)."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + lifetime_s, "scope": scope}
    merged = {**base, **overrides}
    resolved = {name: value.at(now) if isinstance(value, from_now) else value for name, value in merged.items()}
    return {name: value for name, value in resolved.items() if value is not None}


@dataclass(frozen=True)
class from_now:  # noqa: N801 - reads as a function at its call sites
    """A time claim `seconds` after the moment the claims are made."""

    seconds: int

    def at(self, now: int) -> int:
        return now + self.seconds


def unsigned(claims_: dict[str, Any], kid: str) -> str:
    """An `alg: none` token."""
    return _compact({"alg": "none", "typ": "JWT", "kid": kid}, claims_, b"")


def hmac_signed_with(secret: bytes, claims_: dict[str, Any], kid: str, algorithm: str = "HS256") -> str:
    """A token MACed with `secret` (an attacker's choice: the issuer's public key)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[algorithm]
    header = {"alg": algorithm, "typ": "JWT", "kid": kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims_).encode())}".encode()
    return _compact(header, claims_, hmac.new(secret, signing_input, digest).digest())


def _compact(header: dict[str, Any], claims_: dict[str, Any], signature: bytes) -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims_).encode()), _b64(signature)])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class JwksServer:
    """Serves `{"keys": [...]}` at `url` from `keys`, counting fetches; `down()` stops listening
    (connections refused), `up()` listens again on the same port."""

    def __init__(self, keys: list[SigningKey] | None = None) -> None:
        self.keys: list[SigningKey] = list(keys or [])
        self.fetches = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def document(self) -> dict[str, Any]:
        return {"keys": [key.jwk for key in self.keys]}

    def up(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.fetches += 1
                body = json.dumps(owner.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="jwks-server", daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.down()
