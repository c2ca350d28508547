// An independent OpenID Connect relying party (npm `openid-client` 6, a certified RP library)
// for the whoscalling provider integration tests: it runs the authorization code flow against
// our provider as LivePerson / Puzzel / Genesys would, and prints ONE JSON result on stdout.
//
// Run (from the repo root):
//   "$(cat .tools/node-bin)" tests/peers/oidc-rp.mjs '<json>'
// (Node 20+; system `node` works when it is new enough). Diagnostics never go to stdout.
//
// Input (argv[2], JSON):
//   issuer          "http://127.0.0.1:40123" (http is allowed: loopback test issuer)
//   client_id, client_secret
//   redirect_uri    a registered redirect URI
//   auth_method     "client_secret_basic" (default) | "client_secret_post"
//   bearer          the visitor's ID token from the brand's login, sent as
//                   `Authorization: Bearer <bearer>` on the GET to the authorization endpoint
//   scope           default "openid"
//   pkce            default true  (random verifier, S256 challenge)
//   nonce           default true  (random nonce, checked in the id_token; false = the id_token
//                   must carry no nonce)
//   timeout         seconds per HTTP request, default 30
//   step            "full" (default) | "browser" | "token_only" | "userinfo_only"
//
//   step "browser": as "full", but the visitor starts with no credentials at all, as in
//     Puzzel's redirect flow: the GET to the authorization endpoint carries no bearer, and every
//     redirect is followed as a browser would (top-level GETs, a cookie jar honouring Path,
//     Max-Age and Expires, cookies shared across ports of one host as browsers do) until one
//     points at `redirect_uri`; at most `max_redirects` (default 15). Needs no `bearer`.
//     Optional `login_hint` is added to the authorization request (the test provider logs
//     that user in). The output adds "hops": [{"status", "origin", "path", "set_cookies":
//     [names]}] (no query strings: they carry codes), and "cookies_left": [names still in the
//     jar for the issuer's host] .
//
//   step "token_only": no authorize call; needs `code`, `redirect_uri`, optional
//     `code_verifier` and `expected_nonce` (string; absent = the id_token must carry no
//     nonce), optional `userinfo` (bool, default false: also call the userinfo endpoint).
//     The callback URL handed to openid-client is `redirect_uri?code=<code>&iss=<issuer from
//     discovery>` (no state).
//   step "userinfo_only": needs `access_token`, optional `expected_sub` (default: sub not
//     checked); only discovery + userinfo.
//
// Flow (step "full"): discovery(issuer) -> enableNonRepudiationChecks (the id_token signature
// is verified against the discovered jwks_uri) -> buildAuthorizationUrl (state, nonce,
// code_challenge S256) -> GET it with the bearer header, redirect: manual, expect 302/303 ->
// authorizationCodeGrant(callback URL = Location; checks state, RFC 9207 `iss`, nonce,
// id_token) -> fetchUserInfo(access_token, expected sub = id_token sub).
//
// Output on success (exit 0), one line:
//   {"discovery": <server metadata>,
//    "request": {"authorization_url", "state", "nonce", "code_verifier"}      (full only)
//    "authorize_response": {"status", "location"}                             (full only)
//    "callback": "<Location URL handed to openid-client>",
//    "token_response": {"status", "keys": [sorted member names], "token_type", "expires_in",
//                       "scope", "cache_control", "pragma", "content_type"}   (raw, as sent)
//    "access_token": "...", "id_token": "<compact JWS>",
//    "id_token_header": {...}, "id_token_claims": {...},
//    "at_hash_matches": true | false | null (null = no at_hash claim; openid-client itself
//                       does not check at_hash in the code flow, this script does),
//    "userinfo": {...} | null,
//    "claim_types": {"id_token": {<claim>: <typeof>}, "userinfo": {...} | null}}
//                       typeof of each claim as openid-client returns it ("string",
//                       "boolean", "number", "object"; "array" and "null" told apart)
// step "userinfo_only" prints {"discovery", "userinfo"}.
//
// Output on failure (exit 1), one line:
//   {"error": <error.code or error.name>, "message": "...", "cause": <OAuth error body /
//    authorization error parameters, or null>, "step": "input|discovery|authorize|token|userinfo",
//    "status": <HTTP status or null>, "www_authenticate": [<parsed challenges>] | null,
//    "detail": <openid-client's structured cause (expected value, claims...) or null>}
// The client secret is never printed (the output is also scrubbed for it).

import crypto from 'node:crypto';
import * as client from 'openid-client';

// Anything a library logs goes to stderr; stdout carries the one JSON line.
console.log = console.error;
console.info = console.error;
process.stdout.on('error', () => {});

let secretForScrub = '';
let step = 'input';
let tokenEndpoint = null;
let userinfoEndpoint = null;
let rawToken = null;

