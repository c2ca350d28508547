"""Independent JWT verifier for the integration tests (signature check by jwcrypto).

Run (after scripts/setup-tools):
    .tools/venv/bin/python tests/peers/verify_jwt.py < request.json

stdin: one JSON object
    {
      "token":  "<compact JWS>",
      "key":    {"hmac_utf8": "<secret>"}      HS256/384/512, key = UTF-8 bytes of the string
                                                as-is (NOT base64-decoded)
              | {"jwks": {"keys": [...]}},     key picked by the header's `kid` (or the only
                                                key of the set when the header has no kid)
      "rules":  "amazon-connect" | "none",     default "none"
      "expect": {"sub": "...", "iss": "...", "aud": "...", ...},   optional; every key must
                                                equal the claim (a string `aud` may also be a
                                                member of an array `aud`)
      "now":    <unix seconds>                  optional; then also iat <= now + 60 and
                                                now < exp
      "decrypt": {"jwk": {<RSA private JWK>}}  optional; then `token` is a compact JWE
               | {"pkcs8_b64": "<base64 DER>"}  (RSA-OAEP-256 / RSA-OAEP, A256GCM / A128GCM)
                                                for this RSA private key, whose protected
                                                header must carry "cty": "JWT"; the decrypted
                                                payload is then checked as the JWS above
    }

stdout: one JSON line; exit 0 with {"ok": true, "header": {...}, "claims": {...}} (plus
"jwe_header": {...} when decrypting), or exit 1 with {"ok": false, "error": "<what failed>"}.
Neither key is ever printed.

Rules "amazon-connect" (the chat widget's authenticated-launch JWT):
  - protected header is exactly {"alg":"HS256","typ":"JWT"} (no other members)
  - `sub` present (a non-empty string); `iat` and `exp` JSON integers (not floats, strings
    or booleans) with 0 < exp - iat <= 600
  - `attributes`, if present: an object whose keys match ^[A-Za-z0-9_-]+$ and whose values
    are all strings
  - `customerId`, if present: a string of 1..128 chars; `relatedContactId`, if present: a
    string of 1..256 chars
  - the whole token is shorter than 3000 chars
"""

import base64
import json
import re
import sys

from cryptography.hazmat.primitives import serialization
from jwcrypto import jwa, jwe, jwk, jws

# jwcrypto refuses HMAC keys shorter than the hash (RFC 7518 3.2), e.g. < 32 bytes for HS256.
# Key length is the secret owner's business, not the token's: verify whatever secret we got.
jwa.default_enforce_hmac_key_length = False

HMAC_ALGS = {"HS256", "HS384", "HS512"}
JWE_ALGS = ["RSA-OAEP-256", "RSA-OAEP", "A256GCM", "A128GCM"]
ASYM_ALGS = {
    "RSA": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
    "EC": {"ES256", "ES384", "ES512"},
    "OKP": {"EdDSA", "Ed25519"},
}
B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
ATTR_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class Fail(Exception):
    pass


def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Fail(f"duplicate JSON member {k!r}")
        obj[k] = v
    return obj


