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
              | {"pasted_spki": "<base64>"}    the one public key a vendor console holds, pasted
                                                as a PEM body on one line (Live Assist, LivePerson
                                                "JWT Public Key"); the header's kid is ignored, as
                                                such a console has nothing to match it against
              | {"salesforce_jwk": {...}}       the single JWK a Salesforce keyset uploads: exactly
                                                kty "RSA", kid, alg "RS256", use "sig", n, e, x5c;
                                                x5c one standard-base64 DER certificate (parsed
                                                by `cryptography`), self-signed (issuer = subject,
                                                its signature verifies with its own key), holding
                                                exactly n and e; the header's kid must be the
                                                JWK's; the token is verified with the
                                                CERTIFICATE's key. With "certificate_valid_through"
                                                (unix seconds) the certificate must be valid from
                                                "certificate_valid_from" (if given) through it
              | {"d365_key_url": "<body>"}     the body of a Dynamics 365 public-key URL: one
                                                PEM text, or a JSON array of {"kid", "publicKey":
                                                <base64 of the PEM text>, "expiry": <integer>}
                                                (exactly these members) from which the header's
                                                kid picks the key
      "rules":  "amazon-connect" | "liveperson" | "live-assist" | "ccai-platform" | "zendesk-messaging"
              | "salesforce-miaw" | "d365-omnichannel" | "freshchat" | "none",
                                                default "none";
                                                checked after the signature (see below)
      "expect": {"sub": "...", "iss": "...", "aud": "...", ...},   optional; every key must
                                                equal the claim (a string `aud` may also be a
                                                member of an array `aud`)
      "expect_absent": ["12345678901", ...],  optional; fail if any of these (non-empty)
                                                strings occurs in the decoded header or claims
                                                (the payload's JSON text as signed, its parsed
                                                form re-serialized, any key or string/number
                                                value) or in the raw token (the JWE too when
                                                decrypting)
      "now":    <unix seconds>                  optional; then also iat <= now + 60 and
                                                now < exp
      "kid":    "<key id>"                      rules "zendesk-messaging": the header's kid must
                                                be exactly this (the key id stored in the secret)
      "lifetime": <seconds>                     rules "freshchat": exp - iat must not exceed this
                                                (the profile's token_lifetime_seconds); default 3600
      "decrypt": {"jwk": {<RSA private JWK>}}  optional; then `token` is a compact JWE
               | {"pkcs8_b64": "<base64 DER>"}  (RSA-OAEP-256 / RSA-OAEP, A256GCM / A128GCM;
                                                any other alg/enc is refused before decrypting)
                                                for this RSA private key, whose protected
                                                header must carry "cty": "JWT"; the decrypted
                                                payload is then checked as the JWS above
    }
Checks run in this order: JWE (if decrypt), JWS shape, signature, rules, now, expect,
expect_absent; the first failure is reported.

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

Rules "zendesk-messaging" (Zendesk messaging end-user authentication):
  - protected header is exactly {"alg":"HS256","typ":"JWT","kid":<kid>} (no other members),
    kid a non-empty string, equal to the request's "kid" when given
  - scope is exactly "user"; external_id a string of 1..255 characters
  - name, email: strings if present; email_verified: a boolean, present only with email
  - exp integer seconds; with "now", 0 < exp - now <= 3600 (a short lifetime)
  - no other claim than scope, external_id, name, email, email_verified, exp, iat

Rules "salesforce-miaw" (Salesforce Enhanced Chat user verification):
  - protected header alg exactly "RS256", kid a non-empty string, typ (if present) "JWT", no
    other member (never jku, x5u, x5c, crit, zip)
  - exactly the claims iss, sub, iat, exp (no aud); iss a non-empty string without surrounding
    whitespace; sub a string of 1..255 characters
  - iat and exp integer seconds with 0 < exp - iat <= 3600

Integer seconds (rules "liveperson" and "live-assist"): a JSON integer (not a float, string
or boolean) in 0..10^11 (larger is taken for milliseconds and refused).

