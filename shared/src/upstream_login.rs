//! Visitor login through an upstream OpenID provider (BankID via Signicat, ForgeRock, Entra):
//! our side of the authorization code flow, as a relying party built on the `openidconnect` crate.
//!
//! `start` redirects to the provider with `state`, `nonce`, PKCE S256, scopes and `acr_values`;
//! the three secrets of the attempt travel in a sealed login-state cookie scoped to the callback
//! path, so a callback in another browser has nothing to match. `callback` accepts only the
//! parameters a provider sends, checks `state` and RFC 9207 `iss`, records the state as used (once,
//! in a store shared by all containers: `used_states`), exchanges the code with the client secret from Secrets Manager, has the crate
//! verify the ID token (issuer, audience and no untrusted extra audience, algorithm allow-list,
//! signature against the JWKS, `exp`/`iat` with leeway, nonce), checks `at_hash`, refetches the
//! JWKS at most once a minute for an unknown `kid`, calls userinfo unless `use_userinfo` is off
//! (its `sub` must match; its claims join the ID token's, which win where both have one: brokers
//! like Signicat put only `sub` in the ID token), then masks the claims and seals them into the
//! session cookie.
//!
//! The provider is reached through adapters: the one HTTP client (no redirects, a timeout, bodies
//! capped: `adapters::http_client`), discovery fetched once per container and not retried by
//! every login during an outage (`adapters::oidc_discovery`), and the JWKS cache bearer
//! verification uses too (`adapters::jwks`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use url::Url;

use crate::adapters::http_client::FetchError;
use crate::adapters::http_client::{self, oidc_fetcher};
use crate::adapters::jwks::{HttpJwksSource, JwksCache, JwksCacheSettings};
use crate::adapters::oidc_discovery::{DiscoveryCache, DiscoveryFailure};
use crate::clock::Clock;
use crate::config::{
    ConfigError, ProfileName, ServiceConfig, SessionConfig, UpstreamAuthMethod, UpstreamProviderConfig,
};
use crate::mapping::ClaimPolicy;
use crate::openid_provider::Params;
use crate::secrets::SecretStore;
use crate::session::{CookieSettings, Purpose, SessionError, SessionKeys, SessionPayload, cookie_value};
use crate::used_states::{MemoryUsedStates, UsedStates};
use crate::values::JwsAlgorithm;
use crate::values::VerifiedClaims;

/// The login-state cookie lives as long as a visitor may take at the provider.
const LOGIN_STATE_SECONDS: u64 = 600;
const LOGIN_STATE_COOKIE: &str = "whoscalling_login";
/// At most one JWKS refetch per provider in this interval, whatever `kid`s arrive.
const JWKS_MIN_REFETCH_SECONDS: u64 = 60;
/// A provider's keys older than this are refetched on the next login (the old ones serve if
/// that fails).
const JWKS_MAX_AGE_SECONDS: u64 = 3600;
/// The parameters a provider may put on our callback: the authorization response (`code`,
/// `state`), RFC 9207 `iss`, OpenID session management's `session_state` (Entra, Keycloak), the
/// error response (`error`, `error_description`, `error_uri`), and what Google adds (`scope`,
/// `authuser`, `prompt`, `hd`). Anything else (`redirect_uri`, `client_id`, `code_verifier`,
/// `nonce`, ...) was not sent by a provider but injected into the link, and is refused before the
/// provider is called; so is any parameter given twice.
pub const CALLBACK_PARAMETERS: [&str; 11] = [
    "code",
    "state",
    "iss",
    "session_state",
    "error",
    "error_description",
    "error_uri",
    "scope",
    "authuser",
    "prompt",
    "hd",
];
/// Claims that describe the ID token rather than the visitor; not kept in the session.
const TOKEN_CLAIMS: [&str; 10] = [
    "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp", "jti",
];

/// Why a login did not complete. Descriptions are fixed texts: never a code, token or claim.
/// Its wire codes and statuses are the HTTP layer's (`http::ApiError::from(&LoginError)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("no login provider has this name")]
    UnknownProvider,
    #[error("return_to is not an allowed page")]
    ReturnNotAllowed,
    #[error("prompt may only be `login`")]
    InvalidPrompt,
    #[error("the login state is missing, expired or belongs to another login; start again")]
    InvalidState,
    #[error("the identity provider did not log the visitor in ({0})")]
    ProviderRefused(String),
    #[error("the callback is malformed: {0}")]
    InvalidCallback(&'static str),
    #[error("this login has been completed already; start again")]
    StateUsed,
    #[error("the identity provider refused the authorization code")]
    CodeRejected,
    #[error("the ID token failed validation: {0}")]
    InvalidIdToken(&'static str),
    #[error("userinfo describes another subject than the ID token")]
    UserinfoMismatch,
    #[error("the login lacks a usable subject, or its claims are too large for a session")]
    UnusableClaims,
    #[error("the identity provider gave no usable answer")]
    Unavailable,
    #[error("the identity provider did not answer in time")]
    Timeout,
    #[error("the service is temporarily unavailable")]
    TemporarilyUnavailable,
    #[error("the service could not complete the request")]
    Internal,
}

/// A redirect plus the cookies to set with it.
pub struct Redirect {
    pub location: String,
    pub set_cookies: Vec<String>,
}

impl std::fmt::Debug for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The location carries state and codes, the cookies sessions: their shape only.
        f.debug_struct("Redirect")
            .field("location", &"[redacted]")
            .field("set_cookies", &format_args!("[{} redacted]", self.set_cookies.len()))
            .finish()
    }
}

