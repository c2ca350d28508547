// A real OpenID Provider (npm `oidc-provider`) for the whoscalling integration tests.
//
// Run (after scripts/setup-tools):
//   tests/peers/node_modules/.bin/node tests/peers/oidc-provider.mjs
// (system `node` works too). It listens on 127.0.0.1 on a random free port, prints exactly
// one line `listening on http://127.0.0.1:<port>` to stdout when ready (that URL is the
// issuer), and exits when its stdin reaches EOF, so a test spawns it with a piped stdin and
// it dies together with the test process. Diagnostics go to stderr only.
//
// Login is automatic, no browser and no HTML: GET /auth?... redirects (303) to
// /interaction/<uid>, which logs in the user named by `login_hint` (default `alice`), then
// the consent interaction grants every requested scope/claim, and the flow ends with a 303
// to the client's redirect_uri carrying `code`, `state` and `iss`. A client must follow the
// redirects itself and keep cookies (they are path-scoped: /interaction/<uid>, /auth/<uid>,
// /). See tests/peers/README.md for the exact request sequence.
//
// Client `whoscalling-web` / `whoscalling-web-secret` (client_secret_basic), redirect_uri
// http://127.0.0.1:8765/callback, PKCE S256 required. Extra clients: env OIDC_EXTRA_CLIENTS
// = JSON array of oidc-provider client metadata. Extra accounts: env OIDC_EXTRA_ACCOUNTS =
// JSON object {"<account id>": {<claims>}}; an account's "@id_token" member holds values
// its ID token carries instead of the others (for precedence tests). Accounts: alice (all
// claims), bob (no email, no nin, no crm_contact_id). Extra scope claims: env
// OIDC_EXTRA_SCOPE_CLAIMS = JSON object {"<scope>": ["<claim>", ...]} (added to the scope,
// which is created if new).
//
// Like Signicat and most brokers, the ID token carries only `sub` and protocol claims; the
// scopes' claims come from userinfo (oidc-provider's default, conformIdTokenClaims). A test
// that presents the ID token itself as the visitor's identity opts in to scope claims in the
// ID token too with env OIDC_ID_TOKEN_CLAIMS=all.
//
// id_tokens are RS256 (an ES256 key is in the JWKS too; a client with
// id_token_signed_response_alg "ES256" gets ES256). Env OIDC_DEBUG=1 logs every request to
// stderr.

import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

// stdout carries only the `listening on` line: oidc-provider prints its NOTICEs with
// console.info, so send console.log/info to stderr.
console.log = console.error;
console.info = console.error;
const log = (...args) => console.error('[oidc-provider]', ...args);
const debug = process.env.OIDC_DEBUG ? log : () => {};

// ---- die with the parent: exit when stdin closes ------------------------------------
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
// If the test closed our stdout/stderr pipes, do not crash on EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// ---- accounts --------------------------------------------------------------------------
const ACCOUNTS = {
  alice: {
    given_name: 'Alice',
    family_name: 'Nordmann',
    name: 'Alice Nordmann',
    birthdate: '1985-04-12',
    locale: 'nb-NO',
    email: 'alice@example.com',
    email_verified: true,
    phone_number: '+4712345678',
    phone_number_verified: false,
    updated_at: 1767225600,
    // A bank's account claims, with the JSON types a real provider gives them.
    balance: -400.99,
    currency: 'NOK',
    company_branch: 'Oslo sentrum',
    login_status: 2,
    address: {
      street_address: 'Storgata 1',
      locality: 'Oslo',
      postal_code: '0155',
      country: 'NO',
    },
    nin: '01129954321',
    nin_type: 'BIRTH',
    nin_issuing_country: 'NO',
    crm_contact_id: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
  },
  bob: {
    given_name: 'Bob',
    family_name: 'Smith',
    name: 'Bob Smith',
  },
};
if (process.env.OIDC_EXTRA_ACCOUNTS) {
  Object.assign(ACCOUNTS, JSON.parse(process.env.OIDC_EXTRA_ACCOUNTS));
}

async function findAccount(_ctx, id) {
  if (!Object.prototype.hasOwnProperty.call(ACCOUNTS, id)) return undefined;
  const { '@id_token': idTokenValues, ...claims } = ACCOUNTS[id];
  return {
    accountId: id,
    // oidc-provider filters these down to what the granted scopes/claims allow for the use
    // (`id_token` or `userinfo`).
    async claims(use, _scope, _claims, _rejected) {
      return use === 'id_token' ? { sub: id, ...claims, ...idTokenValues } : { sub: id, ...claims };
    },
  };
}

