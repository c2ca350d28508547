// A deliberately HOSTILE OpenID Provider for the whoscalling relying-party refusal tests.
// The good path is tested against oidc-provider.mjs; this one misbehaves on demand.
//
// Run (after scripts/setup-tools):
//   "$(cat .tools/node-bin)" tests/peers/hostile-op.mjs
// It listens on 127.0.0.1 on a random free port, prints exactly one line
// `listening on http://127.0.0.1:<port>` to stdout when ready (that URL is the issuer), and
// exits when its stdin reaches EOF. Diagnostics go to stderr only (HOSTILE_DEBUG=1 logs
// every request).
//
// Endpoints: discovery, GET /authorize (no login UI: records client_id, redirect_uri, state,
// nonce, code_challenge and at once answers 302 to redirect_uri?code&state&iss), POST /token
// (client_secret_basic or client_secret_post; PKCE S256 checked when a challenge was sent;
// codes single-use, 60 s), GET /userinfo (Bearer), GET /jwks. Client id/secret: env
// HOSTILE_CLIENT_ID / HOSTILE_CLIENT_SECRET (default whoscalling / hostile-secret); any
// redirect_uri is accepted. The user is always `mallory`.
//
// Normal id_token (RS256, kid rs-1): iss, sub "mallory", aud [client_id], iat, exp (iat+300),
// auth_time, nonce (as sent to /authorize, omitted if none), at_hash, name "Mallory",
// nin "01020312345", nin_type "PERSON", nin_issuing_country "NO".
//
// Control (the state applies to every following request until the next POST replaces it;
// id_token defects act when /token mints the token):
//   POST /control {"defect": "<name>" | null, "alg": "RS256" | "ES256"}   (alg default RS256,
//        the normal signer: rs-1 or es-1). Unknown defect -> 400 listing the known ones.
//   GET  /control/requests -> {"authorize": n, "jwks": n, "token": n, "userinfo": n}
//        (cumulative since start: compare before/after).
// Defects:
//   wrong_nonce            nonce claim = recorded nonce + "-altered"
//   missing_nonce          no nonce claim
//   wrong_audience         aud = "other-client"
//   extra_untrusted_audience  aud = [client_id, "someone-else"], azp = client_id
//   wrong_issuer           iss = issuer + "/x"
//   expired                iat = now - 4000, exp = now - 3600
//   issued_in_future       iat = now + 3600, exp = now + 7200
//   tampered               validly signed, then payload nin "01020312345" -> "01020312346",
//                          payload re-encoded, original signature kept
//   bad_at_hash            at_hash of a different access token
//   alg_none               unsigned: header {"alg":"none"}, empty signature
//   hs256_with_public_key  HS256, kid rs-1, HMAC key = rs-1's public key as SPKI PEM text
//                          (OpenSSL layout, trailing "\n")
//   unknown_kid            RS256 with kid "rogue-1", never published
//   unknown_kid_then_published  RS256 with kid "rs-late"; /jwks publishes rs-late from the
//                          moment this defect is set until the next POST /control (a correct
//                          client with a cached JWKS refetches once and accepts)
//   userinfo_sub_mismatch  /userinfo answers sub "eve"
//   authorize_error        /authorize redirects with error=access_denied&error_description&state&iss
//   iss_mismatch_in_redirect  /authorize redirect carries iss=https://evil.example
//   token_error            /token answers 400 {"error":"invalid_grant"}
//   token_500              /token answers 500 with an HTML body
//   token_garbage          /token answers 200, Content-Type application/json, body not JSON
//   token_slow             /token waits 15 s (env HOSTILE_SLOW_MS), then answers normally
//   code_reusable          /token accepts the same code again (never spends it)
//   token_huge             /token answers 200 with a valid ~5 MB JSON body (normal members
//                          plus a "padding" string)

import http from 'node:http';
import crypto from 'node:crypto';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose';

const log = (...args) => console.error('[hostile-op]', ...args);
const debug = process.env.HOSTILE_DEBUG ? log : () => {};

// ---- die with the parent: exit when stdin closes ------------------------------------
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const CLIENT_ID = process.env.HOSTILE_CLIENT_ID || 'whoscalling';
const CLIENT_SECRET = process.env.HOSTILE_CLIENT_SECRET || 'hostile-secret';
const SLOW_MS = Number(process.env.HOSTILE_SLOW_MS || 15000);
const USER = { sub: 'mallory', name: 'Mallory', nin: '01020312345', nin_type: 'PERSON', nin_issuing_country: 'NO' };
const DEFECTS = new Set(['wrong_nonce', 'missing_nonce', 'wrong_audience', 'extra_untrusted_audience',
  'wrong_issuer', 'expired', 'issued_in_future', 'tampered', 'bad_at_hash', 'alg_none',
  'hs256_with_public_key', 'unknown_kid', 'unknown_kid_then_published', 'userinfo_sub_mismatch',
  'authorize_error', 'iss_mismatch_in_redirect', 'token_error', 'token_500', 'token_garbage',
  'token_slow', 'token_huge', 'code_reusable']);