/// The secrets of one login attempt, sealed in the login-state cookie.
#[derive(Serialize, Deserialize)]
struct LoginState {
    provider: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    exp: u64,
}

/// The claims of userinfo the crate's standard claims do not cover (what Signicat adds, like `nin`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    all: Map<String, Value>,
}
impl AdditionalClaims for OtherClaims {}

/// Maps a transport failure inside any of the crate's error types.
fn transport_error(error: &FetchError) -> LoginError {
    match error {
        FetchError::Timeout => LoginError::Timeout,
        FetchError::TooLarge | FetchError::Transport(_) => LoginError::Unavailable,
    }
}

/// A client built from discovery: authorization endpoint set, token and userinfo maybe.
type DiscoveredClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

struct Provider {
    name: ProfileName,
    config: UpstreamProviderConfig,
    issuer: IssuerUrl,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    jwks_algorithms: Vec<JwsAlgorithm>,
    http: http_client::HttpClient,
    discovery: DiscoveryCache,
    /// The provider's keys: the same cache as bearer verification's, started from the key set
    /// discovery returned and fetched from its `jwks_uri` after that.
    jwks: tokio::sync::OnceCell<JwksCache>,
}

pub struct UpstreamLogin {
    providers: BTreeMap<ProfileName, Provider>,
    return_urls: Vec<Url>,
    /// Our own authorization endpoint beside each callback (`<base>/oauth2/authorize`): a login
    /// started there returns there to resume the authorization request (`openid_provider::login`).
    authorize_returns: Vec<Url>,
    session: SessionConfig,
    cookies: CookieSettings,
    keys: Arc<SessionKeys>,
    policy: ClaimPolicy,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    /// Where callbacks record their state, so each is completed once (`used_states`).
    used_states: Arc<dyn UsedStates>,
}