// ---- what the ID token carries -----------------------------------------------------------
const ID_TOKEN_CLAIMS = process.env.OIDC_ID_TOKEN_CLAIMS ?? 'sub';
if (!['sub', 'all'].includes(ID_TOKEN_CLAIMS)) {
  throw new TypeError('OIDC_ID_TOKEN_CLAIMS must be "sub" (the default: scope claims from userinfo only) or "all"');
}

// ---- scopes and their claims ------------------------------------------------------------
const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: ['given_name', 'family_name', 'name', 'birthdate', 'locale', 'updated_at', 'crm_contact_id',
    'balance', 'currency', 'company_branch', 'login_status'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
  nin: ['nin', 'nin_type', 'nin_issuing_country'],
};
if (process.env.OIDC_EXTRA_SCOPE_CLAIMS) {
  for (const [scope, names] of Object.entries(JSON.parse(process.env.OIDC_EXTRA_SCOPE_CLAIMS))) {
    if (!Array.isArray(names)) throw new TypeError('OIDC_EXTRA_SCOPE_CLAIMS: each scope maps to an array of claim names');
    SCOPE_CLAIMS[scope] = [...(SCOPE_CLAIMS[scope] ?? []), ...names];
  }
}

// ---- clients ---------------------------------------------------------------------------
const clients = [
  {
    client_id: 'whoscalling-web',
    client_secret: 'whoscalling-web-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: ['http://127.0.0.1:8765/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  },
];
if (process.env.OIDC_EXTRA_CLIENTS) {
  const extra = JSON.parse(process.env.OIDC_EXTRA_CLIENTS);
  if (!Array.isArray(extra)) throw new TypeError('OIDC_EXTRA_CLIENTS must be a JSON array');
  clients.push(...extra);
}

// ---- signing keys (fresh for every run) ------------------------------------------------
function jwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const key = privateKey.export({ format: 'jwk' });
  return { ...key, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}` };
}
const jwks = {
  keys: [
    jwk('rsa', { modulusLength: 2048 }, 'RS256'), // first key of an alg is the default signer
    jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

// ---- server ----------------------------------------------------------------------------
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients,
  jwks,
  findAccount,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  pkce: { required: () => true }, // oidc-provider v9 only implements S256
  // true (the vendor default): scope claims only from userinfo, the ID token has `sub`.
  conformIdTokenClaims: ID_TOKEN_CLAIMS !== 'all',
  scopes: ['offline_access', ...Object.keys(SCOPE_CLAIMS)],
  claims: SCOPE_CLAIMS,
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
    RefreshToken: 86400,
  },
  interactions: {
    url: (_ctx, interaction) => `${issuer}/interaction/${interaction.uid}`, // absolute
  },
  renderError: (ctx, out, _error) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'introspection.error', 'revocation.error', 'end_session.error']) {
  provider.on(event, (_ctx, err) => log(event, err?.message, err?.error_description ?? ''));
}

// Finish whatever prompt the interaction is at. Each call answers one prompt; the provider
// then redirects to /auth/<uid> which either issues the code or starts the next prompt.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  debug('interaction', details.uid, prompt.name, JSON.stringify(prompt.reasons));

  if (prompt.name === 'login') {
    const accountId = params.login_hint || 'alice';
    if (!(await findAccount(undefined, accountId))) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: `unknown login_hint ${accountId}`,
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, { login: { accountId } },
      { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'consent') {
    const { accountId } = details.session;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
  }

  res.statusCode = 500;
  res.setHeader('Content-Type', 'text/plain');
  res.end(`unsupported prompt ${prompt.name}\n`);
}

const callback = provider.callback();
server.on('request', (req, res) => {
  debug(req.method, req.url);
  if (/^\/interaction\/[^/?]+(\?.*)?$/.test(req.url)) {
    interaction(req, res).catch((err) => {
      log('interaction error:', err?.message);
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader('Content-Type', 'application/json');
      }
      res.end(JSON.stringify({ error: err?.error ?? 'interaction_failed', error_description: err?.message }));
    });
    return;
  }
  callback(req, res);
});

process.stdout.write(`listening on ${issuer}\n`);