Rules "liveperson" (LivePerson consumer authentication, implicit flow id_token):
  - protected header: alg "RS256", typ (if present) "JWT", kid a non-empty string
  - iss a string; sub a non-empty string; iat and exp integer seconds with exp > iat
  - given_name, family_name, email, phone_number, gender, preferred_username: strings if present
  - lp_sdes, if present: a non-empty JSON array (an object is the known wrong form) whose every
    element is exactly {"type": "ctmrinfo", "info": {...}} or {"type": "personal",
    "personal": {...}}; info and personal are non-empty objects; unknown members anywhere fail
      info: cstatus, ctype, customerId, socialId, imei, userName, companyBranch, accountName,
            role (strings), balance (finite number), currency (a currency code: three capital
            letters, e.g. "USD"), companySize (integer >= 0), loginStatus (integer),
            lastPaymentDate and registrationDate (exactly {"day": 1..31, "month": 1..12,
            "year": 1..9999}, integers)
      personal: firstname, lastname, company (strings), gender ("MALE" | "FEMALE"),
            language (ISO 639-1 code in lowercase, "-" or "_", ISO 3166-1 alpha-2 code in
            uppercase: "en-US", "fr_CA"), age (exactly {"age": >= 0, "year": 1..9999,
            "month": 1..12, "day": 1..31}, integers), contacts (non-empty array of non-empty
            objects with only string "email" and/or "phone")
  - with decrypt: the JWE header's alg is RSA-OAEP-256 or RSA-OAEP and enc A256GCM or A128GCM
    (cty "JWT" is checked for every JWE)

Rules "live-assist" (Live Assist for Dynamics 365):
  - protected header alg exactly "RS256" (other members are not checked)
  - sub a GUID: 8-4-4-4-12 hex digits (either case, no braces)
  - iss a non-empty domain name: dot-separated labels of letters, digits and inner hyphens,
    no scheme, slash, port or spaces (e.g. "www.example.com")
  - iat and exp integer seconds with 0 < exp - iat <= 7200
  - given_name, family_name: strings if present

Rules "ccai-platform" (Google Cloud CCAI Platform web SDK v3 end-user JWT):
  - protected header is exactly {"alg":"HS256","typ":"JWT"} (no other members)
  - members only iss, iat, exp, identifier, name, email (no phone: its name is undocumented)
  - iss a non-empty string (the company name); identifier a string of 1..255 chars that does
    not look like an email address (local@domain.tld); name, email strings if present
  - iat and exp integer seconds with 0 < exp - iat <= 3600

Rules "d365-omnichannel" (Dynamics 365 Contact Center / Omnichannel authenticated chat):
  - protected header exactly {"alg":"RS256","typ":"JWT"} plus a non-empty string kid; the kid
    is required when the key came from a key list (several keys)
  - members only iss, sub, iat, exp, nbf, given_name, family_name, email, phone_number,
    preferred_username, lwicontexts
  - iss a non-empty string; sub a GUID (8-4-4-4-12 hex digits, no braces)
  - iat and exp integer seconds with 0 < exp - iat <= 3600; nbf, if present, integer seconds
    with nbf < exp
  - the five name/contact claims strings if present
  - lwicontexts, if present: a JSON *string* that parses to a flat object of at most 100
    entries whose values are strings, numbers or booleans (no object, array or null)

Rules "freshchat" (Freshchat / Freshdesk Web Chat JWT user authentication):
  - protected header is exactly {"alg":"HS256","typ":"JWT"} (no other members, no kid)
  - members only freshchat_uuid, reference_id, first_name, last_name, email, phone_number, iat, exp
  - freshchat_uuid a canonical UUID: 8-4-4-4-12 lowercase hex digits, nothing around it
  - reference_id a string of 1..255 chars; first_name, last_name, email, phone_number strings of
    1..255 chars if present
  - iat and exp integer seconds with 0 < exp - iat <= "lifetime" (default 3600)