function emit(obj, code) {
  const text = JSON.stringify(obj, jsonReplacer);
  process.stdout.write(text + '\n', () => process.exit(code));
}

// Belt and braces: no string value in the output may carry the client secret (a short test
// secret is only redacted as a whole value, so that it cannot mangle ordinary words).
function scrub(value) {
  if (!secretForScrub || typeof value !== 'string') return value;
  if (value === secretForScrub) return '[redacted]';
  if (secretForScrub.length >= 8) return value.split(secretForScrub).join('[redacted]');
  return value;
}

function jsonReplacer(_key, value) {
  if (typeof value === 'string') return scrub(value);
  if (value instanceof URL) return value.href;
  if (value instanceof URLSearchParams) return Object.fromEntries(value.entries());
  if (typeof Response !== 'undefined' && value instanceof Response) {
    return { status: value.status, content_type: value.headers.get('content-type') };
  }
  if (value instanceof Headers) return Object.fromEntries(value.entries());
  if (value instanceof Error) {
    return { name: value.name, code: value.code, message: value.message };
  }
  if (typeof value === 'bigint') return String(value);
  return value;
}

class StepError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'StepError';
    this.code = code;
    this.extra = extra;
  }
}

function b64uJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

async function bodyOf(response) {
  try {
    const text = await response.clone().text();
    try {
      return JSON.parse(text);
    } catch {
      return text.length > 2000 ? text.slice(0, 2000) + '...' : text;
    }
  } catch {
    return null;
  }
}

async function describeError(err) {
  const out = {
    error: err?.code ?? err?.name ?? 'Error',
    message: String(err?.message ?? err),
    cause: null,
    step,
    status: null,
    www_authenticate: null,
    detail: null,
  };
  if (err instanceof StepError) {
    Object.assign(out, err.extra);
    return out;
  }
  if (err instanceof client.ResponseBodyError) {
    // An OAuth error body (RFC 6749 5.2 / RFC 6750 3.1) with a non-2xx status.
    out.cause = err.cause;
    out.status = err.status;
    return out;
  }
  if (err instanceof client.AuthorizationResponseError) {
    // error=... in the redirect; that is the authorization endpoint's answer.
    out.step = 'authorize';
    out.cause = Object.fromEntries(err.cause.entries());
    return out;
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // oauth4webapi checks WWW-Authenticate before it looks at the body (token 401
    // invalid_client with `WWW-Authenticate: Basic`, userinfo 401 invalid_token).
    out.www_authenticate = err.cause;
    out.status = err.status;
    if (err.response) out.cause = await bodyOf(err.response);
    return out;
  }
  const inner = err?.cause;
  if (inner instanceof Error) {
    if (inner.message && inner.message !== out.message) out.message = `${out.message}: ${inner.message}`;
    if (inner.cause !== undefined && !(inner.cause instanceof Response)) out.detail = inner.cause;
    if (inner.cause instanceof Response) {
      out.status = inner.cause.status;
      out.cause = await bodyOf(inner.cause);
    }
  } else if (typeof Response !== 'undefined' && inner instanceof Response) {
    // unexpected HTTP status / content type: show what the server said.
    out.status = inner.status;
    out.cause = await bodyOf(inner);
    out.detail = { content_type: inner.headers.get('content-type') };
  } else if (inner !== undefined) {
    out.detail = inner;
  }
  return out;
}

function parseInput() {
  const arg = process.argv[2];
  if (!arg) throw new StepError('invalid_input', 'usage: oidc-rp.mjs \'<json>\' (see the header)');
  let input;
  try {
    input = JSON.parse(arg);
  } catch (e) {
    throw new StepError('invalid_input', `argv[2] is not JSON: ${e.message}`);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new StepError('invalid_input', 'argv[2] must be a JSON object');
  }
  if (typeof input.client_secret === 'string') secretForScrub = input.client_secret;
  const mode = input.step ?? 'full';
  if (!['full', 'browser', 'token_only', 'userinfo_only'].includes(mode)) {
    throw new StepError('invalid_input', `unknown step ${JSON.stringify(mode)}`);
  }
  const need = ['issuer', 'client_id', 'client_secret'];
  if (mode === 'full') need.push('redirect_uri', 'bearer');
  if (mode === 'browser') need.push('redirect_uri');
  if (mode === 'token_only') need.push('redirect_uri', 'code');
  if (mode === 'userinfo_only') need.push('access_token');
  for (const name of need) {
    if (typeof input[name] !== 'string' || input[name].length === 0) {
      throw new StepError('invalid_input', `"${name}" must be a non-empty string`);
    }
  }
  const authMethod = input.auth_method ?? 'client_secret_basic';
  if (!['client_secret_basic', 'client_secret_post'].includes(authMethod)) {
    throw new StepError('invalid_input', `unsupported auth_method ${JSON.stringify(authMethod)}`);
  }
  return {
    ...input,
    mode,
    authMethod,
    scope: input.scope ?? 'openid',
    pkce: input.pkce ?? true,
    useNonce: input.nonce ?? true,
    timeout: input.timeout ?? 30,
    maxRedirects: input.max_redirects ?? 15,
  };
}