def b64url_json(part: str, what: str):
    if not B64URL.match(part):
        raise Fail(f"{what} is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except Exception:
        raise Fail(f"{what} is not valid base64url")
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except Fail:
        raise
    except Exception as e:
        raise Fail(f"{what} is not valid UTF-8 JSON: {e}")
    if not isinstance(value, dict):
        raise Fail(f"{what} is not a JSON object")
    return value


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def pick_key(key_spec, header):
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise Fail("header has no string alg")
    if not isinstance(key_spec, dict) or len(key_spec) != 1:
        raise Fail('key must be {"hmac_utf8": "..."} or {"jwks": {...}}')
    if "hmac_utf8" in key_spec:
        secret = key_spec["hmac_utf8"]
        if not isinstance(secret, str) or not secret:
            raise Fail("key.hmac_utf8 must be a non-empty string")
        if alg not in HMAC_ALGS:
            raise Fail(f"alg {alg} does not match an HMAC key")
        k = base64.urlsafe_b64encode(secret.encode("utf-8")).rstrip(b"=").decode()
        return jwk.JWK(kty="oct", k=k), alg
    if "jwks" in key_spec:
        try:
            keyset = jwk.JWKSet.from_json(json.dumps(key_spec["jwks"]))
        except Exception as e:
            raise Fail(f"key.jwks is not a valid JWK set: {e}")
        kid = header.get("kid")
        if kid is not None:
            key = keyset.get_key(kid)
            if key is None:
                raise Fail(f"no key with kid {kid!r} in jwks")
        else:
            keys = list(keyset["keys"])
            if len(keys) != 1:
                raise Fail("header has no kid and jwks does not hold exactly one key")
            key = keys[0]
        kty = key.get("kty")
        allowed = HMAC_ALGS if kty == "oct" else ASYM_ALGS.get(kty, set())
        if alg not in allowed:
            raise Fail(f"alg {alg} does not match the {kty} key")
        key_alg = key.get("alg")
        if key_alg is not None and key_alg != alg:
            raise Fail(f"alg {alg} differs from the key's alg {key_alg}")
        return key, alg
    raise Fail('key must be {"hmac_utf8": "..."} or {"jwks": {...}}')


def amazon_connect(token: str, header: dict, claims: dict) -> None:
    if header != {"alg": "HS256", "typ": "JWT"}:
        raise Fail(f'header must be exactly {{"alg":"HS256","typ":"JWT"}}, got {json.dumps(header, separators=(",", ":"))}')
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Fail("sub missing or not a non-empty string")
    for name in ("iat", "exp"):
        if name not in claims:
            raise Fail(f"{name} missing")
        if not is_int(claims[name]):
            raise Fail(f"{name} is not a JSON integer: {json.dumps(claims[name])}")
    life = claims["exp"] - claims["iat"]
    if not 0 < life <= 600:
        raise Fail(f"exp - iat = {life}, must be in 1..600")
    if "attributes" in claims:
        attrs = claims["attributes"]
        if not isinstance(attrs, dict):
            raise Fail("attributes is not an object")
        for k, v in attrs.items():
            if not ATTR_KEY.match(k):
                raise Fail(f"attributes key {k!r} does not match ^[A-Za-z0-9_-]+$")
            if not isinstance(v, str):
                raise Fail(f"attributes[{k!r}] is not a string: {json.dumps(v)}")
    for name, limit in (("customerId", 128), ("relatedContactId", 256)):
        if name in claims:
            v = claims[name]
            if not isinstance(v, str) or not 1 <= len(v) <= limit:
                raise Fail(f"{name} must be a string of 1..{limit} chars")
    if len(token) >= 3000:
        raise Fail(f"token is {len(token)} chars, must be < 3000")


def decryption_key(spec):
    if not isinstance(spec, dict) or len(spec) != 1:
        raise Fail('decrypt must be {"jwk": {...}} or {"pkcs8_b64": "..."}')
    try:
        if "jwk" in spec:
            if not isinstance(spec["jwk"], dict):
                raise Fail("decrypt.jwk must be an object")
            key = jwk.JWK(**spec["jwk"])
        elif "pkcs8_b64" in spec:
            der = base64.b64decode(spec["pkcs8_b64"], validate=True)
            key = jwk.JWK.from_pyca(serialization.load_der_private_key(der, password=None))
        else:
            raise Fail('decrypt must be {"jwk": {...}} or {"pkcs8_b64": "..."}')
    except Fail:
        raise
    except Exception as e:
        raise Fail(f"decrypt key is not a valid private key ({type(e).__name__})")
    if key.get("kty") != "RSA" or not key.has_private:
        raise Fail("decrypt key must be an RSA private key")
    return key


def decrypt_jwe(token: str, spec) -> tuple:
    """Returns (JWE protected header, inner compact JWS)."""
    parts = token.split(".")
    if len(parts) != 5:
        raise Fail(f"token is not a compact JWE (has {len(parts)} parts)")
    jwe_header = b64url_json(parts[0], "JWE protected header")
    if jwe_header.get("cty") != "JWT":
        raise Fail(f'JWE header cty must be "JWT", got {json.dumps(jwe_header.get("cty"))}')
    key = decryption_key(spec)
    try:
        obj = jwe.JWE()
        obj.allowed_algs = JWE_ALGS
        obj.deserialize(token, key=key)
        inner = obj.payload.decode("utf-8")
    except Exception as e:
        raise Fail(f"JWE decryption failed ({type(e).__name__})")
    return jwe_header, inner


def verify(req) -> dict:
    if not isinstance(req, dict):
        raise Fail("input is not a JSON object")
    token = req.get("token")
    if not isinstance(token, str):
        raise Fail("token missing or not a string")
    jwe_header = None
    if "decrypt" in req:
        jwe_header, token = decrypt_jwe(token, req["decrypt"])
    parts = token.split(".")
    if len(parts) != 3:
        raise Fail(f"token is not a compact JWS (has {len(parts)} parts)")
    header = b64url_json(parts[0], "header")
    claims = b64url_json(parts[1], "payload")
    if not B64URL.match(parts[2]) or not parts[2]:
        raise Fail("signature is empty or not unpadded base64url")
    if "crit" in header:
        raise Fail("crit header is not supported")

    key, alg = pick_key(req.get("key"), header)
    try:
        obj = jws.JWS()
        obj.allowed_algs = [alg]
        obj.deserialize(token)
        obj.verify(key, alg=alg)
    except Exception as e:
        raise Fail(f"signature verification failed ({type(e).__name__})")

    rules = req.get("rules", "none")
    if rules == "amazon-connect":
        amazon_connect(token, header, claims)
    elif rules != "none":
        raise Fail(f"unknown rules {rules!r}")

    now = req.get("now")
    if now is not None:
        if not is_int(now):
            raise Fail("now must be an integer")
        if "exp" in claims and not (is_int(claims["exp"]) and now < claims["exp"]):
            raise Fail("token expired (now >= exp)")
        if "iat" in claims and not (is_int(claims["iat"]) and claims["iat"] <= now + 60):
            raise Fail("iat is in the future")

    expect = req.get("expect") or {}
    if not isinstance(expect, dict):
        raise Fail("expect must be an object")
    for name, want in expect.items():
        if name not in claims:
            raise Fail(f"claim {name} missing, expected {json.dumps(want)}")
        got = claims[name]
        if got == want and type(got) is type(want):
            continue
        if name == "aud" and isinstance(got, list) and isinstance(want, str) and want in got:
            continue
        raise Fail(f"claim {name} is {json.dumps(got)}, expected {json.dumps(want)}")

    out = {"ok": True, "header": header, "claims": claims}
    if jwe_header is not None:
        out["jwe_header"] = jwe_header
    return out


def main() -> int:
    try:
        try:
            req = json.loads(sys.stdin.read())
        except Exception as e:
            raise Fail(f"stdin is not JSON: {e}")
        out, rc = verify(req), 0
    except Fail as e:
        out, rc = {"ok": False, "error": str(e)}, 1
    except Exception as e:  # never leak the key through a traceback
        out, rc = {"ok": False, "error": f"internal error: {type(e).__name__}"}, 1
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