"""

import base64
import json
import math
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
JWE_KEY_ALGS = ("RSA-OAEP-256", "RSA-OAEP")
JWE_ENCS = ("A256GCM", "A128GCM")
MAX_SECONDS = 10**11  # 5138 AD in seconds; a millisecond timestamp of today is ~1.7e12
GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


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


def salesforce_key(spec, header: dict, req: dict):
    """The certificate's public key, after checking the single JWK and its certificate."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not isinstance(spec, dict) or set(spec) != {"kty", "kid", "alg", "use", "n", "e", "x5c"}:
        raise Fail(f"salesforce_jwk must have exactly kty, kid, alg, use, n, e, x5c; got {sorted(spec) if isinstance(spec, dict) else spec}")
    if (spec["kty"], spec["alg"], spec["use"]) != ("RSA", "RS256", "sig"):
        raise Fail("salesforce_jwk must be kty RSA, alg RS256, use sig")
    if header.get("alg") != "RS256":
        raise Fail("a Salesforce token is RS256")
    if header.get("kid") != spec["kid"]:
        raise Fail(f"header kid {header.get('kid')!r} is not the JWK's {spec['kid']!r}")
    x5c = spec["x5c"]
    if not isinstance(x5c, list) or len(x5c) != 1 or not isinstance(x5c[0], str):
        raise Fail("x5c must hold exactly one certificate string")
    try:
        der = base64.b64decode(x5c[0], validate=True)
        cert = x509.load_der_x509_certificate(der)
    except Exception as e:
        raise Fail(f"x5c[0] is not a standard-base64 DER certificate ({type(e).__name__})")
    if cert.issuer != cert.subject:
        raise Fail("the certificate is not self-signed (issuer != subject)")
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise Fail("the certificate does not hold an RSA key")
    try:
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    except Exception as e:
        raise Fail(f"the certificate's self-signature does not verify ({type(e).__name__})")
    numbers = public.public_numbers()
    n = int.from_bytes(b64url_bytes(spec["n"], "n"), "big")
    e = int.from_bytes(b64url_bytes(spec["e"], "e"), "big")
    if (numbers.n, numbers.e) != (n, e):
        raise Fail("the certificate holds another key than the JWK's n and e")
    start = cert.not_valid_before_utc.timestamp()
    end = cert.not_valid_after_utc.timestamp()
    through = req.get("certificate_valid_through")
    if through is not None and end < through:
        raise Fail(f"the certificate ends {datetime.datetime.fromtimestamp(end, datetime.UTC)}, before {through}")
    since = req.get("certificate_valid_from")
    if since is not None and start > since:
        raise Fail(f"the certificate starts {start}, after {since}")
    return jwk.JWK.from_pyca(public), "RS256"


def b64url_bytes(text, name: str) -> bytes:
    if not isinstance(text, str) or not B64URL.match(text) or not text:
        raise Fail(f"{name} is not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


SALESFORCE_CLAIMS = {"iss", "sub", "iat", "exp"}


def salesforce_miaw(header: dict, claims: dict) -> None:
    if header.get("alg") != "RS256" or not set(header) <= {"alg", "kid", "typ"}:
        raise Fail(f"header must be alg RS256 with kid (typ allowed), got {compact(header)}")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise Fail("kid is not a non-empty string")
    if "typ" in header and header["typ"] != "JWT":
        raise Fail(f"typ must be JWT, got {compact(header['typ'])}")
    if set(claims) != SALESFORCE_CLAIMS:
        raise Fail(f"claims must be exactly iss, sub, iat, exp; got {sorted(claims)}")
    iss = claims["iss"]
    if not isinstance(iss, str) or not iss or iss.strip() != iss:
        raise Fail("iss must be a non-empty string without surrounding whitespace")
    sub = claims["sub"]
    if not isinstance(sub, str) or not 1 <= len(sub) <= 255:
        raise Fail("sub must be a string of 1..255 chars")
    life = int_seconds(claims, "exp") - int_seconds(claims, "iat")
    if not 0 < life <= 3600:
        raise Fail(f"exp - iat = {life}, must be in 1..3600")


def pick_key(key_spec, header):
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise Fail("header has no string alg")
    if not isinstance(key_spec, dict) or len(key_spec) != 1:
        raise Fail('key must be {"hmac_utf8": "..."}, {"jwks": {...}} or {"pasted_spki": "..."}')
    if "pasted_spki" in key_spec:
        body = key_spec["pasted_spki"]
        if not isinstance(body, str) or not body or any(c.isspace() for c in body):
            raise Fail("key.pasted_spki must be one line of base64 (a PEM body without BEGIN/END lines)")
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        pem = f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"
        try:
            key = jwk.JWK.from_pem(pem.encode())
        except Exception as e:
            raise Fail(f"key.pasted_spki is not a public key: {e}")
        kty = key.get("kty")
        if alg not in ASYM_ALGS.get(kty, set()):
            raise Fail(f"alg {alg} does not match the pasted {kty} key")
        return key, alg
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
    if "d365_key_url" in key_spec:
        return d365_key(key_spec["d365_key_url"], header, alg)
    raise Fail('key must be {"hmac_utf8": "..."} or {"jwks": {...}}')


def d365_key(body, header: dict, alg: str):
    """The key a Dynamics 365 public-key URL body names for this header."""
    if not isinstance(body, str) or not body:
        raise Fail("key.d365_key_url must be the body text of the public-key URL")
    if body.startswith("-----BEGIN PUBLIC KEY-----"):
        pem = body
    else:
        try:
            entries = json.loads(body)
        except Exception:
            raise Fail("the public-key URL body is neither a PEM text nor JSON")
        if not isinstance(entries, list) or not entries:
            raise Fail("the key list must be a non-empty JSON array")
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"kid", "publicKey", "expiry"}:
                raise Fail(f"a key list entry must be exactly {{kid, publicKey, expiry}}: {compact(entry)}")
            if not isinstance(entry["kid"], str) or not entry["kid"]:
                raise Fail("a key list entry's kid must be a non-empty string")
            if not is_int(entry["expiry"]) or not 0 < entry["expiry"] < MAX_SECONDS:
                raise Fail(f"a key list entry's expiry must be integer seconds: {compact(entry['expiry'])}")
        kid = header.get("kid")
        chosen = [e for e in entries if e["kid"] == kid]
        if len(chosen) != 1:
            raise Fail(f"the key list has no single key with kid {kid!r}")
        try:
            pem = base64.b64decode(chosen[0]["publicKey"], validate=True).decode("ascii")
        except Exception:
            raise Fail("publicKey is not standard base64 of a PEM text")
        if not pem.startswith("-----BEGIN PUBLIC KEY-----\n"):
            raise Fail("publicKey does not decode to a PEM public key")
    try:
        public = serialization.load_pem_public_key(pem.encode("ascii"))
        key = jwk.JWK.from_pyca(public)
    except Exception as e:
        raise Fail(f"the public-key URL's key is not a PEM public key ({type(e).__name__})")
    if alg not in ASYM_ALGS.get(key.get("kty"), set()):
        raise Fail(f"alg {alg} does not match the {key.get('kty')} key")
    return key, alg


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


