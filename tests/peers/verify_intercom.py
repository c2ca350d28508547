"""Independent check of an Intercom Messenger user JWT (PyJWT), under Intercom's rules.

Run: .tools/venv/bin/python tests/peers/verify_intercom.py < request.json

stdin: {"token": "<jwt>", "secret": "<Messenger API secret as shown>", "lifetime": <seconds>,
        "now": <unix seconds, optional>, "expect": {claim: value, ...} (optional),
        "expect_absent": ["...", ...] (optional)}
The secret must itself be valid base64 (as Intercom's hex secrets are), so that the check "the
base64-decoded secret does NOT verify" means something.

Checks, first failure reported:
  - header exactly {"alg": "HS256", "typ": "JWT"} (no kid, nothing else)
  - the signature verifies with the secret's UTF-8 bytes, and does NOT with its base64-decoded
    bytes (a service that decodes the secret signs with the wrong key)
  - user_id present, a string of 1..255 characters
  - iat and exp JSON integers with 0 < exp - iat <= lifetime <= 7200; with now: iat <= now + 60
    and now < exp
  - every other claim a string of 1..255 characters (Intercom's signed attributes)
  - expect: each value equal; expect_absent: none of the strings in the token's header or claims
stdout: one JSON line, {"ok": true, "header": {...}, "claims": {...}} or {"ok": false, "error": ...}
(exit 1). The secret is never printed.
"""

import base64
import binascii
import json
import sys

import jwt


class Fail(Exception):
    pass


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check(request: dict) -> dict:
    token, secret, lifetime = request["token"], request["secret"], request["lifetime"]
    header = jwt.get_unverified_header(token)
    if header != {"alg": "HS256", "typ": "JWT"}:
        raise Fail(f"header must be exactly {{\"alg\":\"HS256\",\"typ\":\"JWT\"}}, got {json.dumps(header)}")
    options = {"require": ["exp", "iat"], "verify_exp": "now" in request}
    try:
        claims = jwt.decode(token, secret.encode("utf-8"), algorithms=["HS256"], options=options,
                            leeway=0 if "now" not in request else 60)
    except jwt.InvalidTokenError as e:
        raise Fail(f"does not verify with the secret's UTF-8 bytes: {e}")
    try:
        decoded = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise Fail("the test secret must be valid base64 for the decoded-secret check to mean anything")
    try:
        jwt.decode(token, decoded, algorithms=["HS256"], options={"verify_exp": False})
        raise Fail("verifies with the base64-decoded secret: it must be the UTF-8 bytes")
    except jwt.InvalidSignatureError:
        pass
    user_id = claims.get("user_id")
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 255:
        raise Fail("user_id missing or not a string of 1..255 characters")
    iat, exp = claims["iat"], claims["exp"]
    if not is_int(iat) or not is_int(exp):
        raise Fail("iat and exp must be JSON integers")
    if not (is_int(lifetime) and 0 < lifetime <= 7200):
        raise Fail("the profile's lifetime must be 1..7200")
    if not 0 < exp - iat <= lifetime:
        raise Fail(f"exp - iat = {exp - iat}, must be in 1..{lifetime}")
    if "now" in request:
        now = request["now"]
        if not (iat <= now + 60 and now < exp):
            raise Fail(f"not valid at {now}")
    for name, value in claims.items():
        if name in ("iat", "exp"):
            continue
        if not isinstance(value, str) or not 1 <= len(value) <= 255:
            raise Fail(f"{name} is not a string of 1..255 characters: {json.dumps(value)[:40]}")
    for name, value in request.get("expect", {}).items():
        if claims.get(name) != value:
            raise Fail(f"{name} differs from the expected value")
    seen = json.dumps([header, claims], ensure_ascii=False)
    for needle in request.get("expect_absent", []):
        if needle and needle in seen:
            raise Fail("a value that must not be in the token is there")
    return {"ok": True, "header": header, "claims": claims}


def main() -> int:
    try:
        print(json.dumps(check(json.load(sys.stdin))))
        return 0
    except (Fail, jwt.PyJWTError, KeyError, ValueError) as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
