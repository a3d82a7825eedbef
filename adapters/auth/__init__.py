"""Bearer-token verification: JWTs checked with PyJWT against keys from a JWKS URL."""