ZENDESK_CLAIMS = {"scope", "external_id", "name", "email", "email_verified", "exp", "iat"}


def zendesk_messaging(header: dict, claims: dict, req: dict) -> None:
    kid = header.get("kid")
    if set(header) != {"alg", "typ", "kid"} or header["alg"] != "HS256" or header["typ"] != "JWT":
        raise Fail(f'header must be exactly {{"alg":"HS256","typ":"JWT","kid":...}}, got {compact(header)}')
    if not isinstance(kid, str) or not kid:
        raise Fail("kid is not a non-empty string")
    if "kid" in req and kid != req["kid"]:
        raise Fail(f"kid {kid!r} is not the stored key id {req['kid']!r}")
    extra = set(claims) - ZENDESK_CLAIMS
    if extra:
        raise Fail(f"claims Zendesk does not take: {sorted(extra)}")
    if claims.get("scope") != "user":
        raise Fail(f"scope must be \"user\", got {compact(claims.get('scope'))}")
    ext = claims.get("external_id")
    if not isinstance(ext, str) or not 1 <= len(ext) <= 255:
        raise Fail("external_id must be a string of 1..255 chars")
    optional_strings(claims, ("name", "email"))
    if "email_verified" in claims:
        if not isinstance(claims["email_verified"], bool):
            raise Fail(f"email_verified is not a boolean: {compact(claims['email_verified'])}")
        if "email" not in claims:
            raise Fail("email_verified without email")
    exp = int_seconds(claims, "exp")
    now = req.get("now")
    if is_int(now) and not 0 < exp - now <= 3600:
        raise Fail(f"exp - now = {exp - now}, must be in 1..3600")


def compact(v) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def int_seconds(claims: dict, name: str) -> int:
    if name not in claims:
        raise Fail(f"{name} missing")
    v = claims[name]
    if not is_int(v):
        raise Fail(f"{name} is not a JSON integer: {compact(v)}")
    if v < 0:
        raise Fail(f"{name} is negative: {v}")
    if v > MAX_SECONDS:
        raise Fail(f"{name} is {v}: looks like milliseconds, must be seconds (<= 10^11)")
    return v


