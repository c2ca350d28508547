"""Python reference for the cold-start benchmark: mint-token's Amazon Connect path, written the
way a Python team would (boto3 + PyJWT, run by awslambdaric: `python -m awslambdaric app.handler`).

Same work as the Rust function for the sample event: read WHOSCALLING_CONFIG at init, create the
Secrets Manager client at init, check Origin/method/profile, take the API Gateway JWT
authorizer's claims, mask national ids (claim policy `nin`/`national_id` and the rule's `mask`),
map the profile's attribute rules, read the widget key through the SDK (cached in a module
global for `secret_cache.ttl_seconds`, default 300), sign HS256 with header
{"alg":"HS256","typ":"JWT"}, answer {"data": "<jwt>"} with the same headers.
Not implemented (not on the benchmark's path): bearer-token verification against a JWKS, the
LivePerson and Live Assist profiles, bounded staleness during a Secrets Manager outage.
"""

import json
import os
import re
import time

import boto3
import jwt

CONFIG = json.loads(os.environ["WHOSCALLING_CONFIG"])
ALLOWED_ORIGINS = set(CONFIG["allowed_origins"])
MAX_BODY_BYTES = CONFIG.get("max_body_bytes", 8192)
CACHE_TTL = CONFIG.get("secret_cache", {}).get("ttl_seconds", 300)
PROFILES = {name: p for name, p in CONFIG["profiles"].items() if p["platform"] == "amazon-connect"}
MASKED_CLAIMS = {"nin": "national_id", "national_id": "national_id"}
MASKED_CLAIMS.update(CONFIG.get("claim_policy", {}).get("masked_claims", {}))
ATTR_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

SECRETS = boto3.client("secretsmanager")
_secret_cache = {}  # secret id -> (value, fetched_at monotonic)


class ApiError(Exception):
    def __init__(self, status, code, description):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def get_secret(secret_id):
    hit = _secret_cache.get(secret_id)
    if hit and time.monotonic() - hit[1] < CACHE_TTL:
        return hit[0]
    value = SECRETS.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
    _secret_cache[secret_id] = (value, time.monotonic())
    return value


def mask_national_id(value):
    is_digit_or_masked = lambda c: c.isnumeric() or c == "*"  # noqa: E731
    if sum(1 for c in value if is_digit_or_masked(c)) <= 5:
        return "*" * len(value)
    chars, to_mask = list(value), 5
    for i in range(len(chars) - 1, -1, -1):
        if to_mask == 0:
            break
        if is_digit_or_masked(chars[i]):
            chars[i], to_mask = "*", to_mask - 1
    return "".join(chars)


def apply_claim_policy(claims):
    out = dict(claims)
    for name, setting in MASKED_CLAIMS.items():
        if name == "sub" or name not in out or setting != "national_id":
            continue
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            del out[name]
        else:
            out[name] = mask_national_id(value if isinstance(value, str) else json.dumps(value))
    return out


def apply_rule(rule, claims):
    """A claim rule: the string for the token, or None to leave it out."""
    value = claims.get(rule["claim"])
    if value is None:
        if rule.get("if_missing", "skip") == "refuse":
            raise ApiError(403, "insufficient_claims", f"the login has no `{rule['claim']}` claim")
        return None
    convert = rule.get("convert", "strict")
    if isinstance(value, str):
        text = value
    elif convert in ("scalar", "json") and isinstance(value, (bool, int, float)):
        text = json.dumps(value)
    elif convert == "json":
        text = json.dumps(value, separators=(",", ":"))
    else:
        if rule.get("if_unconvertible", "refuse") == "refuse":
            raise ApiError(403, "insufficient_claims", f"claim `{rule['claim']}` cannot be converted")
        return None
    return mask_national_id(text) if rule.get("mask") == "national_id" else text


def connect_claims(profile, claims):
    now = int(time.time())
    token = {"sub": profile["widget_id"], "iat": now, "exp": now + profile["token_lifetime_seconds"]}
    attributes = {}
    for name, rule in sorted(profile.get("attributes", {}).items()):
        if not ATTR_KEY.match(name):
            raise ApiError(500, "server_error", "bad attribute name")
        text = apply_rule(rule, claims)
        if text is not None:
            attributes[name] = text
    if attributes:
        token["attributes"] = attributes
    for field, key, limit in (("customer_id", "customerId", 128), ("related_contact_id", "relatedContactId", 256)):
        if field in profile:
            text = apply_rule(profile[field], claims)
            if text is not None:
                if not 1 <= len(text) <= limit:
                    raise ApiError(403, "insufficient_claims", f"`{key}` must be 1-{limit} characters")
                token[key] = text
    if profile.get("mark_authenticated"):
        token["segmentAttributes"] = {
            "connect:CustomerAuthentication": {"ValueMap": {"Status": {"ValueString": "AUTHENTICATED"}}}
        }
    return token


def respond(status, body, origin):
    headers = {"content-type": "application/json", "cache-control": "no-store", "pragma": "no-cache", "vary": "Origin"}
    if origin:
        headers["access-control-allow-origin"] = origin
    return {"statusCode": status, "headers": headers, "body": json.dumps(body, separators=(",", ":")), "isBase64Encoded": False}


def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    origin = headers.get("origin")
    profile_name = (event.get("pathParameters") or {}).get("profile", "")
    try:
        if origin is not None and origin not in ALLOWED_ORIGINS:
            origin = None
            raise ApiError(403, "origin_not_allowed", "this origin may not call the token endpoint")
        method = event["requestContext"]["http"]["method"]
        if method not in ("GET", "POST"):
            raise ApiError(405, "method_not_allowed", "use GET or POST")
        profile = PROFILES.get(profile_name)
        if profile is None:
            raise ApiError(404, "unknown_profile", "no such token profile")
        if len(event.get("body") or "") > MAX_BODY_BYTES:
            raise ApiError(413, "request_too_large", "request body too large")
        jwt_ctx = (event["requestContext"].get("authorizer") or {}).get("jwt") or {}
        claims = jwt_ctx.get("claims")
        if not claims or "sub" not in claims:
            raise ApiError(401, "missing_token", "no verified identity")
        token_claims = connect_claims(profile, apply_claim_policy(claims))
        key = get_secret(profile["security_key_secret"])
        token = jwt.encode(token_claims, key.encode("utf-8"), algorithm="HS256", headers={"typ": "JWT"})
        response = respond(200, {"data": token}, origin)
    except ApiError as e:
        response = respond(e.status, {"error": e.code, "error_description": e.description}, origin)
    print(json.dumps({"level": "INFO", "message": "token request", "request_id": context.aws_request_id,
                      "profile": profile_name if profile_name in PROFILES else "(unknown)",
                      "status": response["statusCode"]}), flush=True)
    return response