/// `<base>/oauth2/authorize` for a provider whose callback is `<base>/callback/<name>` (config
/// validation guarantees that shape).
fn authorize_return(provider: &Provider) -> Option<Url> {
    let mut url = provider.config.redirect_uri.clone();
    let base = url
        .path()
        .strip_suffix(&format!("/callback/{}", provider.name.as_str()))?
        .to_string();
    url.set_path(&format!("{base}/oauth2/authorize"));
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// The verification edge: our algorithm names as the `openidconnect` crate's.
fn core_algorithm(algorithm: JwsAlgorithm) -> CoreJwsSigningAlgorithm {
    match algorithm {
        JwsAlgorithm::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        JwsAlgorithm::RS384 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        JwsAlgorithm::RS512 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        JwsAlgorithm::PS256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        JwsAlgorithm::PS384 => CoreJwsSigningAlgorithm::RsaSsaPssSha384,
        JwsAlgorithm::PS512 => CoreJwsSigningAlgorithm::RsaSsaPssSha512,
        JwsAlgorithm::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        JwsAlgorithm::ES384 => CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl UpstreamLogin {
    pub fn new(
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let missing = |setting: &str| ConfigError::Setting {
            setting: setting.into(),
            reason: "required for upstream logins".into(),
        };
        let upstream = config.upstream.as_ref().ok_or_else(|| missing("upstream"))?;
        let session = config.session.clone().ok_or_else(|| missing("session"))?;
        let mut providers = BTreeMap::new();
        for (name, provider) in &upstream.providers {
            let setting = |field: &str, reason: &str| ConfigError::Setting {
                setting: format!("upstream.providers.{name}.{field}"),
                reason: reason.into(),
            };
            let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|_| setting("issuer", "must be a URL"))?;
            let jwks_algorithms: Vec<JwsAlgorithm> = provider
                .algorithms
                .iter()
                .filter_map(|a| JwsAlgorithm::parse(a))
                .collect();
            let algorithms = jwks_algorithms.iter().copied().map(core_algorithm).collect();
            let timeout = Duration::from_secs(provider.http_timeout_seconds);
            let http = http_client::client(timeout, timeout.min(Duration::from_secs(3)))
                .map_err(|_| setting("http_timeout_seconds", "the HTTP client could not be built"))?;
            providers.insert(
                name.clone(),
                Provider {
                    name: name.clone(),
                    config: provider.clone(),
                    discovery: DiscoveryCache::new(name.to_string(), issuer.clone(), http.clone(), clock.clone()),
                    issuer,
                    algorithms,
                    jwks_algorithms,
                    http,
                    jwks: tokio::sync::OnceCell::new(),
                },
            );
        }
        let keys = Arc::new(SessionKeys::from_config(
            secrets.clone(),
            config,
            &session,
            clock.clone(),
        ));
        let cookies = CookieSettings {
            name: session.cookie_name.clone(),
            secure: session.secure_cookies,
        };
        let authorize_returns = providers.values().filter_map(authorize_return).collect();
        Ok(Self {
            providers,
            return_urls: upstream.return_urls.clone(),
            authorize_returns,
            session,
            cookies,
            keys,
            policy: config.claim_policy.clone(),
            secrets,
            clock,
            used_states: Arc::new(MemoryUsedStates::new()),
        })
    }

    /// The store that makes each login state usable once. `new` starts with a per-process store,
    /// right for one process (tests, the local run); the Lambda function gives its DynamoDB table,
    /// shared by all its containers.
    pub fn with_used_states(mut self, used_states: Arc<dyn UsedStates>) -> Self {
        self.used_states = used_states;
        self
    }

    pub fn has_provider(&self, name: &str) -> bool {
        ProfileName::parse(name).is_some_and(|n| self.providers.contains_key(&n))
    }

    fn provider(&self, name: &str) -> Result<&Provider, LoginError> {
        ProfileName::parse(name)
            .and_then(|n| self.providers.get(&n))
            .ok_or(LoginError::UnknownProvider)
    }

    /// `return_to` if allowed (exact match), else the default; a disallowed one is refused.
    fn return_url(&self, requested: Option<&str>) -> Result<String, LoginError> {
        match requested {
            None => self
                .return_urls
                .first()
                .map(|u| u.to_string())
                .ok_or(LoginError::ReturnNotAllowed),
            Some(url) => self
                .return_urls
                .iter()
                .chain(&self.authorize_returns)
                .find(|allowed| Url::parse(url).is_ok_and(|u| u == **allowed))
                .map(|u| u.to_string())
                .ok_or(LoginError::ReturnNotAllowed),
        }
    }

    async fn metadata<'p>(&self, provider: &'p Provider) -> Result<&'p CoreProviderMetadata, LoginError> {
        provider.discovery.metadata().await.map_err(|failure| match failure {
            DiscoveryFailure::Timeout => LoginError::Timeout,
            DiscoveryFailure::Unavailable => LoginError::Unavailable,
        })
    }

    fn client(
        &self,
        provider: &Provider,
        metadata: &CoreProviderMetadata,
        secret: Option<ClientSecret>,
    ) -> Result<DiscoveredClient, LoginError> {
        let redirect = RedirectUrl::new(provider.config.redirect_uri.to_string()).map_err(|_| LoginError::Internal)?;
        let auth_type = match provider.config.auth_method {
            UpstreamAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            UpstreamAuthMethod::ClientSecretPost => AuthType::RequestBody,
        };
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(provider.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect)
        .set_auth_type(auth_type))
    }

    /// `GET /login/{provider}`: the redirect to the provider and the login-state cookie.
    /// `prompt=login` is passed on to the provider: our authorization endpoint asks for it when a
    /// chat platform's `prompt=login`, `select_account` or `max_age` needs a fresh login, which a
    /// provider with its own single sign-on would otherwise skip. Only `login`: OIDC Core makes
    /// every provider honour it, while `select_account` is optional and many refuse it.
    pub async fn start(
        &self,
        provider_name: &str,
        return_to: Option<&str>,
        prompt: Option<&str>,
    ) -> Result<Redirect, LoginError> {
        let provider = self.provider(provider_name)?;
        let return_to = self.return_url(return_to)?;
        let prompt = match prompt {
            None => None,
            Some(value @ "login") => Some(value),
            Some(_) => return Err(LoginError::InvalidPrompt),
        };
        let metadata = self.metadata(provider).await?;
        let client = self.client(provider, metadata, None)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in provider.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if !provider.config.acr_values.is_empty() {
            request = request.add_extra_param("acr_values", provider.config.acr_values.join(" "));
        }
        if let Some(prompt) = prompt {
            request = request.add_extra_param("prompt", prompt);
        }
        let (url, state, nonce) = request.url();
        let login = LoginState {
            provider: provider.name.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to,
            exp: self.clock.now_unix() + LOGIN_STATE_SECONDS,
        };
        let sealed = self
            .keys
            .seal_json(Purpose::LoginState, &login)
            .await
            .map_err(session_error)?;
        let path = callback_path(provider);
        Ok(Redirect {
            location: url.to_string(),
            set_cookies: vec![
                self.cookies
                    .set(LOGIN_STATE_COOKIE, &sealed, &path, LOGIN_STATE_SECONDS),
            ],
        })
    }

    /// `GET /callback/{provider}`: the session cookie and the redirect back to the site. The
    /// login-state cookie is cleared whatever the outcome (`clear_login_state`).
    ///
    /// `raw_query` is the callback's query string as received: it must hold only
    /// [`CALLBACK_PARAMETERS`], each at most once. Its state is then recorded as used before the
    /// provider is called, so a replay (same cookie and URL, from anywhere) is refused even if
    /// the provider would accept the code again.
    pub async fn callback(
        &self,
        provider_name: &str,
        raw_query: &str,
        cookie_header: Option<&str>,
    ) -> Result<Redirect, LoginError> {
        let provider = self.provider(provider_name)?;
        let query = callback_params(raw_query)?;
        let login = self.login_state(provider, cookie_header).await?;
        let state = query.get("state").ok_or(LoginError::InvalidState)?;
        if !constant_time_eq(state, &login.state) {
            return Err(LoginError::InvalidState);
        }
        // RFC 9207: when sent, `iss` must be exactly the provider the login started at (a mix-up
        // attack sends the visitor back with another provider's code).
        if let Some(iss) = query.get("iss")
            && iss != provider.issuer.as_str()
        {
            return Err(LoginError::InvalidCallback(
                "iss is not the provider the login started at",
            ));
        }
        if let Some(error) = query.get("error") {
            // The provider's error code is a protocol token; its description is not echoed.
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return Err(LoginError::ProviderRefused(code));
        }
        let code = query.get("code").ok_or(LoginError::InvalidCallback("no code"))?;
        // Spend the state before anything reaches the provider (an answer without a code
        // spends nothing: it cannot become a session): a second callback with it is
        // refused here, whatever the provider would do with the code.
        let first = self
            .used_states
            .first_use(
                &used_state_key(provider, &login.state),
                login.exp,
                self.clock.now_unix(),
            )
            .await
            .map_err(|error| {
                tracing::error!(error = %error, "the used login states cannot be recorded");
                LoginError::TemporarilyUnavailable
            })?;
        if !first {
            return Err(LoginError::StateUsed);
        }
        let metadata = self.metadata(provider).await?;

        let secret = self
            .secrets
            .get(&provider.config.client_secret)
            .await
            .map_err(|error| {
                tracing::error!(provider = %provider.name, error = %error, "upstream client secret unavailable");
                if error.is_transient() {
                    LoginError::TemporarilyUnavailable
                } else {
                    LoginError::Internal
                }
            })?;
        let client = self.client(
            provider,
            metadata,
            Some(ClientSecret::new(secret.value.expose().to_string())),
        )?;
        let fetch = oidc_fetcher(provider.http.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| LoginError::Unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&fetch)
            .await
            .map_err(|error| {
                // The provider's error_description is its own free text: log the kind only.
                let kind = match &error {
                    RequestTokenError::ServerResponse(response) => response.error().as_ref(),
                    RequestTokenError::Request(_) => "request failed",
                    RequestTokenError::Parse(..) => "unparsable response",
                    RequestTokenError::Other(_) => "other",
                };
                tracing::warn!(provider = %provider.name, error = kind, "code exchange failed");
                match &error {
                    RequestTokenError::ServerResponse(_) => LoginError::CodeRejected,
                    RequestTokenError::Request(fetch_error) => transport_error(fetch_error),
                    _ => LoginError::Unavailable,
                }
            })?;
        let id_token = response
            .id_token()
            .ok_or(LoginError::InvalidIdToken("the token response has no id_token"))?;
        let nonce = Nonce::new(login.nonce.clone());

        // Verify; on an unknown key, refetch the JWKS (at most once a minute) and verify again.
        let jwks = self.jwks(provider, metadata)?;
        let not_published = LoginError::InvalidIdToken("signed with a key the provider does not publish");
        let mut document = jwks.document().await.ok_or_else(|| not_published.clone())?;
        let mut keys = Arc::new(key_set(&document).ok_or_else(|| not_published.clone())?);
        let claims = loop {
            let verifier = self.verifier(provider, &client, keys.clone());
            match id_token.claims(&verifier, &nonce) {
                Ok(claims) => {
                    if let Some(expected) = claims.access_token_hash() {
                        let alg = id_token
                            .signing_alg()
                            .map_err(|_| LoginError::InvalidIdToken("unsupported algorithm"))?;
                        let key = id_token
                            .signing_key(&verifier)
                            .map_err(|_| LoginError::InvalidIdToken("no key"))?;
                        let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                            .map_err(|_| LoginError::InvalidIdToken("at_hash"))?;
                        if actual != *expected {
                            return Err(LoginError::InvalidIdToken("at_hash does not match the access token"));
                        }
                    }
                    break claims.clone();
                }
                Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                    openidconnect::SignatureVerificationError::NoMatchingKey,
                )) => match jwks.refetched_document(&document).await {
                    Some(fresh) => {
                        keys = Arc::new(key_set(&fresh).ok_or_else(|| not_published.clone())?);
                        document = fresh;
                    }
                    None => return Err(not_published),
                },
                Err(error) => {
                    // The crate's messages may quote claim values (a subject, audiences): log the rule only.
                    tracing::warn!(provider = %provider.name, error = id_token_problem(&error), "ID token refused");
                    return Err(LoginError::InvalidIdToken(id_token_problem(&error)));
                }
            }
        };

        // The verified token's own payload: every claim, including the provider's extras.
        let mut merged =
            verified_payload(&id_token.to_string()).ok_or(LoginError::InvalidIdToken("unreadable payload"))?;
        if provider.config.use_userinfo {
            let userinfo: UserInfoClaims<OtherClaims, CoreGenderClaim> = client
                .user_info(response.access_token().clone(), Some(claims.subject().clone()))
                .map_err(|_| {
                    tracing::warn!(provider = %provider.name, "use_userinfo is on but the provider's discovery names no userinfo_endpoint");
                    LoginError::Unavailable
                })?
                .request_async(&fetch)
                .await
                .map_err(|error| {
                    tracing::warn!(provider = %provider.name, error = %error, "userinfo failed");
                    match &error {
                        openidconnect::UserInfoError::ClaimsVerification(_) => LoginError::UserinfoMismatch,
                        openidconnect::UserInfoError::Request(fetch_error) => transport_error(fetch_error),
                        _ => LoginError::Unavailable,
                    }
                })?;
            let userinfo = userinfo_claims(&userinfo).ok_or_else(|| {
                tracing::warn!(provider = %provider.name, "userinfo claims could not be read back");
                LoginError::Unavailable
            })?;
            merged = merge_userinfo(merged, userinfo);
        }
        for name in TOKEN_CLAIMS {
            merged.remove(name);
        }
        let identity = VerifiedClaims::from_json(Value::Object(merged)).ok_or(LoginError::UnusableClaims)?;
        let identity = self.policy.apply(identity);
        let now = self.clock.now_unix();
        let session = SessionPayload {
            provider: provider.name.to_string(),
            claims: identity.as_map().clone(),
            iat: now,
            exp: now + self.session.lifetime_seconds,
        };
        let sealed = self
            .keys
            .seal_json(Purpose::Session, &session)
            .await
            .map_err(|error| match error {
                SessionError::TooLarge(_) => LoginError::UnusableClaims,
                other => session_error(other),
            })?;
        Ok(Redirect {
            location: login.return_to,
            set_cookies: vec![
                self.cookies
                    .set(&self.session.cookie_name, &sealed, "/", self.session.lifetime_seconds),
                self.clear_login_state(provider_name),
            ],
        })
    }

    /// The `Set-Cookie` that removes a login-state cookie (sent with every callback answer, so a
    /// callback cannot be replayed from the same browser).
    pub fn clear_login_state(&self, provider_name: &str) -> String {
        let path = match self.provider(provider_name) {
            Ok(provider) => callback_path(provider),
            Err(_) => format!("/callback/{provider_name}"),
        };
        self.cookies.clear(LOGIN_STATE_COOKIE, &path)
    }

    /// `GET|POST /logout`: clears the session and returns to an allowed page.
    pub fn logout(&self, return_to: Option<&str>) -> Result<Redirect, LoginError> {
        let location = self.return_url(return_to)?;
        Ok(Redirect {
            location,
            set_cookies: vec![self.cookies.clear(&self.session.cookie_name, "/")],
        })
    }

    async fn login_state(&self, provider: &Provider, cookie_header: Option<&str>) -> Result<LoginState, LoginError> {
        let sealed = match cookie_header.map(|h| cookie_value(h, LOGIN_STATE_COOKIE)) {
            Some(Ok(Some(value))) if !value.is_empty() => value,
            _ => return Err(LoginError::InvalidState),
        };
        let login: LoginState =
            self.keys
                .open_json(Purpose::LoginState, sealed)
                .await
                .map_err(|error| match error {
                    SessionError::Unreadable | SessionError::Expired | SessionError::TooLarge(_) => {
                        LoginError::InvalidState
                    }
                    other => session_error(other),
                })?;
        if login.provider != provider.name.as_str() || login.exp <= self.clock.now_unix() {
            return Err(LoginError::InvalidState);
        }
        Ok(login)
    }

    /// The provider's key cache, made on the first callback (its URL comes from discovery).
    fn jwks<'p>(&self, provider: &'p Provider, metadata: &CoreProviderMetadata) -> Result<&'p JwksCache, LoginError> {
        if let Some(cache) = provider.jwks.get() {
            return Ok(cache);
        }
        let source = HttpJwksSource::with_client(provider.http.clone(), metadata.jwks_uri().url().clone());
        let settings = JwksCacheSettings {
            max_age_seconds: JWKS_MAX_AGE_SECONDS,
            min_refetch_interval_seconds: JWKS_MIN_REFETCH_SECONDS,
        };
        let cache = JwksCache::new(
            Arc::new(source),
            self.clock.clone(),
            provider.jwks_algorithms.clone(),
            settings,
        );
        // Discovery fetched the keys already: start from them.
        if let Ok(document) = serde_json::to_value(metadata.jwks()) {
            cache.seed(document);
        }
        // Two callbacks racing here both build one; the first set wins and the other is dropped.
        let _ = provider.jwks.set(cache);
        provider.jwks.get().ok_or(LoginError::Internal)
    }

    fn verifier<'a>(
        &self,
        provider: &'a Provider,
        client: &DiscoveredClient,
        keys: Arc<CoreJsonWebKeySet>,
    ) -> CoreIdTokenVerifier<'a> {
        let leeway = provider.config.leeway_seconds as i64;
        let clock = self.clock.clone();
        let now = move || chrono::DateTime::from_timestamp(clock.now_unix() as i64, 0).unwrap_or_default();
        let exp_clock = now.clone();
        let iat_clock = now;
        // Only public-key algorithms: no client secret is given to the verifier, so HS* cannot verify.
        CoreIdTokenVerifier::new_public_client(client.client_id().clone(), provider.issuer.clone(), (*keys).clone())
            .set_allowed_algs(provider.algorithms.clone())
            // `exp` gets the leeway: the crate compares it with this clock.
            .set_time_fn(move || exp_clock() - chrono::Duration::seconds(leeway))
            .set_issue_time_verifier_fn(move |iat| {
                if iat > iat_clock() + chrono::Duration::seconds(leeway) {
                    Err("issued in the future".into())
                } else {
                    Ok(())
                }
            })
    }
}