def optional_strings(claims: dict, names) -> None:
    for name in names:
        if name in claims and not isinstance(claims[name], str):
            raise Fail(f"{name} is not a string: {compact(claims[name])}")


def is_number(v) -> bool:
    return (is_int(v) or isinstance(v, float)) and math.isfinite(v)


def int_in(v, lo, hi=None) -> bool:
    return is_int(v) and v >= lo and (hi is None or v <= hi)


def exact_int_object(v, path: str, ranges: dict) -> None:
    """v must be an object with exactly the members of `ranges`, each an integer in its range."""
    if not isinstance(v, dict):
        raise Fail(f"{path} is not an object: {compact(v)}")
    if set(v) != set(ranges):
        want = ", ".join(ranges)
        raise Fail(f"{path} must have exactly the members {want}, got {', '.join(v) or 'none'}")
    for name, (lo, hi) in ranges.items():
        if not int_in(v[name], lo, hi):
            bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise Fail(f"{path}.{name} must be an integer {bounds}, got {compact(v[name])}")


SDE_DATE = {"day": (1, 31), "month": (1, 12), "year": (1, 9999)}
SDE_AGE = {"age": (0, None), "year": (1, 9999), "month": (1, 12), "day": (1, 31)}
INFO_STRINGS = ("cstatus", "ctype", "customerId", "socialId", "imei", "userName", "companyBranch", "accountName", "role")
# LivePerson's engagement-attribute reference: currency "USD" (a currency code); language "an ISO
# 639-1 language code in lowercase and an ISO 3166-1 country code in uppercase, separated by a dash
# or underscore", e.g. en-US or fr-CA.
CURRENCY = re.compile(r"[A-Z]{3}")
LANGUAGE = re.compile(r"[a-z]{2}[-_][A-Z]{2}")
PERSONAL_STRINGS = ("firstname", "lastname", "company")


def check_members(obj: dict, path: str, allowed) -> None:
    if not obj:
        raise Fail(f"{path} is an empty object")
    for name in obj:
        if name not in allowed:
            raise Fail(f"{path} has unknown member {name!r}")


def check_ctmrinfo(info, path: str) -> None:
    if not isinstance(info, dict):
        raise Fail(f"{path} is not an object: {compact(info)}")
    check_members(info, path, INFO_STRINGS + ("balance", "currency", "companySize", "loginStatus", "lastPaymentDate", "registrationDate"))
    for name, v in info.items():
        where = f"{path}.{name}"
        if name in INFO_STRINGS:
            if not isinstance(v, str):
                raise Fail(f"{where} is not a string: {compact(v)}")
        elif name == "balance":
            if not is_number(v):
                raise Fail(f"{where} is not a finite number: {compact(v)}")
        elif name == "currency":
            if not isinstance(v, str) or not CURRENCY.fullmatch(v):
                raise Fail(f'{where} must be a currency code of three capital letters (e.g. "USD"), got {compact(v)}')
        elif name == "companySize":
            if not int_in(v, 0):
                raise Fail(f"{where} must be an integer >= 0, got {compact(v)}")
        elif name == "loginStatus":
            if not is_int(v):
                raise Fail(f"{where} must be an integer, got {compact(v)}")
        else:
            exact_int_object(v, where, SDE_DATE)


def check_personal(personal, path: str) -> None:
    if not isinstance(personal, dict):
        raise Fail(f"{path} is not an object: {compact(personal)}")
    check_members(personal, path, PERSONAL_STRINGS + ("gender", "language", "age", "contacts"))
    for name, v in personal.items():
        where = f"{path}.{name}"
        if name in PERSONAL_STRINGS:
            if not isinstance(v, str):
                raise Fail(f"{where} is not a string: {compact(v)}")
        elif name == "gender":
            if v not in ("MALE", "FEMALE") or not isinstance(v, str):
                raise Fail(f'{where} must be "MALE" or "FEMALE", got {compact(v)}')
        elif name == "language":
            if not isinstance(v, str) or not LANGUAGE.fullmatch(v):
                raise Fail(f'{where} must be a language like "en-US" (ll-CC or ll_CC), got {compact(v)}')
        elif name == "age":
            exact_int_object(v, where, SDE_AGE)
        else:
            if not isinstance(v, list) or not v:
                raise Fail(f"{where} must be a non-empty array, got {compact(v)}")
            for i, contact in enumerate(v):
                cpath = f"{where}[{i}]"
                if not isinstance(contact, dict):
                    raise Fail(f"{cpath} is not an object: {compact(contact)}")
                check_members(contact, cpath, ("email", "phone"))
                for cname, cv in contact.items():
                    if not isinstance(cv, str):
                        raise Fail(f"{cpath}.{cname} is not a string: {compact(cv)}")