// ---- keys (fresh for every run) ----------------------------------------------------------
async function key(alg, kid) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}
const KEYS = {
  RS256: await key('RS256', 'rs-1'),
  ES256: await key('ES256', 'es-1'),
  late: await key('RS256', 'rs-late'), // published only while unknown_kid_then_published is set
  rogue: await key('RS256', 'rogue-1'), // never published
};
// As OpenSSL writes it (64-char lines, trailing newline): what a confused verifier holds.
const rsPublicPem = crypto.KeyObject.from(KEYS.RS256.publicKey).export({ type: 'spki', format: 'pem' });

// ---- state ---------------------------------------------------------------------------------
let state = { defect: null, alg: 'RS256' };
const counts = { authorize: 0, jwks: 0, token: 0, userinfo: 0 };
const codes = new Map(); // code -> { client_id, redirect_uri, nonce, code_challenge, exp }
const accessTokens = new Map(); // access token -> exp (unix s)

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const sha256 = (s) => crypto.createHash('sha256').update(s).digest();
const atHash = (token) => b64u(sha256(token).subarray(0, 16));

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
const redirect = (res, url) => { res.writeHead(302, { Location: url, 'Cache-Control': 'no-store' }); res.end(); };

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// ---- the id_token, normal or defective -------------------------------------------------
async function idToken(issuer, grant, accessToken) {
  const d = state.defect;
  const t = now();
  const claims = {
    iss: d === 'wrong_issuer' ? `${issuer}/x` : issuer,
    sub: USER.sub,
    aud: d === 'wrong_audience' ? 'other-client'
      : d === 'extra_untrusted_audience' ? [grant.client_id, 'someone-else'] : [grant.client_id],
    iat: d === 'expired' ? t - 4000 : d === 'issued_in_future' ? t + 3600 : t,
    exp: d === 'expired' ? t - 3600 : d === 'issued_in_future' ? t + 7200 : t + 300,
    auth_time: t,
    at_hash: atHash(d === 'bad_at_hash' ? `${accessToken}-other` : accessToken),
    name: USER.name, nin: USER.nin, nin_type: USER.nin_type, nin_issuing_country: USER.nin_issuing_country,
  };
  if (d === 'extra_untrusted_audience') claims.azp = grant.client_id;
  if (d === 'wrong_nonce') claims.nonce = `${grant.nonce ?? ''}-altered`;
  else if (d !== 'missing_nonce' && grant.nonce !== undefined) claims.nonce = grant.nonce;

  if (d === 'alg_none') return new UnsecuredJWT(claims).encode();
  if (d === 'hs256_with_public_key') {
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'rs-1' })
      .sign(new TextEncoder().encode(rsPublicPem));
  }
  const k = d === 'unknown_kid' ? KEYS.rogue : d === 'unknown_kid_then_published' ? KEYS.late : KEYS[state.alg];
  const jwt = await new SignJWT(claims).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.privateKey);
  if (d !== 'tampered') return jwt;
  const [h, p, s] = jwt.split('.');
  const payload = Buffer.from(p, 'base64url').toString('utf8').replace(USER.nin, '01020312346');
  return `${h}.${b64u(payload)}.${s}`;
}

// ---- endpoints -----------------------------------------------------------------------------
function discovery(issuer) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    scopes_supported: ['openid', 'profile', 'nin'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'azp',
      'name', 'nin', 'nin_type', 'nin_issuing_country'],
  };
}

function authorize(issuer, url, res) {
  counts.authorize++;
  const q = url.searchParams;
  const redirectUri = q.get('redirect_uri');
  let target;
  try { target = new URL(redirectUri); } catch { return send(res, 400, 'missing or invalid redirect_uri\n'); }
  if (q.get('client_id') !== CLIENT_ID) return send(res, 400, `unknown client_id ${q.get('client_id')}\n`);
  const back = (params) => {
    for (const [k, v] of Object.entries(params)) if (v != null) target.searchParams.set(k, v);
    redirect(res, target.href);
  };
  const state_ = q.get('state') ?? undefined;
  const iss = state.defect === 'iss_mismatch_in_redirect' ? 'https://evil.example' : issuer;
  if (state.defect === 'authorize_error') {
    return back({ error: 'access_denied', error_description: 'hostile-op: authorize_error defect', state: state_, iss });
  }
  if (q.get('response_type') !== 'code') {
    return back({ error: 'unsupported_response_type', state: state_, iss });
  }
  const challenge = q.get('code_challenge') ?? undefined;
  if (challenge !== undefined && q.get('code_challenge_method') !== 'S256') {
    return back({ error: 'invalid_request', error_description: 'only S256 PKCE', state: state_, iss });
  }
  const code = b64u(crypto.randomBytes(24));
  codes.set(code, {
    client_id: CLIENT_ID, redirect_uri: redirectUri, nonce: q.get('nonce') ?? undefined,
    code_challenge: challenge, exp: now() + 60,
  });
  back({ code, state: state_, iss });
}

