// Node.js reference for the cold-start benchmark: mint-token's Amazon Connect path, written the
// way a Node team would (AWS SDK v3 Secrets Manager client + jose), plus a tiny Lambda Runtime
// API loop (node:http, keep-alive) at the bottom of this file, which runs when
// AWS_LAMBDA_RUNTIME_API is set. No aws-lambda-ric: it builds a native addon from source.
//
// Same work as the Rust function for the sample event: read WHOSCALLING_CONFIG at init, create
// the Secrets Manager client at init, check Origin/method/profile, take the API Gateway JWT
// authorizer's claims, mask national ids (claim policy `nin`/`national_id` and the rule's
// `mask`), map the profile's attribute rules, read the widget key through the SDK (cached in a
// module global for `secret_cache.ttl_seconds`, default 300), sign HS256 with header
// {"alg":"HS256","typ":"JWT"}, answer {"data": "<jwt>"} with the same headers.
// Not implemented (not on the benchmark's path): bearer-token verification against a JWKS, the
// LivePerson and Live Assist profiles, bounded staleness during a Secrets Manager outage.

import http from 'node:http';
import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SignJWT } from 'jose';

const CONFIG = JSON.parse(process.env.WHOSCALLING_CONFIG);
const ALLOWED_ORIGINS = new Set(CONFIG.allowed_origins);
const MAX_BODY_BYTES = CONFIG.max_body_bytes ?? 8192;
const CACHE_TTL_MS = (CONFIG.secret_cache?.ttl_seconds ?? 300) * 1000;
const PROFILES = Object.fromEntries(
  Object.entries(CONFIG.profiles).filter(([, p]) => p.platform === 'amazon-connect'),
);
const MASKED_CLAIMS = { nin: 'national_id', national_id: 'national_id', ...(CONFIG.claim_policy?.masked_claims ?? {}) };
const ATTR_KEY = /^[A-Za-z0-9_-]{1,128}$/;

const secrets = new SecretsManagerClient({});
const secretCache = new Map(); // secret id -> { value, fetchedAt }

class ApiError extends Error {
  constructor(status, code, description) {
    super(description);
    Object.assign(this, { status, code, description });
  }
}

async function getSecret(secretId) {
  const hit = secretCache.get(secretId);
  if (hit && performance.now() - hit.fetchedAt < CACHE_TTL_MS) return hit.value;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
  secretCache.set(secretId, { value: out.SecretString, fetchedAt: performance.now() });
  return out.SecretString;
}

function maskNationalId(value) {
  const chars = [...value];
  const isDigitOrMasked = (c) => /\p{N}/u.test(c) || c === '*';
  if (chars.filter(isDigitOrMasked).length <= 5) return '*'.repeat(chars.length);
  let toMask = 5;
  for (let i = chars.length - 1; i >= 0 && toMask > 0; i--) {
    if (isDigitOrMasked(chars[i])) {
      chars[i] = '*';
      toMask--;
    }
  }
  return chars.join('');
}

function applyClaimPolicy(claims) {
  const out = { ...claims };
  for (const [name, setting] of Object.entries(MASKED_CLAIMS)) {
    if (name === 'sub' || !(name in out) || setting !== 'national_id') continue;
    const value = out[name];
    if (typeof value === 'string') out[name] = maskNationalId(value);
    else if (typeof value === 'number') out[name] = maskNationalId(JSON.stringify(value));
    else delete out[name];
  }
  return out;
}

function applyRule(rule, claims) {
  const value = claims[rule.claim];
  if (value === undefined || value === null) {
    if ((rule.if_missing ?? 'skip') === 'refuse') {
      throw new ApiError(403, 'insufficient_claims', `the login has no \`${rule.claim}\` claim`);
    }
    return undefined;
  }
  const convert = rule.convert ?? 'strict';
  let text;
  if (typeof value === 'string') text = value;
  else if ((convert === 'scalar' || convert === 'json') && ['number', 'boolean'].includes(typeof value)) text = JSON.stringify(value);
  else if (convert === 'json') text = JSON.stringify(value);
  else {
    if ((rule.if_unconvertible ?? 'refuse') === 'refuse') {
      throw new ApiError(403, 'insufficient_claims', `claim \`${rule.claim}\` cannot be converted`);
    }
    return undefined;
  }
  return rule.mask === 'national_id' ? maskNationalId(text) : text;
}