def check_lp_sdes(sdes) -> None:
    if isinstance(sdes, dict):
        raise Fail("lp_sdes is an object; it must be an array of SDEs (the object form is wrong)")
    if not isinstance(sdes, list):
        raise Fail(f"lp_sdes is not an array: {compact(sdes)}")
    if not sdes:
        raise Fail("lp_sdes is an empty array (leave it out instead)")
    for i, sde in enumerate(sdes):
        path = f"lp_sdes[{i}]"
        if not isinstance(sde, dict):
            raise Fail(f"{path} is not an object: {compact(sde)}")
        kind = sde.get("type")
        if kind == "ctmrinfo":
            body = "info"
        elif kind == "personal":
            body = "personal"
        else:
            raise Fail(f'{path}.type must be "ctmrinfo" or "personal", got {compact(kind)}')
        if set(sde) != {"type", body}:
            raise Fail(f'{path} (type {kind}) must have exactly the members type and {body}, got {", ".join(sde)}')
        if kind == "ctmrinfo":
            check_ctmrinfo(sde[body], f"{path}.{body}")
        else:
            check_personal(sde[body], f"{path}.{body}")


def liveperson(header: dict, claims: dict, jwe_header) -> None:
    if header.get("alg") != "RS256":
        raise Fail(f"header alg must be RS256 (LivePerson implicit flow), got {compact(header.get('alg'))}")
    if "typ" in header and header["typ"] != "JWT":
        raise Fail(f'header typ must be "JWT" when present, got {compact(header["typ"])}')
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Fail("header kid missing or not a non-empty string (LivePerson picks the JWKS key by kid)")
    if not isinstance(claims.get("iss"), str):
        raise Fail(f"iss missing or not a string: {compact(claims.get('iss'))}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Fail("sub missing or not a non-empty string")
    iat, exp = int_seconds(claims, "iat"), int_seconds(claims, "exp")
    if not exp > iat:
        raise Fail(f"exp ({exp}) must be after iat ({iat})")
    optional_strings(claims, ("given_name", "family_name", "email", "phone_number", "gender", "preferred_username"))
    if "lp_sdes" in claims:
        check_lp_sdes(claims["lp_sdes"])
    if jwe_header is not None:
        if jwe_header.get("alg") not in JWE_KEY_ALGS:
            raise Fail(f"JWE header alg must be RSA-OAEP-256 or RSA-OAEP, got {compact(jwe_header.get('alg'))}")
        if jwe_header.get("enc") not in JWE_ENCS:
            raise Fail(f"JWE header enc must be A256GCM or A128GCM, got {compact(jwe_header.get('enc'))}")
        if jwe_header.get("cty") != "JWT":
            raise Fail(f'JWE header cty must be "JWT", got {compact(jwe_header.get("cty"))}')


def is_domain(v: str) -> bool:
    if not 1 <= len(v) <= 253:
        return False
    labels = v[:-1].split(".") if v.endswith(".") else v.split(".")
    return all(DOMAIN_LABEL.fullmatch(label) for label in labels)


def live_assist(header: dict, claims: dict) -> None:
    if header.get("alg") != "RS256":
        raise Fail(f"header alg must be exactly RS256 (Live Assist supports only RS256), got {compact(header.get('alg'))}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not GUID.fullmatch(sub):
        raise Fail(f"sub must be a GUID (8-4-4-4-12 hex digits, no braces), got {compact(sub)}")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise Fail(f"iss missing or not a non-empty string: {compact(iss)}")
    if "://" in iss or "/" in iss or ":" in iss or not is_domain(iss):
        raise Fail(f"iss must be a bare domain name (no scheme, slash or port), got {compact(iss)}")
    iat, exp = int_seconds(claims, "iat"), int_seconds(claims, "exp")
    life = exp - iat
    if not 0 < life <= 7200:
        raise Fail(f"exp - iat = {life}, must be in 1..7200")
    optional_strings(claims, ("given_name", "family_name"))


EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
CCAI_MEMBERS = {"iss", "iat", "exp", "identifier", "name", "email"}


def ccai_platform(header: dict, claims: dict) -> None:
    if header != {"alg": "HS256", "typ": "JWT"}:
        raise Fail(f'header must be exactly {{"alg":"HS256","typ":"JWT"}}, got {compact(header)}')
    extra = sorted(set(claims) - CCAI_MEMBERS)
    if extra:
        raise Fail(f"claims CCAI Platform does not define: {extra}")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise Fail(f"iss (the company name) missing or not a non-empty string: {compact(iss)}")
    identifier = claims.get("identifier")
    if not isinstance(identifier, str) or not 1 <= len(identifier) <= 255:
        raise Fail(f"identifier must be a string of 1..255 chars, got {compact(identifier)}")
    if EMAIL_LIKE.fullmatch(identifier):
        raise Fail("identifier looks like an email address: it must be a stable user id")
    optional_strings(claims, ("name", "email"))
    iat, exp = int_seconds(claims, "iat"), int_seconds(claims, "exp")
    life = exp - iat
    if not 0 < life <= 3600:
        raise Fail(f"exp - iat = {life}, must be in 1..3600")


D365_MEMBERS = {
    "iss", "sub", "iat", "exp", "nbf", "given_name", "family_name", "email", "phone_number",
    "preferred_username", "lwicontexts",
}


def d365_omnichannel(header: dict, claims: dict, req: dict) -> None:
    key_spec = req.get("key") or {}
    listed = isinstance(key_spec.get("d365_key_url"), str) and not key_spec["d365_key_url"].startswith("-----")
    base = {k: v for k, v in header.items() if k != "kid"}
    if base != {"alg": "RS256", "typ": "JWT"}:
        raise Fail(f'header must be {{"alg":"RS256","typ":"JWT"}} plus kid, got {compact(header)}')
    if "kid" in header and (not isinstance(header["kid"], str) or not header["kid"]):
        raise Fail("kid must be a non-empty string")
    if listed and "kid" not in header:
        raise Fail("the public-key URL lists several keys: the header needs a kid")
    extra = sorted(set(claims) - D365_MEMBERS)
    if extra:
        raise Fail(f"claims Dynamics 365 does not define: {extra}")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise Fail(f"iss missing or not a non-empty string: {compact(iss)}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not GUID.fullmatch(sub):
        raise Fail(f"sub must be a GUID (8-4-4-4-12 hex digits, no braces), got {compact(sub)}")
    iat, exp = int_seconds(claims, "iat"), int_seconds(claims, "exp")
    if not 0 < exp - iat <= 3600:
        raise Fail(f"exp - iat = {exp - iat}, must be in 1..3600")
    if "nbf" in claims and not int_seconds(claims, "nbf") < exp:
        raise Fail("nbf must be before exp")
    optional_strings(claims, ("given_name", "family_name", "email", "phone_number", "preferred_username"))
    if "lwicontexts" in claims:
        text = claims["lwicontexts"]
        if not isinstance(text, str):
            raise Fail(f"lwicontexts must be a JSON string, got {type(text).__name__}")
        try:
            contexts = json.loads(text)
        except Exception:
            raise Fail("lwicontexts is not serialized JSON")
        if not isinstance(contexts, dict):
            raise Fail("lwicontexts must serialize an object")
        if len(contexts) > 100:
            raise Fail(f"lwicontexts has {len(contexts)} entries, at most 100")
        for name, value in contexts.items():
            primitive = isinstance(value, (str, bool)) or is_int(value) or isinstance(value, float)
            if not primitive:
                raise Fail(f"lwicontexts.{name} is not a primitive value")


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FRESHCHAT_MEMBERS = {"freshchat_uuid", "reference_id", "first_name", "last_name", "email", "phone_number", "iat", "exp"}


def freshchat(header: dict, claims: dict, req: dict) -> None:
    if header != {"alg": "HS256", "typ": "JWT"}:
        raise Fail(f'header must be exactly {{"alg":"HS256","typ":"JWT"}}, got {compact(header)}')
    extra = sorted(set(claims) - FRESHCHAT_MEMBERS)
    if extra:
        raise Fail(f"claims Freshchat does not define: {extra}")
    uuid = claims.get("freshchat_uuid")
    if not isinstance(uuid, str) or not CANONICAL_UUID.fullmatch(uuid):
        raise Fail(f"freshchat_uuid must be a canonical UUID (8-4-4-4-12 lowercase hex), got {compact(uuid)}")
    for name in ("reference_id", "first_name", "last_name", "email", "phone_number"):
        if name == "reference_id" or name in claims:
            v = claims.get(name)
            if not isinstance(v, str) or not 1 <= len(v) <= 255:
                raise Fail(f"{name} must be a string of 1..255 chars, got {compact(v)}")
    lifetime = req.get("lifetime", 3600)
    if not is_int(lifetime) or lifetime <= 0:
        raise Fail("lifetime must be a positive integer")
    iat, exp = int_seconds(claims, "iat"), int_seconds(claims, "exp")
    life = exp - iat
    if not 0 < life <= lifetime:
        raise Fail(f"exp - iat = {life}, must be in 1..{lifetime}")


def strings_in(value, path: str):
    """Yields (path, text) for every key and every string/number value in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            yield sub + " (key)", k
            yield from strings_in(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings_in(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value
    elif is_int(value) or isinstance(value, float):
        yield path, json.dumps(value)


def check_absent(needles, places) -> None:
    if not isinstance(needles, list) or not all(isinstance(n, str) and n for n in needles):
        raise Fail("expect_absent must be an array of non-empty strings")
    for i, needle in enumerate(needles):
        for where, text in places:
            if needle in text:
                raise Fail(f"expect_absent[{i}] {compact(needle)} found in {where}")


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
    if jwe_header.get("alg") not in JWE_KEY_ALGS:
        raise Fail(f"JWE header alg must be RSA-OAEP-256 or RSA-OAEP, got {json.dumps(jwe_header.get('alg'))}")
    if jwe_header.get("enc") not in JWE_ENCS:
        raise Fail(f"JWE header enc must be A256GCM or A128GCM, got {json.dumps(jwe_header.get('enc'))}")
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
    outer_token = token
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

    key_spec = req.get("key")
    if isinstance(key_spec, dict) and set(key_spec) == {"salesforce_jwk"}:
        key, alg = salesforce_key(key_spec["salesforce_jwk"], header, req)
    else:
        key, alg = pick_key(key_spec, header)
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
    elif rules == "liveperson":
        liveperson(header, claims, jwe_header)
    elif rules == "live-assist":
        live_assist(header, claims)
    elif rules == "ccai-platform":
        ccai_platform(header, claims)
    elif rules == "zendesk-messaging":
        zendesk_messaging(header, claims, req)
    elif rules == "salesforce-miaw":
        salesforce_miaw(header, claims)
    elif rules == "d365-omnichannel":
        d365_omnichannel(header, claims, req)
    elif rules == "freshchat":
        freshchat(header, claims, req)
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

    if "expect_absent" in req:
        # most specific first: the error names the first place a string is found in
        places = [(f"claims {path}", text) for path, text in strings_in(claims, "")]
        places += [(f"header {path}", text) for path, text in strings_in(header, "")]
        for part, what, value in ((parts[1], "claims", claims), (parts[0], "header", header)):
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
            places.append((f"the {what} JSON as signed", raw))
            places.append((f"the {what} JSON re-serialized", compact(value)))
        places.append(("the raw token", token))
        if outer_token != token:
            places.append(("the raw JWE", outer_token))
        check_absent(req["expect_absent"], places)

    out = {"ok": True, "header": header, "claims": claims}
    if jwe_header is not None:
        out["jwe_header"] = jwe_header
    return out


def verdict(text: str) -> tuple:
    try:
        try:
            req = json.loads(text)
        except Exception as e:
            raise Fail(f"stdin is not JSON: {e}")
        return verify(req), 0
    except Fail as e:
        return {"ok": False, "error": str(e)}, 1
    except Exception as e:  # never leak the key through a traceback
        return {"ok": False, "error": f"internal error: {type(e).__name__}"}, 1


def main() -> int:
    # --lines: one request per stdin line, one verdict per stdout line, flushed, until EOF
    # (a long-running verifier for tests that check many tokens).
    if sys.argv[1:] == ["--lines"]:
        for line in sys.stdin:
            if line.strip():
                out, _ = verdict(line)
                sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
                sys.stdout.flush()
        return 0
    out, rc = verdict(sys.stdin.read())
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