/// The callback's parameters, if they are only [`CALLBACK_PARAMETERS`], each once. Names are
/// compared after percent-decoding (so `redirect%5Furi` is `redirect_uri`) and exactly (so
/// `Code` is not `code`); a name given twice is refused even when one value is empty.
pub fn callback_params(raw_query: &str) -> Result<Params, LoginError> {
    let mut seen: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    for (name, _) in form_urlencoded::parse(raw_query.as_bytes()) {
        if !CALLBACK_PARAMETERS.contains(&name.as_ref()) {
            return Err(LoginError::InvalidCallback(
                "a parameter the identity provider does not send",
            ));
        }
        if seen.contains(&name) {
            return Err(LoginError::InvalidCallback("repeated query parameters"));
        }
        seen.push(name);
    }
    Params::from_form(raw_query.as_bytes())
        .map_err(|_| LoginError::InvalidCallback("repeated or oversized query parameters"))
}

/// The used-state store's key: a hash, so the table never holds a usable state.
fn used_state_key(provider: &Provider, state: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}\n{state}", provider.name.as_str()).as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn callback_path(provider: &Provider) -> String {
    provider.config.redirect_uri.path().to_string()
}

fn session_error(error: SessionError) -> LoginError {
    match error {
        SessionError::Secret(secret) if secret.is_transient() => LoginError::TemporarilyUnavailable,
        other => {
            tracing::error!(error = %other, "session sealing failed");
            LoginError::Internal
        }
    }
}