// A browser's cookie jar, enough for loopback test servers: cookies by (host, path, name);
// browsers do not separate ports (RFC 6265 8.5), so neither does this.
class Jar {
  constructor() {
    this.cookies = new Map();
  }

  take(url, response) {
    const now = Date.now();
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split('=');
        const v = rest.join('=').trim();
        const k = key.trim().toLowerCase();
        if (k === 'path' && v.startsWith('/')) path = v;
        if (k === 'max-age' && Number(v) <= 0) expired = true;
        if (k === 'expires' && Date.parse(v) <= now) expired = true;
      }
      const key = `${url.hostname} ${path} ${name}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { host: url.hostname, path, name, value });
    }
  }

  header(url) {
    const matches = (path) => url.pathname === path || url.pathname.startsWith(path.endsWith('/') ? path : `${path}/`);
    return [...this.cookies.values()]
      .filter((c) => c.host === url.hostname && matches(c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  names(host) {
    return [...this.cookies.values()].filter((c) => c.host === host).map((c) => c.name).sort();
  }
}

// Follows redirects from `start` as a browser until one points at `redirectUri`; returns
// that Location and the hops.
async function browse(start, redirectUri, input) {
  const jar = new Jar();
  const target = new URL(redirectUri);
  const hops = [];
  let url = start;
  for (let i = 0; i < input.maxRedirects; i += 1) {
    const cookie = jar.header(url);
    const response = await fetch(url, {
      headers: cookie ? { cookie } : {},
      redirect: 'manual',
      signal: AbortSignal.timeout(input.timeout * 1000),
    });
    jar.take(url, response);
    const setCookies = response.headers.getSetCookie().map((line) => line.split('=')[0].trim());
    hops.push({ status: response.status, origin: url.origin, path: url.pathname, set_cookies: setCookies });
    const location = response.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(response.status) || !location) {
      throw new StepError('unexpected_authorize_response',
        `${url.origin}${url.pathname} answered ${response.status}${location ? '' : ' without Location'}`,
        { status: response.status, cause: await bodyOf(response), detail: { hops } });
    }
    const next = new URL(location, url);
    if (next.origin === target.origin && next.pathname === target.pathname) {
      return { status: response.status, location, callback: next, hops, jar };
    }
    url = next;
  }
  throw new StepError('too_many_redirects', `no redirect to ${redirectUri} after ${input.maxRedirects}`, { detail: { hops } });
}

// Records the raw token endpoint response (openid-client lower-cases token_type and parses
// expires_in), and tells apart "authorize" (callback validation) from "token" failures.
async function recordingFetch(url, options) {
  const href = String(url);
  if (tokenEndpoint && href === tokenEndpoint) step = 'token';
  if (userinfoEndpoint && href === userinfoEndpoint) step = 'userinfo';
  const response = await fetch(url, options);
  if (tokenEndpoint && href === tokenEndpoint) {
    let body = null;
    try {
      body = JSON.parse(await response.clone().text());
    } catch {
      body = null;
    }
    rawToken = { status: response.status, headers: response.headers, body };
  }
  return response;
}

function tokenSummary() {
  if (!rawToken) return null;
  const b = rawToken.body && typeof rawToken.body === 'object' ? rawToken.body : {};
  return {
    status: rawToken.status,
    keys: Object.keys(b).sort(),
    token_type: b.token_type,
    expires_in: b.expires_in,
    scope: b.scope,
    cache_control: rawToken.headers.get('cache-control'),
    pragma: rawToken.headers.get('pragma'),
    content_type: rawToken.headers.get('content-type'),
  };
}

// The JavaScript type of each claim as openid-client hands it to the application (what a
// relying party's `if (claims.email_verified)` sees), with arrays and null told apart.
function claimTypes(claims) {
  const types = {};
  for (const [name, value] of Object.entries(claims)) {
    types[name] = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  }
  return types;
}

function atHashMatches(idToken, header, claims, accessToken) {
  if (claims.at_hash === undefined) return null;
  const hash = { RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', RS384: 'sha384',
    PS384: 'sha384', ES384: 'sha384', RS512: 'sha512', PS512: 'sha512', ES512: 'sha512' }[header.alg];
  if (!hash) return false;
  const digest = crypto.createHash(hash).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url') === claims.at_hash;
}

async function main() {
  const input = parseInput();

  step = 'discovery';
  const auth = input.authMethod === 'client_secret_post'
    ? client.ClientSecretPost(input.client_secret)
    : client.ClientSecretBasic(input.client_secret);
  const config = await client.discovery(
    new URL(input.issuer),
    input.client_id,
    input.client_secret,
    auth,
    {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: recordingFetch,
      timeout: input.timeout,
    },
  );
  client.enableNonRepudiationChecks(config);
  const as = config.serverMetadata();
  tokenEndpoint = typeof as.token_endpoint === 'string' ? new URL(as.token_endpoint).href : null;
  userinfoEndpoint = typeof as.userinfo_endpoint === 'string' ? new URL(as.userinfo_endpoint).href : null;
  const discovery = JSON.parse(JSON.stringify(as));

  if (input.mode === 'userinfo_only') {
    step = 'userinfo';
    const userinfo = await client.fetchUserInfo(
      config,
      input.access_token,
      input.expected_sub ?? client.skipSubjectCheck,
    );
    return { discovery, userinfo };
  }

  let callback;
  let checks;
  let request;
  let authorizeResponse;
  let hops;
  let cookiesLeft;
  if (input.mode === 'full' || input.mode === 'browser') {
    step = 'authorize';
    const codeVerifier = input.pkce ? client.randomPKCECodeVerifier() : undefined;
    const nonce = input.useNonce ? client.randomNonce() : undefined;
    const state = client.randomState();
    const parameters = { redirect_uri: input.redirect_uri, scope: input.scope, state };
    if (nonce) parameters.nonce = nonce;
    if (typeof input.login_hint === 'string') parameters.login_hint = input.login_hint;
    if (codeVerifier) {
      parameters.code_challenge = await client.calculatePKCECodeChallenge(codeVerifier);
      parameters.code_challenge_method = 'S256';
    }
    const url = client.buildAuthorizationUrl(config, parameters);
    request = { authorization_url: url.href, state, nonce: nonce ?? null, code_verifier: codeVerifier ?? null };

    if (input.mode === 'browser') {
      const browsed = await browse(url, input.redirect_uri, input);
      callback = browsed.callback;
      authorizeResponse = { status: browsed.status, location: browsed.location };
      hops = browsed.hops;
      cookiesLeft = browsed.jar.names(new URL(input.issuer).hostname);
    } else {
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${input.bearer}` },
        redirect: 'manual',
        signal: AbortSignal.timeout(input.timeout * 1000),
      });
      const location = response.headers.get('location');
      if ((response.status !== 302 && response.status !== 303) || !location) {
        throw new StepError('unexpected_authorize_response',
          `authorization endpoint answered ${response.status}${location ? '' : ' without Location'}`,
          { status: response.status, cause: await bodyOf(response),
            detail: { content_type: response.headers.get('content-type'), location } });
      }
      callback = new URL(location, url);
      authorizeResponse = { status: response.status, location };
    }
    checks = {
      pkceCodeVerifier: codeVerifier,
      expectedNonce: nonce,
      expectedState: state,
      idTokenExpected: true,
    };
  } else {
    // token_only: the code came from elsewhere (e.g. POST /oauth2/code).
    step = 'authorize'; // building/validating the callback, before the token request
    callback = new URL(input.redirect_uri);
    callback.search = '';
    callback.hash = '';
    callback.searchParams.set('code', input.code);
    callback.searchParams.set('iss', as.issuer);
    checks = {
      pkceCodeVerifier: input.code_verifier,
      expectedNonce: input.expected_nonce,
      idTokenExpected: true,
    };
  }

  const tokens = await client.authorizationCodeGrant(config, callback, checks);
  step = 'token';
  const idToken = tokens.id_token;
  const claims = tokens.claims();
  const header = b64uJson(idToken.split('.')[0]);
  const result = {
    discovery,
    ...(request ? { request, authorize_response: authorizeResponse } : {}),
    ...(hops ? { hops, cookies_left: cookiesLeft } : {}),
    callback: callback.href,
    token_response: tokenSummary(),
    access_token: tokens.access_token,
    id_token: idToken,
    id_token_header: header,
    id_token_claims: claims,
    at_hash_matches: atHashMatches(idToken, header, claims, tokens.access_token),
    userinfo: null,
    claim_types: { id_token: claimTypes(claims), userinfo: null },
  };

  if (input.mode === 'full' || input.mode === 'browser' || input.userinfo === true) {
    step = 'userinfo';
    result.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    result.claim_types.userinfo = claimTypes(result.userinfo);
  }
  return result;
}

try {
  const result = await main();
  emit(result, 0);
} catch (err) {
  let out;
  try {
    out = await describeError(err);
  } catch (e) {
    out = { error: 'Error', message: String(err?.message ?? err), cause: null, step,
      status: null, www_authenticate: null, detail: `describeError failed: ${e.message}` };
  }
  emit(out, 1);
}
