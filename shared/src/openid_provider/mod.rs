//! whoscalling as an OpenID provider for chat platforms that are OpenID Connect clients
//! (LivePerson code flow, Puzzel Secure Chat, Genesys Cloud authenticated messaging).
//!
//! The visitor's identity comes from the same verified sources as `/token/{profile}`; the
//! provider maps it through the client's profile (masking first, as everywhere), binds it to a
//! single-use code in the [`GrantStore`], and at the token endpoint authenticates the client,
//! checks every binding (client, redirect URI, PKCE, expiry) and signs an RS256 id_token with the
//! keys we own; a LivePerson profile with an encryption key gets that id_token wrapped in a JWE
//! for LivePerson, exactly as the implicit flow's. See `docs/PROVIDER.md` for the wire contract.

pub mod auth_mapping;
pub mod flows;
pub mod login;
pub mod oauth;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use url::Url;

use crate::clock::Clock;
use crate::config::{ClientConfig, ClientId, ConfigError, ServiceConfig};
use crate::jwe::JweRecipient;
use crate::keys::{KeyChoice, KeyError, SigningKeys};
use crate::mapping::ClaimPolicy;
use crate::mint::recipient;
use crate::platforms::ProfileConfig;
use crate::platforms::{ClaimsError, ProviderClient};
use crate::secrets::SecretStore;
use crate::signing::SigningAlgorithm;
use crate::values::VerifiedClaims;

pub use crate::grants::{GrantStore, GrantStoreError, MemoryGrantStore};
pub use flows::{Authorization, AuthorizeInput, Authorized, OpenIdProvider, PageCode, PageCodeError};
pub use oauth::{OAuthError, OAuthErrorCode, Params};

use crate::grants::{Grant, GrantStatus, hashes_match, new_grant_id, new_secret, parse_presented};

struct Client {
    config: ClientConfig,
    /// What its id_token and userinfo carry (a profile whose platform is a provider client).
    profile: ProfileConfig,
    /// The profile's JWE recipient (LivePerson with `encryption`): the signed id_token is
    /// wrapped for it, so only the platform reads the claims.
    encryption: Option<JweRecipient>,
    /// The key its id_tokens are signed with: the rotating key (published in our JWKS, found
    /// through discovery), or the profile's pinned key when its console holds a pasted key.
    key: KeyChoice,
}

/// A client and redirect URI we trust: errors after this point may be redirected to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRedirect {
    pub client_id: ClientId,
    pub redirect_uri: String,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub target: TrustedRedirect,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// OIDC Core 3.1.2.1 `max_age` in seconds: the login may be at most this old.
    pub max_age: Option<u64>,
}

/// The `prompt` values we act on (OIDC Core 3.1.2.1); other values are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

impl Prompt {
    /// `none` with any other value is a contradiction (OIDC Core 3.1.2.1): `invalid_request`.
    fn parse(value: Option<&str>) -> Result<Self, OAuthError> {
        let mut prompt = Prompt::default();
        let values: Vec<&str> = value.unwrap_or("").split(' ').filter(|v| !v.is_empty()).collect();
        for value in &values {
            match *value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                _ => {}
            }
        }
        if prompt.none && values.len() > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(prompt)
    }
}

/// Seconds a fresh login's `auth_time` may lag the moment we sent the visitor to it (the
/// upstream provider's clock against ours).
const FRESH_LOGIN_LEEWAY: u64 = 30;

/// A fresh code (its value is a credential: never logged).
pub struct IssuedCode {
    pub code: String,
    pub expires_in: u64,
}

/// The token endpoint's success answer (RFC 6749 5.1, OIDC Core 3.1.3.3).
pub struct TokenResponse {
    pub body: Value,
    /// For the log line: the grant (an id, not a credential) and the signing key.
    pub grant_id: String,
    pub kid: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("grant_id", &self.grant_id)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Redirect URIs match by simple string comparison (RFC 6749 3.1.2.3, RFC 9700 2.1): byte for
/// byte with a registered one. No normalisation at all: `HTTP://`, a port spelled `08765` or a
/// `/x/../` path are different strings, and a client must send exactly what was registered
/// (register each spelling a vendor sends, e.g. both `https://liveperson.net` and `.../`).
pub fn same_redirect_uri(registered: &str, presented: &str) -> bool {
    registered.as_bytes() == presented.as_bytes()
}

/// The claims each standard scope covers (OIDC Core 5.4). A claim not listed here is
/// non-standard and is released only when the client's `claims_without_scope` names it.
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    match claim {
        "name" | "family_name" | "given_name" | "middle_name" | "nickname" | "preferred_username" | "profile"
        | "picture" | "website" | "gender" | "birthdate" | "zoneinfo" | "locale" | "updated_at" => Some("profile"),
        "email" | "email_verified" => Some("email"),
        "address" => Some("address"),
        "phone_number" | "phone_number_verified" => Some("phone"),
        _ => None,
    }
}

/// Where an authorization request comes from: the browser redirect (`/oauth2/authorize`, the
/// client must send `response_type=code` and `scope`) or page JavaScript (`/oauth2/code`, which
/// defaults both and the redirect URI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Redirect,
    PageScript,
}

const MAX_STATE_BYTES: usize = 1024;
const MAX_NONCE_BYTES: usize = 512;

pub struct ProviderService {
    issuer: String,
    clients: BTreeMap<ClientId, Client>,
    code_lifetime: u64,
    access_token_lifetime: u64,
    id_token_lifetime: u64,
    policy: ClaimPolicy,
    grants: Arc<dyn GrantStore>,
    secrets: Arc<dyn SecretStore>,
    keys: SigningKeys,
    clock: Arc<dyn Clock>,
    discovery: Value,
}

