"""An independent OpenID Connect relying party: pyoidc (PyPI `oic`), with its DEFAULT settings.

Second client library for the whoscalling provider tests (the first is npm openid-client,
oidc-rp.mjs). It runs the authorization code flow as pyoidc does out of the box: discovery
(issuer checked), the authorization request by GET, the token request with
client_secret_basic, the id_token checked by pyoidc itself (signature against the discovered
jwks_uri, iss, aud, nonce, exp/iat) and the userinfo request as pyoidc's do_user_info_request
sends it by default: POST with `access_token` in the form body (RFC 6750 2.2).

Run (from the repo root):  .tools/venv/bin/python tests/peers/pyoidc-rp.py '<json>'
Input (argv[1], JSON):
  issuer, client_id, client_secret, redirect_uri
  bearer     the visitor's ID token from the brand's login, sent as `Authorization: Bearer` on
             the GET to the authorization endpoint (the visitor's browser stands in here)
  scope      default "openid"
  extra      optional object of further authorization request parameters (e.g. max_age)
Output, one JSON line on stdout (exit 0 on success, 1 on failure):
  {"discovery", "authorize": {"status", "query_keys"}, "token_response": {"keys", "scope" (space
   separated, as on the wire), "token_type"}, "id_token_claims", "userinfo"}
  {"error": "<exception class>", "message", "step", "cause": <OAuth error body or null>}
The client secret and tokens are never printed.
"""

import json
import logging
import sys
from urllib.parse import urlparse

import requests
from oic import rndstr
from oic.oic import Client
from oic.oic.message import AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

# Diagnostics to stderr; stdout carries the one JSON line.
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)


def main(args):
    step = "discovery"
    try:
        client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
        discovery = client.provider_config(args["issuer"]).to_dict()
        client.store_registration_info(
            RegistrationResponse(client_id=args["client_id"], client_secret=args["client_secret"], redirect_uris=[args["redirect_uri"]])
        )

        step = "authorize"
        state, nonce = rndstr(), rndstr()
        request_args = {
            "client_id": client.client_id,
            "response_type": "code",
            "scope": args.get("scope", "openid").split(),
            "nonce": nonce,
            "redirect_uri": args["redirect_uri"],
            "state": state,
        }
        request_args.update(args.get("extra", {}))
        url = client.construct_AuthorizationRequest(request_args=request_args).request(client.authorization_endpoint)
        answer = requests.get(url, headers={"Authorization": "Bearer " + args["bearer"]}, allow_redirects=False, timeout=30)
        location = answer.headers.get("Location", "")
        if answer.status_code != 302 or not location.startswith(args["redirect_uri"]):
            return fail("authorize", "UnexpectedAnswer", "status %s" % answer.status_code, None)
        response = client.parse_response(AuthorizationResponse, info=urlparse(location).query, sformat="urlencoded")
        if "error" in response:
            return fail("authorize", "AuthorizationError", response.get("error_description", ""), response.to_dict())
        if response["state"] != state:
            return fail("authorize", "StateMismatch", "state differs", None)
        query_keys = sorted(response.keys())

        step = "token"
        token = client.do_access_token_request(state=state, request_args={"code": response["code"]}, authn_method="client_secret_basic")
        if "error" in token:
            return fail("token", "TokenError", token.get("error_description", ""), token.to_dict())
        id_token = token["id_token"]  # an IdToken pyoidc has verified
        claims = id_token.to_dict()
        if claims.get("nonce") != nonce:
            return fail("token", "NonceMismatch", "nonce differs", None)

        step = "userinfo"
        userinfo = client.do_user_info_request(state=state)  # defaults: POST, token in the body
        if "error" in userinfo:
            return fail("userinfo", "UserInfoError", userinfo.get("error_description", ""), userinfo.to_dict())
        userinfo = userinfo.to_dict()
        print(json.dumps({
            "discovery": discovery,
            "authorize": {"status": answer.status_code, "query_keys": query_keys},
            "token_response": {"keys": sorted(token.keys()), "scope": " ".join(token.get("scope") or []), "token_type": token.get("token_type")},
            "id_token_claims": claims,
            "userinfo": userinfo,
        }))
        return 0
    except Exception as error:  # noqa: BLE001 - every failure is reported as one JSON line
        cause = None
        return fail(step, type(error).__name__, str(error).replace(args.get("client_secret", "\0"), "<secret>")[:500], cause)


def fail(step, error, message, cause):
    print(json.dumps({"error": error, "message": message, "step": step, "cause": cause}))
    return 1


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