function connectClaims(profile, claims) {
  const now = Math.floor(Date.now() / 1000);
  const token = { sub: profile.widget_id, iat: now, exp: now + profile.token_lifetime_seconds };
  const attributes = {};
  for (const name of Object.keys(profile.attributes ?? {}).sort()) {
    if (!ATTR_KEY.test(name)) throw new ApiError(500, 'server_error', 'bad attribute name');
    const text = applyRule(profile.attributes[name], claims);
    if (text !== undefined) attributes[name] = text;
  }
  if (Object.keys(attributes).length) token.attributes = attributes;
  for (const [field, key, limit] of [['customer_id', 'customerId', 128], ['related_contact_id', 'relatedContactId', 256]]) {
    if (!profile[field]) continue;
    const text = applyRule(profile[field], claims);
    if (text === undefined) continue;
    const length = [...text].length;
    if (length < 1 || length > limit) throw new ApiError(403, 'insufficient_claims', `\`${key}\` must be 1-${limit} characters`);
    token[key] = text;
  }
  if (profile.mark_authenticated) {
    token.segmentAttributes = { 'connect:CustomerAuthentication': { ValueMap: { Status: { ValueString: 'AUTHENTICATED' } } } };
  }
  return token;
}

function respond(statusCode, body, origin) {
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', vary: 'Origin' };
  if (origin) headers['access-control-allow-origin'] = origin;
  return { statusCode, headers, body: JSON.stringify(body), isBase64Encoded: false };
}

export async function handler(event, context) {
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  let origin = headers.origin;
  const profileName = event.pathParameters?.profile ?? '';
  let response;
  try {
    if (origin !== undefined && !ALLOWED_ORIGINS.has(origin)) {
      origin = undefined;
      throw new ApiError(403, 'origin_not_allowed', 'this origin may not call the token endpoint');
    }
    const method = event.requestContext.http.method;
    if (method !== 'GET' && method !== 'POST') throw new ApiError(405, 'method_not_allowed', 'use GET or POST');
    const profile = Object.hasOwn(PROFILES, profileName) ? PROFILES[profileName] : undefined;
    if (!profile) throw new ApiError(404, 'unknown_profile', 'no such token profile');
    if ((event.body ?? '').length > MAX_BODY_BYTES) throw new ApiError(413, 'request_too_large', 'request body too large');
    const claims = event.requestContext.authorizer?.jwt?.claims;
    if (!claims || !('sub' in claims)) throw new ApiError(401, 'missing_token', 'no verified identity');
    const tokenClaims = connectClaims(profile, applyClaimPolicy(claims));
    const key = await getSecret(profile.security_key_secret);
    const token = await new SignJWT(tokenClaims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(key));
    response = respond(200, { data: token }, origin);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    response = respond(e.status, { error: e.code, error_description: e.description }, origin);
  }
  console.log(JSON.stringify({
    level: 'INFO', message: 'token request', request_id: context.awsRequestId,
    profile: Object.hasOwn(PROFILES, profileName) ? profileName : '(unknown)', status: response.statusCode,
  }));
  return response;
}

// ---- a minimal Lambda Runtime API client ------------------------------------------------------
const RUNTIME_API = process.env.AWS_LAMBDA_RUNTIME_API;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, path, body, extraHeaders = {}) {
  const [host, port] = RUNTIME_API.split(':');
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host, port, method, agent, path: `/2018-06-01/runtime${path}`,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length, ...extraHeaders } : extraHeaders,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const errorBody = (e) => JSON.stringify({ errorType: e?.name ?? 'Error', errorMessage: String(e?.message ?? e), stackTrace: [] });

async function runtimeLoop() {
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const h = next.headers;
    const requestId = h['lambda-runtime-aws-request-id'];
    if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
    const deadline = Number(h['lambda-runtime-deadline-ms']);
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    try {
      const result = await handler(JSON.parse(next.body), context);
      await call('POST', `/invocation/${requestId}/response`, JSON.stringify(result ?? null));
    } catch (e) {
      await call('POST', `/invocation/${requestId}/error`, errorBody(e), {
        'lambda-runtime-function-error-type': `Runtime.${e?.name ?? 'Error'}`,
      });
    }
  }
}

if (RUNTIME_API) {
  runtimeLoop().catch(async (e) => {
    console.error(e);
    try {
      await call('POST', '/init/error', errorBody(e), { 'lambda-runtime-function-error-type': 'Runtime.Unknown' });
    } finally {
      process.exit(1);
    }
  });
}