fn id_token_problem(error: &openidconnect::ClaimsVerificationError) -> &'static str {
    use openidconnect::ClaimsVerificationError as E;
    match error {
        E::Expired(_) => "expired",
        E::InvalidAudience(_) => "audience",
        E::InvalidIssuer(_) => "issuer",
        E::InvalidNonce(_) => "nonce",
        E::InvalidSubject(_) => "subject",
        E::SignatureVerification(_) => "signature",
        E::InvalidAuthContext(_) | E::InvalidAuthTime(_) => "authentication context",
        E::Unsupported(_) => "unsupported token",
        _ => "claims",
    }
}

/// Every claim userinfo returned, as JSON. The crate parses the standard claims (`name`,
/// `given_name`, `birthdate`, `email_verified`, `address`, ...) into its own types and leaves only
/// the rest in [`OtherClaims`], so the whole answer is serialized back: the standard claims come out
/// in their standard JSON types (`address` an object, `email_verified` a boolean, localized
/// `name#nb` kept), the others exactly as the provider sent them.
fn userinfo_claims(userinfo: &UserInfoClaims<OtherClaims, CoreGenderClaim>) -> Option<Map<String, Value>> {
    match serde_json::to_value(userinfo).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The visitor's claims: the verified ID token's, plus every userinfo claim the token lacks.
/// Brokers such as Signicat put only `sub` in the ID token and the person in userinfo, so the
/// union is the login. Where both carry a claim the signed ID token wins: it is verified against
/// the provider's key, userinfo only by the TLS connection that brought it. A `null` in the ID
/// token carries nothing and counts as absent. (The crate has already required userinfo's `sub`
/// to equal the ID token's.)
fn merge_userinfo(mut id_token: Map<String, Value>, userinfo: Map<String, Value>) -> Map<String, Value> {
    for (name, value) in userinfo {
        match id_token.get(&name) {
            Some(existing) if !existing.is_null() => {}
            _ => {
                id_token.insert(name, value);
            }
        }
    }
    id_token
}

/// A key set in the `openidconnect` crate's type (keys it cannot read are skipped by the crate).
fn key_set(document: &Value) -> Option<CoreJsonWebKeySet> {
    serde_json::from_value(document.clone()).ok()
}

/// The payload of a compact JWS whose signature has been verified.
fn verified_payload(compact: &str) -> Option<Map<String, Value>> {
    let payload = compact.split('.').nth(1)?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::InMemorySecretStore;
    use crate::clock::FixedClock;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A refusal as the visitor receives it (the HTTP layer's one mapping).
    trait Wire {
        fn status(&self) -> u16;
        fn code(&self) -> &'static str;
    }

    impl Wire for LoginError {
        fn status(&self) -> u16 {
            crate::http::ApiError::from(self).status().as_u16()
        }
        fn code(&self) -> &'static str {
            crate::http::ApiError::from(self).code.as_str()
        }
    }

    #[test]
    fn debug_of_a_redirect_prints_no_location_or_cookie() {
        let redirect = Redirect {
            location: "https://idp.example/authorize?state=STATEVALUE&code_challenge=CHALLENGE".into(),
            set_cookies: vec![
                "whoscalling_session=SESSIONVALUE; HttpOnly".into(),
                "login=LOGINSTATE".into(),
            ],
        };
        let printed = format!("{redirect:?}");
        for secret in [
            "STATEVALUE",
            "CHALLENGE",
            "idp.example",
            "SESSIONVALUE",
            "LOGINSTATE",
            "whoscalling_session",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(
            printed.contains("Redirect") && printed.contains("2 redacted"),
            "{printed}"
        );
    }

    /// A provider that is down in the way that costs most: it accepts, then answers 503. Counts
    /// the discovery requests it sees (each on a connection it closes).
    async fn failing_provider() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (format!("http://{address}"), requests)
    }

    fn login_for(issuer: &str, clock: Arc<FixedClock>) -> UpstreamLogin {
        let config = ServiceConfig::from_json(
            "test",
            &json!({
                "allowed_origins": [], "identity": {"sources": ["session"]},
                "session": {"key_secret": "session-key", "secure_cookies": false},
                "upstream": {"return_urls": ["http://127.0.0.1:9/"], "providers": {"down": {
                    "issuer": issuer, "client_id": "whoscalling", "client_secret": "client-secret", "auth_method": "client_secret_basic",
                    "redirect_uri": "http://127.0.0.1:9/callback/down", "scopes": ["openid"], "http_timeout_seconds": 2}}},
                "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "w", "security_key_secret": "k",
                    "token_lifetime_seconds": 500, "attributes": {}}}
            })
            .to_string(),
        )
        .unwrap();
        let secrets = Arc::new(InMemorySecretStore::with(
            "session-key",
            "a-session-key-of-at-least-thirty-two-characters",
        ));
        UpstreamLogin::new(&config, secrets, clock).unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    /// A userinfo answer parsed by the crate, as the callback gets it.
    fn parsed_userinfo(body: &Value) -> UserInfoClaims<OtherClaims, CoreGenderClaim> {
        UserInfoClaims::from_json::<FetchError>(
            body.to_string().as_bytes(),
            Some(&openidconnect::SubjectIdentifier::new("alice".into())),
        )
        .unwrap()
    }

    #[test]
    fn userinfo_standard_claims_survive_with_their_json_types() {
        // What Signicat's userinfo carries (the ID token has only `sub`), plus the other standard
        // claims and a few of a broker's own.
        let body = json!({
            "sub": "alice", "name": "Alice Nordmann", "name#nb": "Alice Nordmann", "given_name": "Alice", "family_name": "Nordmann",
            "middle_name": "M", "nickname": "Ally", "preferred_username": "alice85", "birthdate": "1985-04-12", "locale": "nb-NO",
            "zoneinfo": "Europe/Oslo", "email": "alice@example.com", "email_verified": true, "phone_number": "+4712345678",
            "phone_number_verified": false, "gender": "female", "picture": "https://example.com/a.png", "updated_at": 1700000000,
            "address": {"street_address": "Storgata 1", "locality": "Oslo", "postal_code": "0155", "country": "NO"},
            "nin": "01129954321", "nin_type": "BIRTH", "nin_issuing_country": "NO", "signicat.national_id": "01129954321",
            "idp_id": {"nested": [1, 2]}
        });
        let claims = userinfo_claims(&parsed_userinfo(&body)).unwrap();
        assert_eq!(
            Value::Object(claims),
            body,
            "every claim, each in the JSON type the provider sent"
        );
    }

    #[test]
    fn the_login_is_the_union_of_id_token_and_userinfo_and_the_id_token_wins() {
        let userinfo = userinfo_claims(&parsed_userinfo(&json!({
            "sub": "alice", "name": "Userinfo Name", "given_name": "Alice", "birthdate": "1985-04-12",
            "email_verified": true, "address": {"country": "NO"}, "nin": "01129954321", "nickname": "Ally", "crm": "c-1"
        })))
        .unwrap();
        let id_token = object(
            json!({"sub": "alice", "iss": "https://idp.example", "name": "Token Name", "crm": "c-0", "nickname": null}),
        );
        let merged = merge_userinfo(id_token, userinfo);
        assert_eq!(
            Value::Object(merged),
            json!({"sub": "alice", "iss": "https://idp.example",
                   "name": "Token Name", "crm": "c-0",
                   "given_name": "Alice", "birthdate": "1985-04-12", "email_verified": true, "address": {"country": "NO"},
                   "nin": "01129954321", "nickname": "Ally"}),
            "the signed ID token's name and crm win; userinfo adds the rest; a null in the ID token is no value"
        );
        // The control: an ID token with only `sub` gets every userinfo claim.
        let only_sub = merge_userinfo(
            object(json!({"sub": "alice"})),
            object(json!({"sub": "alice", "name": "N", "nin": "1"})),
        );
        assert_eq!(
            Value::Object(only_sub),
            json!({"sub": "alice", "name": "N", "nin": "1"})
        );
    }

    /// Every parameter class a link could carry that a provider does not send, with controls.
    #[test]
    fn the_callback_takes_only_what_a_provider_sends() {
        let refused = |query: &str| {
            let error = callback_params(query)
                .err()
                .unwrap_or_else(|| panic!("accepted: {query}"));
            assert_eq!((error.status(), error.code()), (400, "invalid_callback"), "{query}");
        };
        // Controls: the provider's own answers, including every allowed name at once.
        for query in [
            "code=c&state=s",
            "code=c&state=s&iss=https%3A%2F%2Fidp",
            "error=access_denied&state=s&error_description=x&error_uri=u",
            "code=c&state=s&session_state=abc.def&scope=openid+email&authuser=0&prompt=consent&hd=example.com",
            "",
            "code=&state=",
        ] {
            assert!(callback_params(query).is_ok(), "{query}");
        }
        let all: String = CALLBACK_PARAMETERS
            .iter()
            .map(|n| format!("{n}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(callback_params(&all).is_ok());
        let injected = [
            "redirect_uri",
            "client_id",
            "client_secret",
            "code_verifier",
            "code_challenge",
            "nonce",
            "response_type",
            "response_mode",
            "grant_type",
            "return_to",
            "request",
            "request_uri",
            "id_token",
            "access_token",
            "token",
            "login_hint",
        ];
        for name in injected {
            for value in ["x", "", "https%3A%2F%2Fevil.example%2F"] {
                refused(&format!("code=c&state=s&{name}={value}"));
                refused(&format!("{name}={value}&code=c&state=s"));
            }
            refused(&format!("code=c&state=s&{name}"));
        }
        // Encodings and look-alikes of allowed names are other names (or the same name, decoded).
        for name in [
            "Code",
            "STATE",
            "code%00",
            "code%20",
            "+code",
            "state[]",
            "code.",
            "%EF%BB%BFcode",
            "%ff",
            "c%C3%B6de",
        ] {
            refused(&format!("{name}=x&state=s"));
        }
        // The control: a percent-encoded allowed name is that name (decoded, it is no other).
        assert_eq!(callback_params("cod%65=x&st%61te=s").unwrap().get("code"), Some("x"));
        refused("cod%65=x&code=y&state=s");
        refused("code=c&state=s&redirect%5Furi=x");
        refused("code=c&state=s&=x");
        // Each allowed name at most once, whatever the values (empty included).
        for name in CALLBACK_PARAMETERS {
            for (first, second) in [("a", "b"), ("a", "a"), ("", "b"), ("a", ""), ("", "")] {
                refused(&format!("{name}={first}&code=c&{name}={second}"));
            }
        }
        // Oversized values and too many parameters.
        refused(&format!("code={}&state=s", "c".repeat(64 * 1024)));
        refused(&format!("state=s&error_description={}", "d".repeat(64 * 1024)));
    }

    #[tokio::test]
    async fn a_state_is_spent_before_the_provider_is_asked() {
        // The provider is unreachable (port 1): a first callback spends the state and fails at
        // discovery; the same cookie and state again are refused without reaching that far.
        let clock = Arc::new(FixedClock::at(1_800_000_000));
        let login = login_for("http://127.0.0.1:1", clock.clone());
        let state = LoginState {
            provider: "down".into(),
            state: "the-state".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "http://127.0.0.1:9/".into(),
            exp: clock.now_unix() + LOGIN_STATE_SECONDS,
        };
        let cookie = format!(
            "{LOGIN_STATE_COOKIE}={}",
            login.keys.seal_json(Purpose::LoginState, &state).await.unwrap()
        );
        // Refused parameters do not spend it.
        let injected = login
            .callback("down", "code=c&state=the-state&redirect_uri=x", Some(&cookie))
            .await
            .unwrap_err();
        assert_eq!(injected.code(), "invalid_callback");
        let first = login
            .callback("down", "code=c&state=the-state", Some(&cookie))
            .await
            .unwrap_err();
        assert_eq!(
            first.code(),
            "upstream_unavailable",
            "the first use reaches the provider"
        );
        let again = login
            .callback("down", "code=other&state=the-state", Some(&cookie))
            .await
            .unwrap_err();
        assert_eq!((again.status(), again.code()), (400, "state_used"));
    }

    #[test]
    fn a_login_may_return_to_our_own_authorization_endpoint_and_nowhere_else() {
        let login = login_for("http://127.0.0.1:1", Arc::new(FixedClock::at(0)));
        assert_eq!(login.return_url(None).unwrap(), "http://127.0.0.1:9/");
        assert_eq!(
            login.return_url(Some("http://127.0.0.1:9/oauth2/authorize")).unwrap(),
            "http://127.0.0.1:9/oauth2/authorize"
        );
        for refused in [
            "http://127.0.0.1:9/oauth2/authorize?client_id=x",
            "http://127.0.0.1:9/oauth2/authorize/",
            "http://127.0.0.1:9/oauth2/token",
            "http://127.0.0.1:8/oauth2/authorize",
            "https://127.0.0.1:9/oauth2/authorize",
            "http://evil.example/oauth2/authorize",
            "//evil.example/oauth2/authorize",
        ] {
            assert_eq!(
                login.return_url(Some(refused)),
                Err(LoginError::ReturnNotAllowed),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_discovery_is_not_retried_by_every_login_during_the_outage() {
        let (issuer, requests) = failing_provider().await;
        let clock = Arc::new(FixedClock::at(1_800_000_000));
        let login = Arc::new(login_for(&issuer, clock.clone()));

        let first = login.start("down", None, None).await.unwrap_err();
        assert_eq!((first.status(), first.code()), (502, "upstream_unavailable"));
        assert_eq!(requests.load(Ordering::SeqCst), 1);

        // Fifty visitors at once during the outage: the same answer, and the provider is not asked.
        let attempts = (0..50).map(|_| {
            let login = login.clone();
            tokio::spawn(async move { login.start("down", None, None).await.unwrap_err() })
        });
        for attempt in attempts {
            assert_eq!(attempt.await.unwrap(), LoginError::Unavailable);
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1, "no retry within the interval");

        // After the interval one login asks again (and, still failing, starts a new interval).
        clock.advance(crate::adapters::oidc_discovery::DISCOVERY_RETRY_SECONDS);
        assert_eq!(
            login.start("down", None, None).await.unwrap_err(),
            LoginError::Unavailable
        );
        assert_eq!(
            login.start("down", None, None).await.unwrap_err(),
            LoginError::Unavailable
        );
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }
}