// RFC 6749 2.3.1: id and secret are form-urlencoded before going into Basic.
function clientAuth(req, form) {
  const header = req.headers.authorization;
  const postId = form.get('client_id');
  const postSecret = form.get('client_secret');
  if (header && /^basic /i.test(header)) {
    if (postSecret !== null) return { error: 'invalid_request', description: 'more than one client auth method' };
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return { error: 'invalid_client', basic: true };
    const un = (s) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return null; } };
    const id = un(decoded.slice(0, i));
    const secret = un(decoded.slice(i + 1));
    if (id !== CLIENT_ID || secret !== CLIENT_SECRET || (postId !== null && postId !== id)) {
      return { error: 'invalid_client', basic: true };
    }
    return { client_id: id };
  }
  if (postId === CLIENT_ID && postSecret === CLIENT_SECRET) return { client_id: postId };
  return { error: 'invalid_client' };
}

async function token(issuer, req, res) {
  counts.token++;
  const form = new URLSearchParams(await readBody(req));
  const d = state.defect;
  if (d === 'token_error') return send(res, 400, { error: 'invalid_grant', error_description: 'hostile-op: token_error defect' });
  if (d === 'token_500') {
    return send(res, 500, '<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>\n',
      { 'Content-Type': 'text/html; charset=utf-8' });
  }
  if (d === 'token_garbage') return send(res, 200, '{"access_token": "abc", <<<this is not json>>>', { 'Content-Type': 'application/json' });

  const auth = clientAuth(req, form);
  if (auth.error) {
    return send(res, auth.error === 'invalid_client' ? 401 : 400, { error: auth.error, error_description: auth.description },
      auth.basic ? { 'WWW-Authenticate': 'Basic realm="hostile-op"' } : {});
  }
  if (form.get('grant_type') !== 'authorization_code') return send(res, 400, { error: 'unsupported_grant_type' });
  const code = form.get('code') ?? '';
  const grant = codes.get(code);
  // Single use, whatever happens next; code_reusable keeps it (a provider that wrongly
  // accepts a code twice, RFC 6749 4.1.2 notwithstanding).
  if (d !== 'code_reusable') codes.delete(code);
  if (!grant || grant.exp < now() || grant.client_id !== auth.client_id) {
    return send(res, 400, { error: 'invalid_grant', error_description: 'unknown, used or expired code' });
  }
  if (form.get('redirect_uri') !== grant.redirect_uri) {
    return send(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
  }
  const verifier = form.get('code_verifier');
  if (grant.code_challenge !== undefined
    ? verifier === null || b64u(sha256(verifier)) !== grant.code_challenge
    : verifier !== null) {
    return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
  }

  const accessToken = b64u(crypto.randomBytes(32));
  accessTokens.set(accessToken, now() + 300);
  const body = {
    access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope: 'openid',
    id_token: await idToken(issuer, grant, accessToken),
  };
  if (d === 'token_huge') body.padding = 'x'.repeat(5 * 1024 * 1024);
  if (d === 'token_slow') await new Promise((r) => setTimeout(r, SLOW_MS));
  send(res, 200, body);
}

function userinfo(req, res) {
  counts.userinfo++;
  const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
  const exp = m && accessTokens.get(m[1]);
  if (!exp || exp < now()) {
    return send(res, 401, { error: 'invalid_token' }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  }
  send(res, 200, { ...USER, sub: state.defect === 'userinfo_sub_mismatch' ? 'eve' : USER.sub });
}

async function control(req, res) {
  let body;
  try { body = JSON.parse(await readBody(req)); } catch { return send(res, 400, { error: 'body must be JSON' }); }
  const defect = body?.defect ?? null;
  const alg = body?.alg ?? 'RS256';
  if (defect !== null && !DEFECTS.has(defect)) return send(res, 400, { error: `unknown defect ${defect}`, known: [...DEFECTS] });
  if (!['RS256', 'ES256'].includes(alg)) return send(res, 400, { error: `alg must be RS256 or ES256, not ${alg}` });
  state = { defect, alg };
  log('control:', JSON.stringify(state));
  send(res, 200, state);
}

// ---- server ----------------------------------------------------------------------------
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

server.on('request', (req, res) => {
  debug(req.method, req.url, state.defect ?? '');
  const url = new URL(req.url, issuer);
  const route = `${req.method} ${url.pathname}`;
  (async () => {
    switch (route) {
      case 'GET /.well-known/openid-configuration': return send(res, 200, discovery(issuer));
      case 'GET /jwks':
        counts.jwks++;
        return send(res, 200, { keys: [KEYS.RS256.jwk, KEYS.ES256.jwk,
          ...(state.defect === 'unknown_kid_then_published' ? [KEYS.late.jwk] : [])] });
      case 'GET /authorize': return authorize(issuer, url, res);
      case 'POST /token': return token(issuer, req, res);
      case 'GET /userinfo': case 'POST /userinfo': return userinfo(req, res);
      case 'POST /control': return control(req, res);
      case 'GET /control/requests': return send(res, 200, counts);
      default: return send(res, 404, { error: 'not_found' });
    }
  })().catch((err) => {
    log(route, 'error:', err?.message);
    if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: err?.message });
    else res.destroy();
  });
});

process.stdout.write(`listening on ${issuer}\n`);