impl ProviderService {
    pub fn new(
        config: &ServiceConfig,
        grants: Arc<dyn GrantStore>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let missing = |setting: &str| ConfigError::Setting {
            setting: setting.into(),
            reason: "required for the OpenID provider".into(),
        };
        let provider = config.provider.as_ref().ok_or_else(|| missing("provider"))?;
        let keys = config.signing_keys.as_ref().ok_or_else(|| missing("signing_keys"))?;
        let mut clients = BTreeMap::new();
        for (id, client) in &provider.clients {
            // Config validation has checked the profile exists and may serve a provider client.
            let profile = config
                .profiles
                .get(&client.profile)
                .filter(|profile| profile.platform().provider_client().is_some())
                .ok_or_else(|| missing(&format!("provider.clients.{id}.profile")))?;
            let encryption = recipient(&client.profile, profile.platform())?;
            let key = profile
                .key_choice(&client.profile)
                .unwrap_or(KeyChoice::Rotating(SigningAlgorithm::RS256));
            let profile = profile.clone();
            clients.insert(
                id.clone(),
                Client {
                    config: client.clone(),
                    profile,
                    encryption,
                    key,
                },
            );
        }
        let discovery = discovery_document(&provider.issuer, &clients);
        Ok(Self {
            issuer: provider.issuer.clone(),
            clients,
            code_lifetime: provider.code_lifetime_seconds,
            access_token_lifetime: provider.access_token_lifetime_seconds,
            id_token_lifetime: provider.id_token_lifetime_seconds,
            policy: config.claim_policy.clone(),
            grants,
            keys: SigningKeys::new(secrets.clone(), keys.secret.clone()),
            secrets,
            clock,
            discovery,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `/.well-known/openid-configuration`, built once.
    pub fn discovery(&self) -> &Value {
        &self.discovery
    }

    /// The client id, if it is a registered one (for logs: a caller-chosen id is not logged).
    pub fn registered_client(&self, client_id: Option<&str>) -> Option<&ClientId> {
        let id = ClientId::parse(client_id?)?;
        self.clients.get_key_value(&id).map(|(id, _)| id)
    }

    /// The profile a registered client's tokens are built with (a configured name: a metric
    /// dimension).
    pub fn client_profile(&self, client_id: &str) -> Option<&str> {
        let id = ClientId::parse(client_id)?;
        self.clients.get(&id).map(|client| client.config.profile.as_str())
    }

    /// Step one of an authorization: a registered client and one of its exact redirect URIs.
    /// Errors here must be shown to the visitor, never redirected (the target is not trusted).
    pub fn trusted_redirect(&self, params: &Params, channel: Channel) -> Result<TrustedRedirect, OAuthError> {
        let client_id = params.require("client_id")?;
        let (client_id, client) = ClientId::parse(client_id)
            .and_then(|id| self.clients.get_key_value(&id))
            .ok_or_else(|| OAuthError::invalid_request("unknown client_id"))?;
        let registered = &client.config.redirect_uris;
        let redirect_uri = match (params.get("redirect_uri"), channel) {
            (Some(uri), _) => registered.iter().find(|r| same_redirect_uri(r, uri)),
            // Page JavaScript may leave it out when the client has exactly one.
            (None, Channel::PageScript) if registered.len() == 1 => registered.first(),
            (None, _) => return Err(OAuthError::invalid_request("the `redirect_uri` parameter is required")),
        }
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is not registered for this client"))?;
        Ok(TrustedRedirect {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
        })
    }

    /// Step two: the rest of the request (OIDC Core 3.1.2.1, RFC 7636). Errors here may be
    /// redirected to the trusted target.
    pub fn check_request(
        &self,
        target: TrustedRedirect,
        params: &Params,
        channel: Channel,
    ) -> Result<AuthorizationRequest, OAuthError> {
        let client = self.client(&target.client_id)?;
        if params.get("request").is_some() {
            return Err(OAuthError::new(
                OAuthErrorCode::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(OAuthError::new(
                OAuthErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        match (params.get("response_type"), channel) {
            (Some("code"), _) | (None, Channel::PageScript) => {}
            (None, Channel::Redirect) => {
                return Err(OAuthError::invalid_request("the `response_type` parameter is required"));
            }
            (Some(_), _) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        let scope = match (params.get("scope"), channel) {
            (Some(scope), _) => scope,
            (None, Channel::PageScript) => "openid",
            (None, Channel::Redirect) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    "the `scope` parameter is required",
                ));
            }
        };
        let requested: BTreeSet<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        if !requested.contains("openid") {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "the scope must include openid",
            ));
        }
        // OIDC Core 3.1.2.1: unknown scope values SHOULD be ignored; so is any value this client is
        // not registered for (never granted). The token response's `scope` says what was granted.
        let requested: BTreeSet<&str> = requested
            .into_iter()
            .filter(|s| client.config.scopes.iter().any(|allowed| allowed == s))
            .collect();
        let state = params.get("state").map(str::to_string);
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_BYTES) {
            return Err(OAuthError::invalid_request("state is too long"));
        }
        let nonce = params.get("nonce").map(str::to_string);
        // The nonce is echoed into the id_token: held to the same rule as every claim.
        if nonce
            .as_ref()
            .is_some_and(|n| n.len() > MAX_NONCE_BYTES || crate::values::hygiene::has_forbidden_char(n))
        {
            return Err(OAuthError::invalid_request(
                "nonce is too long or has control or invisible formatting characters",
            ));
        }
        let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
            (None, None) if client.config.require_pkce => {
                return Err(OAuthError::invalid_request(
                    "this client must use PKCE (code_challenge with S256)",
                ));
            }
            (None, None) => None,
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method without code_challenge",
                ));
            }
            // Only S256: `plain` (and a missing method, which means plain) protects nothing.
            (Some(_), None | Some("plain")) => {
                return Err(OAuthError::invalid_request("code_challenge_method must be S256"));
            }
            (Some(challenge), Some("S256")) if oauth::valid_pkce_value(challenge) && challenge.len() == 43 => {
                Some(challenge.to_string())
            }
            (Some(_), Some("S256")) => {
                return Err(OAuthError::invalid_request("code_challenge is not an S256 challenge"));
            }
            (Some(_), Some(_)) => return Err(OAuthError::invalid_request("code_challenge_method must be S256")),
        };
        let prompt = Prompt::parse(params.get("prompt"))?;
        let max_age = match params.get("max_age") {
            None => None,
            Some(value) => match value.parse::<u64>() {
                Ok(seconds) if value.bytes().all(|b| b.is_ascii_digit()) => Some(seconds),
                _ => return Err(OAuthError::invalid_request("max_age must be a number of seconds")),
            },
        };
        let scope = requested.into_iter().collect::<Vec<_>>().join(" ");
        Ok(AuthorizationRequest {
            target,
            scope,
            state,
            nonce,
            code_challenge,
            prompt,
            max_age,
        })
    }

    /// When the visitor logged in (`auth_time`, else the login token's `iat`; never in the future).
    /// API Gateway's authorizer passes claims as strings: canonical digits count too, or every
    /// such login would look fresh to `max_age`.
    pub fn auth_time(&self, identity: &VerifiedClaims) -> u64 {
        let now = self.clock.now_unix();
        let seconds = |value: &Value| match value {
            Value::String(s) => s.parse::<u64>().ok().filter(|n| n.to_string() == *s),
            other => other.as_u64(),
        };
        ["auth_time", "iat"]
            .iter()
            .find_map(|name| identity.get(name).and_then(seconds))
            .filter(|t| *t <= now)
            .unwrap_or(now)
    }

    /// Whether this login satisfies the request's `prompt` and `max_age` (OIDC Core 3.1.2.1).
    /// `sent_to_login_at` is when this request sent the visitor through a fresh login (a resumed
    /// request): a login since then satisfies `prompt=login` and `select_account`, so the resumed
    /// request never loops. The error says what is missing: `login_required`,
    /// `account_selection_required` (both curable by a fresh login) or `consent_required`.
    pub fn check_login(
        &self,
        request: &AuthorizationRequest,
        identity: &VerifiedClaims,
        sent_to_login_at: Option<u64>,
    ) -> Result<(), OAuthError> {
        let auth_time = self.auth_time(identity);
        let fresh = sent_to_login_at.is_some_and(|sent| auth_time + FRESH_LOGIN_LEEWAY >= sent);
        if request.prompt.consent {
            // We have no consent screen; the client's registration is the consent.
            return Err(OAuthError::new(
                OAuthErrorCode::ConsentRequired,
                "this provider cannot prompt for consent",
            ));
        }
        if request.prompt.login && !fresh {
            return Err(OAuthError::new(
                OAuthErrorCode::LoginRequired,
                "prompt=login asks for a fresh login",
            ));
        }
        if request.prompt.select_account && !fresh {
            return Err(OAuthError::new(
                OAuthErrorCode::AccountSelectionRequired,
                "prompt=select_account asks for a fresh login",
            ));
        }
        if let Some(max_age) = request.max_age
            && self.clock.now_unix().saturating_sub(auth_time) > max_age
        {
            return Err(OAuthError::new(
                OAuthErrorCode::LoginRequired,
                "the login is older than max_age",
            ));
        }
        Ok(())
    }

    /// Maps the verified visitor for the client and stores a single-use code bound to the request.
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        identity: VerifiedClaims,
    ) -> Result<IssuedCode, OAuthError> {
        let client = self.client(&request.target.client_id)?;
        let now = self.clock.now_unix();
        let identity = self.policy.apply(identity);
        let auth_time = self.auth_time(&identity);
        let mut claims = client_claims(client.provider_client()?, &identity, now)?;
        if client.provider_client()?.scoped() {
            // OIDC Core 5.4: standard claims only for the scopes granted; others only when configured.
            let granted: BTreeSet<&str> = request.scope.split(' ').collect();
            let always = &client.config.claims_without_scope;
            claims.retain(|name, _| {
                name == "sub"
                    || always.iter().any(|a| a == name)
                    || scope_of_claim(name).is_some_and(|scope| granted.contains(scope))
            });
        }
        let grant = Grant {
            client_id: request.target.client_id.as_str().to_string(),
            redirect_uri: request.target.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time,
            claims,
        };
        let grant_id = new_grant_id().map_err(store_error)?;
        let code = new_secret(&grant_id).map_err(store_error)?;
        self.grants
            .create(&grant_id, &grant, &code.hash, now + self.code_lifetime)
            .await
            .map_err(store_error)?;
        Ok(IssuedCode {
            code: code.value,
            expires_in: self.code_lifetime,
        })
    }

    /// The redirect for an outcome: `code` or `error`, with `state` and RFC 9207 `iss`.
    pub fn redirect_location(
        &self,
        target: &TrustedRedirect,
        outcome: Result<&IssuedCode, &OAuthError>,
        state: Option<&str>,
    ) -> String {
        let Ok(mut url) = Url::parse(&target.redirect_uri) else {
            // Registered URIs were parsed at cold start; this cannot fail.
            return target.redirect_uri.clone();
        };
        {
            let mut query = url.query_pairs_mut();
            match outcome {
                Ok(issued) => {
                    query.append_pair("code", &issued.code);
                }
                Err(error) => {
                    query.append_pair("error", error.code.as_str());
                    query.append_pair("error_description", &error.description);
                }
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.issuer);
        }
        url.into()
    }

    /// The token endpoint: client authentication, then every binding of the code, then a
    /// single conditional redemption. `authorization` is the raw `Authorization` header.
    pub async fn exchange(&self, authorization: Option<&[u8]>, params: &Params) -> Result<TokenResponse, OAuthError> {
        let presented = oauth::presented_client(authorization, params)?;
        let client_id = self.authenticate(&presented).await?;
        match params.get("grant_type") {
            Some("authorization_code") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "only authorization_code is supported",
                ));
            }
            None => return Err(OAuthError::invalid_request("the `grant_type` parameter is required")),
        }
        let code = params.require("code")?;
        let redirect_uri = params.require("redirect_uri")?;
        let verifier = params.get("code_verifier");
        if verifier.is_some_and(|v| !oauth::valid_pkce_value(v)) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43-128 unreserved characters",
            ));
        }
        let invalid_code = || OAuthError::invalid_grant("the code is invalid, expired or already used");
        let (grant_id, code_hash) = parse_presented(code).ok_or_else(invalid_code)?;
        let stored = self
            .grants
            .load(grant_id)
            .await
            .map_err(store_error)?
            .ok_or_else(invalid_code)?;
        if !hashes_match(&stored.code_hash, &code_hash) {
            return Err(invalid_code());
        }
        if stored.status != GrantStatus::Issued {
            // RFC 6749 4.1.2: a code used twice revokes what was issued for it.
            self.grants.revoke(grant_id).await.map_err(store_error)?;
            tracing::warn!(grant_id, "authorization code replayed; its grant is revoked");
            return Err(invalid_code());
        }
        let now = self.clock.now_unix();
        if stored.code_expires_at <= now {
            return Err(invalid_code());
        }
        let grant = &stored.grant;
        if grant.client_id != client_id.as_str() {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if !same_redirect_uri(&grant.redirect_uri, redirect_uri) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&grant.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) if oauth::pkce_s256_matches(verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required for this code")),
            // RFC 9700 2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "this code was issued without a code_challenge",
                ));
            }
            (None, None) => {}
        }
        let access = new_secret(grant_id).map_err(store_error)?;
        // Sign before redeeming: a key problem must not burn the visitor's code.
        let client = self.client(&client_id).map_err(|_| OAuthError::server_error())?;
        let (id_token, kid) = self.id_token(client, grant, &access.value, now).await?;
        let access_expires_at = now + self.access_token_lifetime;
        if !self
            .grants
            .redeem(grant_id, &code_hash, now, &access.hash, access_expires_at)
            .await
            .map_err(store_error)?
        {
            // Lost a race with another redemption of the same code (or it expired meanwhile).
            self.grants.revoke(grant_id).await.map_err(store_error)?;
            return Err(invalid_code());
        }
        let body = json!({
            "access_token": access.value,
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "id_token": id_token,
            "scope": grant.scope,
        });
        Ok(TokenResponse {
            body,
            grant_id: grant_id.to_string(),
            kid,
        })
    }

    /// The userinfo endpoint: the grant's claims while its access token is valid and not revoked.
    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, OAuthError> {
        let invalid = || {
            OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
        };
        let (grant_id, hash) = parse_presented(access_token).ok_or_else(invalid)?;
        let stored = self
            .grants
            .load(grant_id)
            .await
            .map_err(store_error)?
            .ok_or_else(invalid)?;
        let valid = stored.status == GrantStatus::Redeemed
            && stored
                .access_hash
                .as_deref()
                .is_some_and(|stored| hashes_match(stored, &hash))
            && stored.access_expires_at.is_some_and(|exp| exp > self.clock.now_unix());
        if valid { Ok(stored.grant.claims) } else { Err(invalid()) }
    }

    fn client(&self, id: &ClientId) -> Result<&Client, OAuthError> {
        self.clients
            .get(id)
            .ok_or_else(|| OAuthError::invalid_request("unknown client_id"))
    }

    async fn authenticate(&self, presented: &oauth::PresentedClient) -> Result<ClientId, OAuthError> {
        let (id, client) = ClientId::parse(&presented.client_id)
            .and_then(|id| self.clients.get_key_value(&id))
            .ok_or_else(OAuthError::invalid_client)?;
        let expected = self.secrets.get(&client.config.secret).await.map_err(|error| {
            tracing::error!(error = %error, "client secret unavailable");
            if error.is_transient() {
                OAuthError::unavailable()
            } else {
                OAuthError::server_error()
            }
        })?;
        if expected.value.ct_eq(presented.secret.expose().as_bytes()) {
            Ok(id.clone())
        } else {
            Err(OAuthError::invalid_client())
        }
    }

    async fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        access_token: &str,
        now: u64,
    ) -> Result<(String, String), OAuthError> {
        let key_error = |error: KeyError| {
            tracing::error!(error = %error, "signing key unavailable");
            if error.is_transient() {
                OAuthError::unavailable()
            } else {
                OAuthError::server_error()
            }
        };
        let signer = self
            .keys
            .ring()
            .await
            .map_err(key_error)?
            .signer_for(&client.key)
            .map_err(key_error)?;
        let mut claims = grant.claims.clone();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(grant.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.id_token_lifetime));
        claims.insert("auth_time".into(), json!(grant.auth_time));
        claims.insert("at_hash".into(), json!(oauth::at_hash(access_token)));
        if let Some(nonce) = &grant.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let token = signer.sign_jwt(&claims).map_err(|error| {
            tracing::error!(error = %error, "id_token signing failed");
            OAuthError::server_error()
        })?;
        let token = match &client.encryption {
            None => token,
            Some(recipient) => recipient.encrypt_jwt(&token).map_err(|error| {
                tracing::error!(error = %error, "id_token encryption failed");
                OAuthError::server_error()
            })?,
        };
        Ok((token, signer.kid().to_string()))
    }
}

fn store_error(error: GrantStoreError) -> OAuthError {
    tracing::error!(error = %error, "grant store");
    match error {
        GrantStoreError::Unavailable(_) | GrantStoreError::Collision => OAuthError::unavailable(),
        GrantStoreError::Corrupt(_) => OAuthError::server_error(),
    }
}

impl Client {
    fn provider_client(&self) -> Result<&dyn ProviderClient, OAuthError> {
        // Only profiles with a provider view become clients (see `ProviderService::new`).
        self.profile
            .platform()
            .provider_client()
            .ok_or_else(OAuthError::server_error)
    }
}

/// `sub` and the profile's claims for one client, from the (already masked) identity.
fn client_claims(
    profile: &dyn ProviderClient,
    identity: &VerifiedClaims,
    now: u64,
) -> Result<Map<String, Value>, OAuthError> {
    profile.claims(identity, now).map_err(|error| match error {
        ClaimsError::Mapping(_) => {
            tracing::warn!(error = %error, "login lacks claims the client's profile needs");
            OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "the visitor's login lacks claims this client needs",
            )
        }
        _ => OAuthError::server_error(),
    })
}

fn discovery_document(issuer: &str, clients: &BTreeMap<ClientId, Client>) -> Value {
    let scopes: BTreeSet<&str> = clients
        .values()
        .flat_map(|c| c.config.scopes.iter().map(String::as_str))
        .collect();
    let mut claims: BTreeSet<&str> = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"].into();
    for client in clients.values() {
        if let Some(profile) = client.profile.platform().provider_client() {
            claims.extend(profile.claim_names());
        }
    }
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "claims_supported": claims,
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        // OIDC Core 3.1.2.1: login/select_account send the visitor through the login again when
        // one is configured; consent is answered consent_required (no consent screen).
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
    });
    // OpenID Connect Discovery 1.0 section 3: advertised only when some client's id_tokens are
    // encrypted (LivePerson's key decides the algorithms; nothing is negotiated).
    let encryptions: Vec<&JweRecipient> = clients.values().filter_map(|c| c.encryption.as_ref()).collect();
    if !encryptions.is_empty() {
        let algs: BTreeSet<&str> = encryptions.iter().map(|r| r.alg().name()).collect();
        let encs: BTreeSet<&str> = encryptions.iter().map(|r| r.enc().name()).collect();
        document["id_token_encryption_alg_values_supported"] = json!(algs);
        document["id_token_encryption_enc_values_supported"] = json!(encs);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::InMemorySecretStore;
    use crate::clock::FixedClock;
    use crate::keys::KeySetDocument;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const NOW: u64 = 1_800_000_000;
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    struct Fixture {
        provider: ProviderService,
        clock: Arc<FixedClock>,
        grants: Arc<MemoryGrantStore>,
    }

    fn fixture() -> Fixture {
        fixture_with(|_| {})
    }

    fn fixture_with(edit: impl FnOnce(&mut Value)) -> Fixture {
        let mut document = json!({
            "allowed_origins": [], "identity": {"sources": ["api_gateway_authorizer"]},
            "signing_keys": {"secret": "keys"},
            "profiles": {
                "claims": {"platform": "openid-connect", "claims": {"name": {"claim": "name"}, "nin": {"claim": "nin"},
                    "email_verified": {"claim": "email_verified"}, "phone_number_verified": {"claim": "phone_number_verified"},
                    "updated_at": {"claim": "updated_at"}, "address": {"claim": "address"},
                    "verified_national_id": {"claim": "national_id", "mask": "national_id"}}},
                "lp": {"platform": "liveperson", "issuer": "ignored", "token_lifetime_seconds": 300,
                       "customer_info": {"customerId": {"claim": "sub"}}}
            },
            "provider": {"issuer": "https://id.example.com", "clients": {
                "puzzel": {"secret": "puzzel-secret", "redirect_uris": ["https://chat.example.com/cb?x=1"],
                           "scopes": ["openid", "profile", "email", "phone", "address"], "profile": "claims",
                           "claims_without_scope": ["nin", "verified_national_id"]},
                "genesys": {"secret": "genesys-secret", "redirect_uris": ["https://g.example.com/cb"],
                            "scopes": ["openid"], "profile": "claims", "require_pkce": true},
                "liveperson": {"secret": "lp-secret", "redirect_uris": ["https://liveperson.net"],
                               "scopes": ["openid"], "profile": "lp"}
            }}
        });
        edit(&mut document);
        let config = ServiceConfig::from_json("test", &document.to_string()).unwrap();
        let secrets = Arc::new(InMemorySecretStore::default());
        secrets.put(
            "keys",
            KeySetDocument::generate(&[SigningAlgorithm::RS256], NOW - 10_000)
                .unwrap()
                .to_secret_string()
                .expose(),
        );
        secrets.put("puzzel-secret", "puzzel-pw");
        secrets.put("genesys-secret", "genesys-pw");
        secrets.put("lp-secret", "lp-pw");
        let clock = Arc::new(FixedClock::at(NOW));
        let grants = Arc::new(MemoryGrantStore::new());
        let provider = ProviderService::new(&config, grants.clone(), secrets, clock.clone()).unwrap();
        Fixture {
            provider,
            clock,
            grants,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into()))).unwrap()
    }

    fn alice() -> VerifiedClaims {
        VerifiedClaims::from_json(
            json!({"sub": "alice", "name": "Alice A", "nin": "01129954321", "auth_time": NOW - 60}),
        )
        .unwrap()
    }

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
    }

    async fn code_for(f: &Fixture, extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![
            ("client_id", "puzzel"),
            ("redirect_uri", "https://chat.example.com/cb?x=1"),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("nonce", "n-1"),
            ("state", "s-1"),
        ];
        pairs.extend_from_slice(extra);
        let p = params(&pairs);
        let target = f.provider.trusted_redirect(&p, Channel::Redirect).unwrap();
        let request = f.provider.check_request(target, &p, Channel::Redirect).unwrap();
        f.provider.issue_code(&request, alice()).await.unwrap().code
    }

    fn token_params<'a>(code: &'a str, extra: &[(&'a str, &'a str)]) -> Params {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "https://chat.example.com/cb?x=1"),
        ];
        pairs.extend_from_slice(extra);
        params(&pairs)
    }

    fn payload(jwt: &str) -> Value {
        let part = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_nonce_with_a_control_or_invisible_character_is_refused() {
        let f = fixture();
        let check = |nonce: &str| {
            let p = params(&[
                ("client_id", "puzzel"),
                ("redirect_uri", "https://chat.example.com/cb?x=1"),
                ("response_type", "code"),
                ("scope", "openid"),
                ("nonce", nonce),
            ]);
            let target = f.provider.trusted_redirect(&p, Channel::Redirect).unwrap();
            f.provider
                .check_request(target, &p, Channel::Redirect)
                .map(|r| r.nonce)
                .map_err(|e| e.code)
        };
        assert_eq!(check("n-1 é"), Ok(Some("n-1 é".to_string())), "control");
        for bad in [
            '\0',
            '\n',
            '\u{7F}',
            '\u{85}',
            '\u{200E}',
            '\u{202E}',
            '\u{2066}',
            '\u{2028}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            assert_eq!(
                check(&format!("n{bad}1")),
                Err(OAuthErrorCode::InvalidRequest),
                "U+{:04X}",
                bad as u32
            );
        }
    }

    #[tokio::test]
    async fn code_exchange_issues_a_bound_id_token_and_userinfo() {
        let f = fixture();
        let code = code_for(&f, &[]).await;
        let response = f
            .provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap();
        let body = &response.body;
        assert_eq!(
            (body["token_type"].as_str(), body["expires_in"].as_u64()),
            (Some("Bearer"), Some(300))
        );
        let access = body["access_token"].as_str().unwrap();
        let claims = payload(body["id_token"].as_str().unwrap());
        assert_eq!(claims["iss"], "https://id.example.com");
        assert_eq!(claims["aud"], "puzzel");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["auth_time"], NOW - 60);
        assert_eq!(
            (claims["iat"].as_u64(), claims["exp"].as_u64()),
            (Some(NOW), Some(NOW + 300))
        );
        assert_eq!(claims["at_hash"], oauth::at_hash(access));
        assert_eq!(claims["nin"], "011299*****", "masked by the default claim policy");
        let userinfo = f.provider.userinfo(access).await.unwrap();
        assert_eq!(
            Value::Object(userinfo),
            json!({"sub": "alice", "name": "Alice A", "nin": "011299*****"})
        );
    }

    /// LivePerson's encryption key wraps the code flow's id_token too (the spec's "JWT as
    /// above"): a compact JWE for LivePerson's key around the same signed id_token.
    #[tokio::test]
    async fn a_liveperson_client_with_an_encryption_key_gets_an_encrypted_id_token() {
        const PUBLIC_SPKI: &str = include_str!("../../../tests/fixtures/liveperson-test-key.spki.b64");
        const PRIVATE_PKCS8: &str = include_str!("../../../tests/fixtures/liveperson-test-key.pk8.b64");
        let f = fixture_with(|document| {
            document["profiles"]["lp"]["encryption"] = json!({"public_key": PUBLIC_SPKI.trim(), "kid": "lp-key-1"});
        });
        let discovery = f.provider.discovery();
        assert_eq!(
            discovery["id_token_encryption_alg_values_supported"],
            json!(["RSA-OAEP-256"])
        );
        assert_eq!(
            discovery["id_token_encryption_enc_values_supported"],
            json!(["A256GCM"])
        );

        let p = params(&[
            ("client_id", "liveperson"),
            ("redirect_uri", "https://liveperson.net"),
            ("scope", "openid"),
        ]);
        let target = f.provider.trusted_redirect(&p, Channel::PageScript).unwrap();
        let request = f.provider.check_request(target, &p, Channel::PageScript).unwrap();
        let code = f.provider.issue_code(&request, alice()).await.unwrap().code;
        let token_request = params(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://liveperson.net"),
        ]);
        let response = f
            .provider
            .exchange(Some(&basic("liveperson", "lp-pw")), &token_request)
            .await
            .unwrap();
        let id_token = response.body["id_token"].as_str().unwrap();
        assert_eq!(id_token.split('.').count(), 5, "a compact JWE");

        let private = STANDARD.decode(PRIVATE_PKCS8.trim()).unwrap();
        let (header, plaintext) = crate::jwe::decrypt_compact(id_token, &private).unwrap();
        assert_eq!(
            (header["alg"].as_str(), header["enc"].as_str()),
            (Some("RSA-OAEP-256"), Some("A256GCM"))
        );
        assert_eq!(
            (header["cty"].as_str(), header["kid"].as_str()),
            (Some("JWT"), Some("lp-key-1"))
        );
        let signed = String::from_utf8(plaintext).unwrap();
        assert_eq!(signed.split('.').count(), 3, "a signed JWT inside");
        let claims = payload(&signed);
        assert_eq!(
            (claims["iss"].as_str(), claims["aud"].as_str(), claims["sub"].as_str()),
            (Some("https://id.example.com"), Some("liveperson"), Some("alice"))
        );
        assert_eq!(
            claims["at_hash"],
            oauth::at_hash(response.body["access_token"].as_str().unwrap())
        );
        assert_eq!(claims["lp_sdes"][0]["info"]["customerId"], "alice");

        // Clients of profiles without a key still get a plain signed id_token from the same provider.
        let code = code_for(&f, &[]).await;
        let plain = f
            .provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap();
        assert_eq!(plain.body["id_token"].as_str().unwrap().split('.').count(), 3);
    }

    /// The id_token and userinfo of one code for `identity` (client `puzzel`).
    async fn id_token_and_userinfo(f: &Fixture, identity: VerifiedClaims) -> (Value, Value) {
        let p = params(&[
            ("client_id", "puzzel"),
            ("redirect_uri", "https://chat.example.com/cb?x=1"),
            ("response_type", "code"),
            ("scope", "openid profile email phone address"),
        ]);
        let target = f.provider.trusted_redirect(&p, Channel::Redirect).unwrap();
        let request = f.provider.check_request(target, &p, Channel::Redirect).unwrap();
        let code = f.provider.issue_code(&request, identity).await.unwrap().code;
        let response = f
            .provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap();
        let userinfo = f
            .provider
            .userinfo(response.body["access_token"].as_str().unwrap())
            .await
            .unwrap();
        (
            payload(response.body["id_token"].as_str().unwrap()),
            Value::Object(userinfo),
        )
    }

    /// OIDC Core 5.1 types reach the id_token and userinfo as the verified login had them.
    #[tokio::test]
    async fn standard_claims_keep_their_openid_types() {
        let f = fixture();
        let address =
            json!({"street_address": "Storgata 1", "locality": "Oslo", "postal_code": "0155", "country": "NO"});
        let identity = VerifiedClaims::from_json(json!({"sub": "alice", "name": "Alice A", "nin": "01129954321", "national_id": "01129954321",
            "email_verified": true, "phone_number_verified": false, "updated_at": 1_767_225_600u64, "address": address})).unwrap();
        let (id_token, userinfo) = id_token_and_userinfo(&f, identity).await;
        for claims in [&id_token, &userinfo] {
            assert_eq!(claims["email_verified"], json!(true), "{claims}");
            assert_eq!(claims["phone_number_verified"], json!(false), "{claims}");
            assert_eq!(claims["updated_at"], json!(1_767_225_600u64), "{claims}");
            assert_eq!(claims["address"], address, "an object, not its JSON text");
            // Masked claims stay strings, whatever their name.
            assert_eq!(
                (claims["nin"].as_str(), claims["verified_national_id"].as_str()),
                (Some("011299*****"), Some("011299*****"))
            );
        }
        assert_eq!(userinfo.as_object().unwrap().len(), 8, "{userinfo}");
    }

    /// API Gateway's authorizer passes strings: only `"true"`/`"false"` and canonical digits are
    /// taken; every other wrongly typed value is left out (never stringified, never a refusal).
    #[tokio::test]
    async fn wrongly_typed_standard_claims_are_left_out() {
        let f = fixture();
        let identity = VerifiedClaims::from_json(
            json!({"sub": "alice", "email_verified": "true", "phone_number_verified": "false",
            "updated_at": "1767225600", "address": "Storgata 1, 0155 Oslo"}),
        )
        .unwrap();
        let (_, userinfo) = id_token_and_userinfo(&f, identity).await;
        assert_eq!(
            userinfo,
            json!({"sub": "alice", "email_verified": true, "phone_number_verified": false, "updated_at": 1_767_225_600u64})
        );

        for (claim, wrong) in [
            ("email_verified", json!("True")),
            ("email_verified", json!("yes")),
            ("email_verified", json!(1)),
            ("phone_number_verified", json!("0")),
            ("phone_number_verified", json!(null)),
            ("updated_at", json!("soon")),
            ("updated_at", json!(-1)),
            ("updated_at", json!(1.5)),
            ("updated_at", json!(true)),
            ("address", json!(r#"{"country":"NO"}"#)),
            ("address", json!(["Oslo"])),
            ("address", json!({"planet": "Earth"})),
        ] {
            let identity = VerifiedClaims::from_json(json!({"sub": "alice", claim: wrong})).unwrap();
            let (id_token, userinfo) = id_token_and_userinfo(&f, identity).await;
            assert!(id_token.get(claim).is_none(), "{claim} = {wrong}: {id_token}");
            assert_eq!(userinfo, json!({"sub": "alice"}), "{claim} = {wrong}");
        }
        // An address keeps only its standard string members.
        let identity = VerifiedClaims::from_json(
            json!({"sub": "alice", "address": {"country": "NO", "postal_code": 155, "x": "y"}}),
        )
        .unwrap();
        assert_eq!(
            id_token_and_userinfo(&f, identity).await.1["address"],
            json!({"country": "NO"})
        );

        // A masked claim is a string whatever its output name.
        let f = fixture_with(|document| {
            document["profiles"]["claims"]["claims"]["phone_number_verified"] =
                json!({"claim": "nin", "mask": "national_id"});
        });
        let identity = VerifiedClaims::from_json(json!({"sub": "alice", "nin": "01129954321"})).unwrap();
        assert_eq!(
            id_token_and_userinfo(&f, identity).await.1["phone_number_verified"],
            "011299*****"
        );
    }

    #[tokio::test]
    async fn a_replayed_code_is_refused_and_revokes_the_access_token() {
        let f = fixture();
        let code = code_for(&f, &[]).await;
        let auth = basic("puzzel", "puzzel-pw");
        let first = f
            .provider
            .exchange(Some(&auth), &token_params(&code, &[]))
            .await
            .unwrap();
        let access = first.body["access_token"].as_str().unwrap().to_string();
        assert!(f.provider.userinfo(&access).await.is_ok());
        let replay = f
            .provider
            .exchange(Some(&auth), &token_params(&code, &[]))
            .await
            .unwrap_err();
        assert_eq!(replay.code, OAuthErrorCode::InvalidGrant);
        assert_eq!(
            f.provider.userinfo(&access).await.unwrap_err().code,
            OAuthErrorCode::InvalidToken
        );
    }

    #[tokio::test]
    async fn every_binding_is_checked_and_a_failed_check_issues_nothing() {
        let f = fixture();
        let code = code_for(&f, &[]).await;
        let auth = basic("puzzel", "puzzel-pw");
        let cases: Vec<(Option<Vec<u8>>, Params, OAuthErrorCode)> = vec![
            (
                Some(basic("puzzel", "wrong")),
                token_params(&code, &[]),
                OAuthErrorCode::InvalidClient,
            ),
            (None, token_params(&code, &[]), OAuthErrorCode::InvalidClient),
            (
                Some(basic("genesys", "genesys-pw")),
                token_params(&code, &[]),
                OAuthErrorCode::InvalidGrant,
            ),
            (
                Some(auth.clone()),
                params(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://chat.example.com/cb"),
                ]),
                OAuthErrorCode::InvalidGrant,
            ),
            (
                Some(auth.clone()),
                params(&[("grant_type", "authorization_code"), ("code", &code)]),
                OAuthErrorCode::InvalidRequest,
            ),
            (
                Some(auth.clone()),
                params(&[("grant_type", "password"), ("code", &code)]),
                OAuthErrorCode::UnsupportedGrantType,
            ),
            (
                Some(auth.clone()),
                token_params(&code, &[("code_verifier", VERIFIER)]),
                OAuthErrorCode::InvalidGrant,
            ),
            (
                Some(auth.clone()),
                token_params("not-a-code", &[]),
                OAuthErrorCode::InvalidGrant,
            ),
            (
                Some(auth.clone()),
                token_params(&format!("{}x", &code[..code.len() - 1]), &[]),
                OAuthErrorCode::InvalidGrant,
            ),
        ];
        for (i, (authorization, p, expected)) in cases.into_iter().enumerate() {
            let error = f.provider.exchange(authorization.as_deref(), &p).await.unwrap_err();
            assert_eq!(error.code, expected, "case {i}: {error:?}");
        }
        // None of the refusals consumed the code.
        assert!(
            f.provider
                .exchange(Some(&auth), &token_params(&code, &[]))
                .await
                .is_ok()
        );
    }

    #[test]
    fn redirect_uris_match_byte_for_byte_never_after_normalisation() {
        assert!(
            same_redirect_uri("https://liveperson.net", "https://liveperson.net"),
            "control"
        );
        assert!(
            same_redirect_uri("http://127.0.0.1:8765/callback", "http://127.0.0.1:8765/callback"),
            "control"
        );
        // Each class of spelling that URL parsing would make equal: all refused (RFC 6749 3.1.2.3).
        for other in [
            "HTTP://127.0.0.1:8765/callback",
            "http://127.0.0.1:08765/callback",
            "http://127.0.0.1:8765/x/../callback",
            "http://127.0.0.1:8765/./callback",
            "http://127.0.0.1:8765/%63allback",
            "http://127.0.0.1:8765/callback/",
            "http://127.0.0.1:8765/callback#",
            "http://127.0.0.1:8765/callback?",
            " http://127.0.0.1:8765/callback",
            "http://127.0.0.1:8765/Callback",
        ] {
            assert!(!same_redirect_uri("http://127.0.0.1:8765/callback", other), "{other}");
        }
        for other in [
            "https://liveperson.net/",
            "https://LIVEPERSON.net",
            "https://liveperson.net:443",
            "https://liveperson.net.evil.com/",
            "https://liveperson.net/x",
            "http://liveperson.net/",
            "https://liveperson.net/#frag",
            "https://liveperson.net/?a=1",
            "https://user@liveperson.net/",
            "//liveperson.net",
        ] {
            assert!(!same_redirect_uri("https://liveperson.net", other), "{other}");
        }
    }

    #[tokio::test]
    async fn codes_expire_after_their_lifetime() {
        let f = fixture();
        let code = code_for(&f, &[]).await;
        f.clock.advance(60);
        let error = f
            .provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap_err();
        assert_eq!(error.code, OAuthErrorCode::InvalidGrant);
    }

    #[tokio::test]
    async fn pkce_is_enforced_both_ways() {
        let f = fixture();
        let code = code_for(&f, &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]).await;
        let auth = basic("puzzel", "puzzel-pw");
        for verifier in [None, Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX")] {
            let extra: Vec<(&str, &str)> = verifier.map(|v| ("code_verifier", v)).into_iter().collect();
            let error = f
                .provider
                .exchange(Some(&auth), &token_params(&code, &extra))
                .await
                .unwrap_err();
            assert_eq!(error.code, OAuthErrorCode::InvalidGrant);
        }
        assert!(
            f.provider
                .exchange(Some(&auth), &token_params(&code, &[("code_verifier", VERIFIER)]))
                .await
                .is_ok()
        );

        // A client that must use PKCE cannot start without it, and `plain` is refused.
        let genesys = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![
                ("client_id", "genesys"),
                ("redirect_uri", "https://g.example.com/cb"),
                ("response_type", "code"),
                ("scope", "openid"),
            ];
            pairs.extend_from_slice(extra);
            params(&pairs)
        };
        for extra in [
            &[][..],
            &[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")][..],
            &[("code_challenge", CHALLENGE)][..],
        ] {
            let p = genesys(extra);
            let target = f.provider.trusted_redirect(&p, Channel::Redirect).unwrap();
            assert_eq!(
                f.provider
                    .check_request(target, &p, Channel::Redirect)
                    .unwrap_err()
                    .code,
                OAuthErrorCode::InvalidRequest
            );
        }
    }

    #[tokio::test]
    async fn untrusted_redirects_are_never_targets_and_request_errors_are() {
        let f = fixture();
        for p in [
            params(&[
                ("client_id", "nobody"),
                ("redirect_uri", "https://chat.example.com/cb?x=1"),
            ]),
            params(&[
                ("client_id", "puzzel"),
                ("redirect_uri", "https://chat.example.com/cb?x=1&y=2"),
            ]),
            params(&[("client_id", "puzzel"), ("redirect_uri", "https://chat.example.com/cb")]),
            params(&[("client_id", "puzzel")]),
        ] {
            assert!(f.provider.trusted_redirect(&p, Channel::Redirect).is_err());
        }
        let base = [
            ("client_id", "puzzel"),
            ("redirect_uri", "https://chat.example.com/cb?x=1"),
        ];
        for (extra, expected) in [
            (
                vec![("response_type", "token"), ("scope", "openid")],
                OAuthErrorCode::UnsupportedResponseType,
            ),
            (
                vec![("response_type", "code"), ("scope", "profile")],
                OAuthErrorCode::InvalidScope,
            ),
            (
                vec![("response_type", "code"), ("scope", "email address")],
                OAuthErrorCode::InvalidScope,
            ),
            (
                vec![("response_type", "code"), ("scope", "openid"), ("prompt", "none login")],
                OAuthErrorCode::InvalidRequest,
            ),
            (
                vec![("response_type", "code"), ("scope", "openid"), ("max_age", "-1")],
                OAuthErrorCode::InvalidRequest,
            ),
            (
                vec![("response_type", "code"), ("scope", "openid"), ("max_age", "1.5")],
                OAuthErrorCode::InvalidRequest,
            ),
            (
                vec![("response_type", "code"), ("scope", "openid"), ("request", "x.y.z")],
                OAuthErrorCode::RequestNotSupported,
            ),
        ] {
            let mut pairs = base.to_vec();
            pairs.extend(extra);
            let p = params(&pairs);
            let target = f.provider.trusted_redirect(&p, Channel::Redirect).unwrap();
            let error = f
                .provider
                .check_request(target.clone(), &p, Channel::Redirect)
                .unwrap_err();
            assert_eq!(error.code, expected);
            let location = f.provider.redirect_location(&target, Err(&error), Some("st"));
            assert!(
                location.starts_with("https://chat.example.com/cb?x=1&error="),
                "{location}"
            );
            assert!(
                location.contains("&state=st&iss=https%3A%2F%2Fid.example.com"),
                "{location}"
            );
        }
    }

    #[tokio::test]
    async fn liveperson_clients_get_lp_sdes_through_the_page_script_channel() {
        let f = fixture();
        let p = params(&[("client_id", "liveperson")]);
        let target = f.provider.trusted_redirect(&p, Channel::PageScript).unwrap();
        assert_eq!(target.redirect_uri, "https://liveperson.net");
        let request = f.provider.check_request(target, &p, Channel::PageScript).unwrap();
        let code = f.provider.issue_code(&request, alice()).await.unwrap().code;
        let form = params(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://liveperson.net"),
            ("client_id", "liveperson"),
            ("client_secret", "lp-pw"),
        ]);
        let response = f.provider.exchange(None, &form).await.unwrap();
        let claims = payload(response.body["id_token"].as_str().unwrap());
        assert_eq!(
            claims["lp_sdes"],
            json!([{"type": "ctmrinfo", "info": {"customerId": "alice"}}])
        );
        assert_eq!(
            (claims["iss"].as_str(), claims["aud"].as_str()),
            (Some("https://id.example.com"), Some("liveperson"))
        );
        assert!(claims.get("nonce").is_none());
    }

    #[tokio::test]
    async fn a_store_outage_is_temporarily_unavailable() {
        struct Down;
        #[async_trait::async_trait]
        impl GrantStore for Down {
            async fn create(&self, _: &str, _: &Grant, _: &str, _: u64) -> Result<(), GrantStoreError> {
                Err(GrantStoreError::Unavailable("down".into()))
            }
            async fn load(&self, _: &str) -> Result<Option<crate::grants::StoredGrant>, GrantStoreError> {
                Err(GrantStoreError::Unavailable("down".into()))
            }
            async fn redeem(&self, _: &str, _: &str, _: u64, _: &str, _: u64) -> Result<bool, GrantStoreError> {
                Err(GrantStoreError::Unavailable("down".into()))
            }
            async fn revoke(&self, _: &str) -> Result<(), GrantStoreError> {
                Err(GrantStoreError::Unavailable("down".into()))
            }
        }
        let f = fixture();
        let code = code_for(&f, &[]).await;
        let provider = ProviderService {
            grants: Arc::new(Down),
            ..f.provider
        };
        let error = provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap_err();
        assert_eq!(error.code, OAuthErrorCode::TemporarilyUnavailable);
        assert_eq!(
            f.grants
                .load(code.split('.').next().unwrap())
                .await
                .unwrap()
                .unwrap()
                .status,
            GrantStatus::Issued
        );
    }

    #[test]
    fn discovery_lists_what_is_supported() {
        let f = fixture();
        let d = f.provider.discovery();
        assert_eq!(d["token_endpoint"], "https://id.example.com/oauth2/token");
        assert_eq!(d["jwks_uri"], "https://id.example.com/.well-known/jwks.json");
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            d["scopes_supported"],
            json!(["address", "email", "openid", "phone", "profile"])
        );
        assert_eq!(
            d["prompt_values_supported"],
            json!(["none", "login", "consent", "select_account"])
        );
        assert_eq!(d["claims_parameter_supported"], json!(false));
        // OpenID Connect Discovery 1.0 section 3's required members.
        for required in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            assert!(d.get(required).is_some_and(|v| !v.is_null()), "{required}");
        }
        assert!(d["claims_supported"].as_array().unwrap().contains(&json!("lp_sdes")));
        assert!(d["claims_supported"].as_array().unwrap().contains(&json!("nin")));
    }

    /// A request for `scope` from client `puzzel` (with the fixture's registered redirect URI).
    fn request_with(f: &Fixture, extra: &[(&str, &str)]) -> Result<AuthorizationRequest, OAuthError> {
        let mut pairs = vec![
            ("client_id", "puzzel"),
            ("redirect_uri", "https://chat.example.com/cb?x=1"),
            ("response_type", "code"),
        ];
        pairs.extend_from_slice(extra);
        let p = params(&pairs);
        let target = f.provider.trusted_redirect(&p, Channel::Redirect)?;
        f.provider.check_request(target, &p, Channel::Redirect)
    }

    /// OIDC Core 3.1.2.1: unknown scope values are ignored, and so is any the client is not
    /// registered for (never granted); the token response's `scope` says what was granted.
    #[tokio::test]
    async fn unknown_and_unregistered_scopes_are_ignored_never_granted() {
        let f = fixture();
        for (asked, granted) in [
            ("openid", "openid"),
            ("openid offline_access", "openid"),
            (
                "openid profile address offline_access x-custom",
                "address openid profile",
            ),
            ("profile openid openid", "openid profile"),
        ] {
            assert_eq!(request_with(&f, &[("scope", asked)]).unwrap().scope, granted, "{asked}");
        }
        // genesys is registered for openid only: profile is not granted to it.
        let p = params(&[
            ("client_id", "genesys"),
            ("redirect_uri", "https://g.example.com/cb"),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let target = f.provider.trusted_redirect(&p, Channel::Redirect).unwrap();
        let request = f.provider.check_request(target, &p, Channel::Redirect).unwrap();
        assert_eq!(request.scope, "openid");
        let code = f.provider.issue_code(&request, alice()).await.unwrap().code;
        let form = params(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://g.example.com/cb"),
            ("code_verifier", VERIFIER),
        ]);
        let response = f
            .provider
            .exchange(Some(&basic("genesys", "genesys-pw")), &form)
            .await
            .unwrap();
        assert_eq!(response.body["scope"], "openid");
        let claims = payload(response.body["id_token"].as_str().unwrap());
        assert!(claims.get("name").is_none(), "profile was not granted: {claims}");
        // Without openid it is not an OpenID request at all.
        assert_eq!(
            request_with(&f, &[("scope", "profile offline_access")])
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidScope
        );
    }

    /// OIDC Core 5.4: standard claims follow the granted scopes, in the id_token and userinfo
    /// alike; a non-standard claim only when the client's `claims_without_scope` names it.
    #[tokio::test]
    async fn claims_follow_the_granted_scopes() {
        let f = fixture();
        let identity = || {
            VerifiedClaims::from_json(
                json!({"sub": "alice", "name": "Alice A", "nin": "01129954321", "national_id": "01129954321",
            "email_verified": true, "phone_number_verified": false, "updated_at": 1_767_225_600u64,
            "address": {"country": "NO"}}),
            )
            .unwrap()
        };
        let always = ["sub", "nin", "verified_national_id"];
        for (scope, extra) in [
            ("openid", vec![]),
            ("openid profile", vec!["name", "updated_at"]),
            ("openid email", vec!["email_verified"]),
            ("openid phone", vec!["phone_number_verified"]),
            ("openid address", vec!["address"]),
            (
                "openid profile email phone address",
                vec![
                    "name",
                    "updated_at",
                    "email_verified",
                    "phone_number_verified",
                    "address",
                ],
            ),
        ] {
            let request = request_with(&f, &[("scope", scope)]).unwrap();
            let code = f.provider.issue_code(&request, identity()).await.unwrap().code;
            let response = f
                .provider
                .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
                .await
                .unwrap();
            let userinfo = f
                .provider
                .userinfo(response.body["access_token"].as_str().unwrap())
                .await
                .unwrap();
            let mut expected: Vec<&str> = always.iter().copied().chain(extra).collect();
            expected.sort_unstable();
            assert_eq!(
                userinfo.keys().map(String::as_str).collect::<Vec<_>>(),
                expected,
                "{scope}: userinfo"
            );
            let id_token = payload(response.body["id_token"].as_str().unwrap());
            for claim in [
                "name",
                "updated_at",
                "email_verified",
                "phone_number_verified",
                "address",
                "nin",
            ] {
                assert_eq!(
                    id_token.get(claim).is_some(),
                    expected.contains(&claim),
                    "{scope}: id_token {claim}"
                );
            }
        }
        // Without the client's list, a non-standard claim is never released.
        let f = fixture_with(|document| {
            document["provider"]["clients"]["puzzel"]["claims_without_scope"] = json!([]);
        });
        let request = request_with(&f, &[("scope", "openid profile email phone address")]).unwrap();
        let code = f.provider.issue_code(&request, identity()).await.unwrap().code;
        let response = f
            .provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap();
        let userinfo = f
            .provider
            .userinfo(response.body["access_token"].as_str().unwrap())
            .await
            .unwrap();
        assert!(
            userinfo.get("nin").is_none() && userinfo.get("verified_national_id").is_none(),
            "{userinfo:?}"
        );
        assert!(userinfo.get("name").is_some(), "control: {userinfo:?}");
    }

    #[test]
    fn claims_without_scope_must_name_the_profiles_claims() {
        let document = |list: Value| {
            let mut d = json!({"allowed_origins": [], "identity": {"sources": ["api_gateway_authorizer"]}, "signing_keys": {"secret": "keys"},
                "profiles": {"claims": {"platform": "openid-connect", "claims": {"nin": {"claim": "nin"}}},
                             "lp": {"platform": "liveperson", "issuer": "x", "token_lifetime_seconds": 300, "customer_info": {"customerId": {"claim": "sub"}}}},
                "provider": {"issuer": "https://id.example.com", "clients": {
                    "puzzel": {"secret": "s", "redirect_uris": ["https://c.example.com/cb"], "scopes": ["openid"], "profile": "claims"},
                    "liveperson": {"secret": "s", "redirect_uris": ["https://liveperson.net"], "scopes": ["openid"], "profile": "lp"}}}});
            d["provider"]["clients"]["puzzel"]["claims_without_scope"] = list;
            d.to_string()
        };
        assert!(
            ServiceConfig::from_json("test", &document(json!(["nin"]))).is_ok(),
            "control"
        );
        assert!(ServiceConfig::from_json("test", &document(json!(["email"]))).is_err());
        assert!(ServiceConfig::from_json("test", &document(json!("nin"))).is_err());
        let mut lp: Value = serde_json::from_str(&document(json!([]))).unwrap();
        lp["provider"]["clients"]["liveperson"]["claims_without_scope"] = json!(["lp_sdes"]);
        assert!(ServiceConfig::from_json("test", &lp.to_string()).is_err());
    }

    /// OIDC Core 3.1.2.1 `prompt` and `max_age`, against a login at NOW - 60 (alice's auth_time).
    #[test]
    fn prompt_and_max_age_ask_for_a_fresh_login() {
        let f = fixture();
        let check = |extra: &[(&str, &str)], sent: Option<u64>| {
            let mut pairs = vec![("scope", "openid")];
            pairs.extend_from_slice(extra);
            let request = request_with(&f, &pairs).unwrap();
            f.provider.check_login(&request, &alice(), sent).map_err(|e| e.code)
        };
        use OAuthErrorCode::*;
        for (extra, expected) in [
            (vec![], Ok(())),
            (vec![("prompt", "none")], Ok(())),
            (vec![("prompt", "unknown-value")], Ok(())),
            (vec![("max_age", "60")], Ok(())),
            (vec![("max_age", "3600")], Ok(())),
            (vec![("max_age", "59")], Err(LoginRequired)),
            (vec![("max_age", "0")], Err(LoginRequired)),
            (vec![("prompt", "login")], Err(LoginRequired)),
            (vec![("prompt", "select_account")], Err(AccountSelectionRequired)),
            (vec![("prompt", "consent")], Err(ConsentRequired)),
            (vec![("prompt", "login consent")], Err(ConsentRequired)),
        ] {
            assert_eq!(check(&extra, None), expected, "{extra:?}");
        }
        // Resumed after sending the visitor to a login: a login since then is fresh (no loop);
        // one from before it is not.
        assert_eq!(check(&[("prompt", "login")], Some(NOW - 60)), Ok(()));
        assert_eq!(check(&[("prompt", "select_account")], Some(NOW - 60)), Ok(()));
        assert_eq!(check(&[("prompt", "login")], Some(NOW)), Err(LoginRequired));
        assert_eq!(
            check(&[("max_age", "10")], Some(NOW - 60)),
            Err(LoginRequired),
            "still older than max_age"
        );
        // `none` with anything else is a contradiction.
        for prompt in ["none login", "login none", "none consent", "none select_account"] {
            assert_eq!(
                request_with(&f, &[("scope", "openid"), ("prompt", prompt)])
                    .unwrap_err()
                    .code,
                InvalidRequest,
                "{prompt}"
            );
        }
    }

    /// OIDC Core 2: `auth_time` is the login's, never the code's issue time.
    #[tokio::test]
    async fn auth_time_is_the_logins() {
        let f = fixture();
        let request = request_with(&f, &[("scope", "openid"), ("max_age", "600")]).unwrap();
        let code = f.provider.issue_code(&request, alice()).await.unwrap().code;
        let response = f
            .provider
            .exchange(Some(&basic("puzzel", "puzzel-pw")), &token_params(&code, &[]))
            .await
            .unwrap();
        assert_eq!(
            payload(response.body["id_token"].as_str().unwrap())["auth_time"],
            NOW - 60
        );
        // Without auth_time, the login token's iat.
        let identity = VerifiedClaims::from_json(json!({"sub": "alice", "iat": NOW - 90})).unwrap();
        assert_eq!(f.provider.auth_time(&identity), NOW - 90);
        // API Gateway's authorizer claims are strings; only canonical digits are a time.
        let identity =
            VerifiedClaims::from_json(json!({"sub": "alice", "auth_time": (NOW - 120).to_string()})).unwrap();
        assert_eq!(f.provider.auth_time(&identity), NOW - 120);
        for odd in [json!("0x10"), json!("+100"), json!(" 100"), json!(NOW + 10), json!(-5)] {
            let identity = VerifiedClaims::from_json(json!({"sub": "alice", "auth_time": odd})).unwrap();
            assert_eq!(
                f.provider.auth_time(&identity),
                NOW,
                "{odd}: not a past login time, so now"
            );
        }
    }
}
