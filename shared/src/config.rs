//! The service configuration: one JSON document, the same whether it comes from a file (in
//! Lambda the configuration layer's `/opt/whoscalling/config.json`, named by
//! `WHOSCALLING_CONFIG_FILE`; in the local run `--config`) or, for small documents such as
//! `events/env.json`, inline in `WHOSCALLING_CONFIG`.
//!
//! Values known only at deploy time (secret names, table names, the public URL) are
//! `${WHOSCALLING_...}` placeholders inside the document's strings, filled from the function's
//! environment. Parsed and validated once at cold start; an invalid document stops the function
//! at init with an error naming the setting. Nothing security-relevant has a silent default.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

mod wiring;

use crate::keys::{KeyChoice, PinName};
use crate::mapping::ClaimPolicy;
use crate::platforms::KeyKind;
use crate::secrets::{SecretCacheSettings, SecretName};
use crate::values::JwsAlgorithm;

/// The environment variable that carries a small document inline (`events/env.json`, tests).
pub const CONFIG_VARIABLE: &str = "WHOSCALLING_CONFIG";

/// The environment variable naming the document's file: in Lambda the configuration layer's
/// `/opt/whoscalling/config.json` (docs/CONFIGURATION.md). A file has no size limit, unlike
/// Lambda's 4 KB of environment variables, and ships atomically with the code.
pub const CONFIG_FILE_VARIABLE: &str = "WHOSCALLING_CONFIG_FILE";

/// Placeholders name only variables with this prefix, so a document can never copy the
/// runtime's credentials (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) into a token.
pub const PLACEHOLDER_PREFIX: &str = "WHOSCALLING_";

/// Sections that may instead come in a variable of their own, holding just that section's JSON
/// (an inline `WHOSCALLING_CONFIG` split like `events/env.json`'s; the template gives the whole
/// document as a file and uses none of them).
pub const PROVIDER_VARIABLE: &str = "WHOSCALLING_PROVIDER";
pub const SESSION_VARIABLE: &str = "WHOSCALLING_SESSION";
pub const UPSTREAM_VARIABLE: &str = "WHOSCALLING_UPSTREAM";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{path} (from {CONFIG_FILE_VARIABLE}) cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{source_name} line {line}: placeholder `${{{name}}}`: {reason}")]
    Placeholder {
        source_name: String,
        line: usize,
        name: String,
        reason: String,
    },
    #[error("{source_name} is not a valid configuration document: {reason}")]
    Invalid { source_name: String, reason: String },
    #[error("{setting}: {reason}")]
    Setting { setting: String, reason: String },
}

fn setting(setting: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Setting {
        setting: setting.into(),
        reason: reason.into(),
    }
}

/// A browser origin, `scheme://host[:port]`, compared byte for byte with the `Origin` header.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Origin(String);

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Origin {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let url = Url::parse(&value).map_err(|_| format!("`{value}` is not an origin URL"))?;
        let canonical = url.origin().ascii_serialization();
        let plain = matches!(url.scheme(), "https" | "http")
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.path() == "/"
            && !value.ends_with('/');
        if !plain || canonical != value {
            return Err(format!(
                "`{value}` is not an origin: write scheme://host[:port] with no path, wildcard or trailing slash"
            ));
        }
        Ok(Self(canonical))
    }
}

/// A profile name as it appears in `/token/{profile}`: `[a-z0-9][a-z0-9-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ProfileName(String);

impl ProfileName {
    pub fn parse(value: &str) -> Option<Self> {
        let mut chars = value.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid = first_ok
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        valid.then(|| Self(value.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PinName {
    /// A profile's own name as its pin (profile names are a subset of pin names).
    pub fn from_profile(name: &ProfileName) -> Self {
        Self::from_checked(name.as_str())
    }
}

impl TryFrom<String> for ProfileName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).ok_or_else(|| format!("`{value}` is not a profile name ([a-z0-9][a-z0-9-]{{0,63}})"))
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

use crate::values::IdentitySource;

/// The visitor session cookie.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// The secret the cookie key is derived from (at least 32 characters).
    pub key_secret: SecretName,
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
    #[serde(default = "default_session_lifetime")]
    pub lifetime_seconds: u64,
    /// `Secure` cookies (false only for a loopback development run).
    #[serde(default = "yes")]
    pub secure_cookies: bool,
}

fn default_cookie_name() -> String {
    "whoscalling_session".into()
}
fn default_session_lifetime() -> u64 {
    1800
}
fn yes() -> bool {
    true
}

/// How we authenticate at an upstream token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

/// An upstream OpenID provider the visitor logs in at (BankID via Signicat, ForgeRock, Entra).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamProviderConfig {
    /// Exact issuer; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretName,
    pub auth_method: UpstreamAuthMethod,
    /// Our callback, registered at the provider: `<base URL>/callback/<provider name>`.
    pub redirect_uri: Url,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub acr_values: Vec<String>,
    #[serde(default = "default_upstream_algorithms")]
    pub algorithms: Vec<String>,
    /// Also call userinfo (its `sub` must match the ID token's). On by default: Signicat and most
    /// brokers put only `sub` in the ID token and the person's claims in userinfo.
    #[serde(default = "yes")]
    pub use_userinfo: bool,
    #[serde(default = "default_upstream_leeway")]
    pub leeway_seconds: u64,
    #[serde(default = "default_upstream_timeout")]
    pub http_timeout_seconds: u64,
}

fn default_upstream_algorithms() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_upstream_leeway() -> u64 {
    30
}
fn default_upstream_timeout() -> u64 {
    5
}

/// Logins through upstream providers, and where the visitor may be sent back to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Allowed `return_to` targets (exact match); the first is the default.
    pub return_urls: Vec<Url>,
    pub providers: BTreeMap<ProfileName, UpstreamProviderConfig>,
}

impl UpstreamConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.return_urls.is_empty() {
            return Err(setting(
                "upstream.return_urls",
                "list at least one page to return to after login",
            ));
        }
        for url in &self.return_urls {
            require_https_unless_loopback("upstream.return_urls", url)?;
        }
        if self.providers.is_empty() {
            return Err(setting("upstream.providers", "configure at least one provider"));
        }
        for (name, provider) in &self.providers {
            let at = |field: &str| format!("upstream.providers.{name}.{field}");
            let issuer = Url::parse(&provider.issuer).map_err(|_| setting(at("issuer"), "must be a URL"))?;
            require_https_unless_loopback(&at("issuer"), &issuer)?;
            require_https_unless_loopback(&at("redirect_uri"), &provider.redirect_uri)?;
            if !provider.redirect_uri.path().ends_with(&format!("/callback/{name}")) {
                return Err(setting(
                    at("redirect_uri"),
                    format!("must be <base URL>/callback/{name}"),
                ));
            }
            if provider.client_id.is_empty() {
                return Err(setting(at("client_id"), "required"));
            }
            if !provider.scopes.iter().any(|s| s == "openid") {
                return Err(setting(at("scopes"), "must include openid"));
            }
            if provider.algorithms.is_empty() || !provider.algorithms.iter().all(|a| JwsAlgorithm::parse(a).is_some()) {
                return Err(setting(
                    at("algorithms"),
                    "asymmetric algorithms only (RS*, PS*, ES256, ES384)",
                ));
            }
            if provider.leeway_seconds > 300 {
                return Err(setting(at("leeway_seconds"), "at most 300"));
            }
            if !(1..=10).contains(&provider.http_timeout_seconds) {
                return Err(setting(at("http_timeout_seconds"), "must be 1-10"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub sources: Vec<IdentitySource>,
    /// Exact `iss` of visitor tokens (also the discovery base when `jwks_uri` is absent).
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub jwks_uri: Option<Url>,
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_seconds: u64,
    #[serde(default = "default_jwks_min_refetch")]
    pub jwks_min_refetch_seconds: u64,
    #[serde(default = "default_http_timeout")]
    pub http_timeout_seconds: u64,
    /// Bounds a visitor token's age (`now - iat`) and lifetime (`exp - iat`), for every token source.
    #[serde(default = "default_max_token_age")]
    pub max_token_age_seconds: u64,
    /// A claim every visitor token must carry (for example `nonce`, `auth_time` or `scp`).
    #[serde(default)]
    pub required_visitor_claim: Option<String>,
}

/// Of the order of a login session: above the longest ID-token lifetime we know of by default
/// (Auth0's 10 hours), far below "two days ago".
fn default_max_token_age() -> u64 {
    43_200
}

fn default_jwks_max_age() -> u64 {
    3600
}
fn default_jwks_min_refetch() -> u64 {
    60
}
fn default_http_timeout() -> u64 {
    3
}

/// Bearer verification settings, checked.
#[derive(Debug, Clone)]
pub struct BearerSettings {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<JwsAlgorithm>,
    pub jwks_uri: Option<Url>,
    pub leeway_seconds: u64,
    pub jwks_max_age_seconds: u64,
    pub jwks_min_refetch_seconds: u64,
    pub http_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretCacheConfig {
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u64,
    #[serde(default = "default_max_stale")]
    pub max_stale_seconds: u64,
}

impl Default for SecretCacheConfig {
    fn default() -> Self {
        Self {
            ttl_seconds: default_ttl(),
            max_stale_seconds: default_max_stale(),
        }
    }
}

fn default_ttl() -> u64 {
    300
}
fn default_max_stale() -> u64 {
    3600
}

use crate::platforms::ProfileConfig;

impl ProfileConfig {
    /// Profiles signed with keys we own rather than a vendor-issued secret.
    pub fn uses_signing_keys(&self) -> bool {
        !matches!(self.platform().key(), KeyKind::Pasted(_) | KeyKind::PastedWithKid(_))
    }

    /// Which of our keys the profile `name` signs with (`None`: a vendor-issued secret, or the
    /// OpenID provider's rotating key).
    pub fn key_choice(&self, name: &ProfileName) -> Option<KeyChoice> {
        match self.platform().key() {
            KeyKind::Rotating(algorithm) => Some(KeyChoice::Rotating(algorithm)),
            KeyKind::Pinned(pin) => Some(KeyChoice::Pinned(pin.unwrap_or_else(|| PinName::from_profile(name)))),
            KeyKind::Pasted(_) | KeyKind::PastedWithKid(_) | KeyKind::Provider => None,
        }
    }
}

/// An OAuth client id: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        valid.then(|| Self(value.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).ok_or_else(|| format!("`{value}` is not a client id ([A-Za-z0-9._-]{{1,64}})"))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One registered client of the OpenID provider (a chat platform).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The secret holding the client secret (compared in constant time).
    pub secret: SecretName,
    /// Compared byte for byte with the request's `redirect_uri`.
    pub redirect_uris: Vec<String>,
    /// The scopes it may ask for; must include `openid`.
    pub scopes: Vec<String>,
    /// A `liveperson` or `openid-connect` profile: what its id_token and userinfo carry.
    pub profile: ProfileName,
    /// Refuse authorization requests without an S256 `code_challenge`.
    #[serde(default)]
    pub require_pkce: bool,
    /// Output claims of an `openid-connect` profile released whatever scopes were asked for.
    /// Standard claims otherwise follow OIDC Core 5.4 (`profile`, `email`, `phone`, `address`);
    /// a non-standard claim (a national id, a customer number) is released only when listed
    /// here, because no standard scope covers it. Each name must be one of the profile's claims.
    #[serde(default)]
    pub claims_without_scope: Vec<String>,
}

/// whoscalling as an OpenID provider for chat platforms that are OpenID Connect clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Our issuer: the API's base URL, no trailing slash. Discovery is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The DynamoDB table holding grants (the Lambda needs it; the local run keeps them in memory).
    #[serde(default)]
    pub grants_table: Option<String>,
    /// How long a code may wait for the token request. 60 s by default; up to 600 s (RFC 6749
    /// 4.1.2's "maximum of 10 minutes") for clients such as Puzzel that redeem it only when the
    /// visitor enters a secure queue.
    #[serde(default = "default_code_lifetime")]
    pub code_lifetime_seconds: u64,
    /// The upstream provider (`upstream.providers.<name>`) a visitor without a login is sent to
    /// from `/oauth2/authorize`; the authorization request resumes after the login. Defaults to
    /// the only upstream provider when the document has exactly one and accepts `session`
    /// identity; without either, such a request is answered `login_required`.
    #[serde(default)]
    pub login_with: Option<ProfileName>,
    #[serde(default = "default_access_token_lifetime")]
    pub access_token_lifetime_seconds: u64,
    #[serde(default = "default_id_token_lifetime")]
    pub id_token_lifetime_seconds: u64,
    pub clients: BTreeMap<ClientId, ClientConfig>,
}

/// RFC 6749 4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
pub const MAX_CODE_LIFETIME_SECONDS: u64 = 600;

fn default_code_lifetime() -> u64 {
    60
}
fn default_access_token_lifetime() -> u64 {
    300
}
fn default_id_token_lifetime() -> u64 {
    300
}

/// RFC 6749 3.3 scope-token characters.
fn valid_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ProviderConfig {
    fn validate(&self, profiles: &BTreeMap<ProfileName, ProfileConfig>) -> Result<(), ConfigError> {
        let issuer = Url::parse(&self.issuer).map_err(|_| setting("provider.issuer", "must be a URL"))?;
        require_https_unless_loopback("provider.issuer", &issuer)?;
        if issuer.query().is_some() || issuer.fragment().is_some() || self.issuer.ends_with('/') {
            return Err(setting(
                "provider.issuer",
                "write the base URL with no query, fragment or trailing slash",
            ));
        }
        if !(1..=MAX_CODE_LIFETIME_SECONDS).contains(&self.code_lifetime_seconds) {
            return Err(setting(
                "provider.code_lifetime_seconds",
                "must be 1-600 (RFC 6749: at most 10 minutes)",
            ));
        }
        if !(60..=3600).contains(&self.access_token_lifetime_seconds) {
            return Err(setting("provider.access_token_lifetime_seconds", "must be 60-3600"));
        }
        if !(60..=3600).contains(&self.id_token_lifetime_seconds) {
            return Err(setting("provider.id_token_lifetime_seconds", "must be 60-3600"));
        }
        if let Some(table) = &self.grants_table
            && (table.len() < 3
                || table.len() > 255
                || !table.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        {
            return Err(setting("provider.grants_table", "must be a DynamoDB table name"));
        }
        if self.clients.is_empty() {
            return Err(setting("provider.clients", "register at least one client"));
        }
        for (id, client) in &self.clients {
            let at = |field: &str| format!("provider.clients.{id}.{field}");
            if client.redirect_uris.is_empty() {
                return Err(setting(at("redirect_uris"), "register at least one redirect URI"));
            }
            for uri in &client.redirect_uris {
                let url = Url::parse(uri)
                    .map_err(|_| setting(at("redirect_uris"), format!("`{uri}` is not an absolute URL")))?;
                if url.fragment().is_some() || uri.contains('#') {
                    return Err(setting(at("redirect_uris"), format!("`{uri}` may not have a fragment")));
                }
                require_https_unless_loopback(&at("redirect_uris"), &url)?;
            }
            if !client.scopes.iter().any(|s| s == "openid") || !client.scopes.iter().all(|s| valid_scope_token(s)) {
                return Err(setting(at("scopes"), "list valid scope tokens, including `openid`"));
            }
            let profile = profiles
                .get(&client.profile)
                .ok_or_else(|| setting(at("profile"), format!("no profile named `{}`", client.profile)))?;
            let provider_client = profile.platform().provider_client().ok_or_else(|| {
                // Asked of the platform, so a new provider-client platform needs no change here.
                setting(
                    at("profile"),
                    format!(
                        "platform `{}` cannot serve a client of the OpenID provider",
                        profile.kind()
                    ),
                )
            })?;
            provider_client
                .check_claims_without_scope(&client.claims_without_scope, client.profile.as_str())
                .map_err(|reason| setting(at("claims_without_scope"), reason))?;
        }
        Ok(())
    }
}

/// The secret holding the asymmetric keys we own (see `keys`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeysConfig {
    pub secret: SecretName,
    /// `Cache-Control: max-age` of the JWKS. Keys are published a full rotation before use and
    /// kept a full rotation after, so any value well under the rotation period is safe.
    #[serde(default = "default_jwks_max_age_published")]
    pub jwks_max_age_seconds: u64,
    /// Days the self-signed certificate of a rotating RS256 key (`x5c`, for Salesforce) is valid
    /// after the key's creation. It must cover the key's whole life (published as next for one
    /// rotation interval, current for one, then retained) plus the 10 days Salesforce asks for:
    /// the default 800 covers the template's longest interval (365 days) twice, a week of
    /// retention and the 10 days.
    #[serde(default = "default_certificate_validity_days")]
    pub certificate_validity_days: u64,
    /// How long a retired key stays published: the template's `KeyRetentionSeconds` (default
    /// 14400). Only Dynamics 365's key list reads it, to say when a previous key expires.
    #[serde(default = "default_key_retention")]
    pub retention_seconds: u64,
}

fn default_jwks_max_age_published() -> u64 {
    900
}

fn default_certificate_validity_days() -> u64 {
    800
}

/// The bounds of `signing_keys.certificate_validity_days`: at least the shortest key life (two
/// 2-day intervals, an hour's retention) plus 10 days; at most ten years.
pub const CERTIFICATE_VALIDITY_DAYS: std::ops::RangeInclusive<u64> = 15..=3650;

impl SigningKeysConfig {
    /// `certificate_validity_days` in seconds.
    pub fn certificate_validity_seconds(&self) -> u64 {
        self.certificate_validity_days * 86_400
    }
}

fn default_key_retention() -> u64 {
    14_400
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Browser origins allowed to call (CORS). Never `*`. A list, or one comma-separated string
    /// (so the template's AllowedOrigins, which API Gateway's CORS answers with, can be given
    /// once as `"${WHOSCALLING_ALLOWED_ORIGINS}"`).
    #[serde(deserialize_with = "origin_list")]
    pub allowed_origins: Vec<Origin>,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    #[serde(default)]
    pub secret_cache: SecretCacheConfig,
    pub identity: IdentityConfig,
    pub profiles: BTreeMap<ProfileName, ProfileConfig>,
    /// Masking and agent-view roles applied to every login before any profile sees it.
    #[serde(default)]
    pub claim_policy: ClaimPolicy,
    /// Required when a profile signs with keys we own (LivePerson, Live Assist).
    #[serde(default)]
    pub signing_keys: Option<SigningKeysConfig>,
    /// The OpenID provider for chat platforms that run a code flow (optional).
    #[serde(default)]
    pub provider: Option<ProviderConfig>,
    /// The visitor session cookie (needed by `session` identity and upstream logins).
    #[serde(default)]
    pub session: Option<SessionConfig>,
    /// Visitor logins through upstream OpenID providers (optional).
    #[serde(default)]
    pub upstream: Option<UpstreamConfig>,
    /// The bearer settings, checked once at cold start (`Some` when `bearer_token` is a source).
    #[serde(skip)]
    bearer: Option<BearerSettings>,
}

fn origin_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Origin>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Origins {
        List(Vec<String>),
        Text(String),
    }
    let items = match Origins::deserialize(deserializer)? {
        Origins::List(items) => items,
        Origins::Text(text) => text.split(',').map(|item| item.trim().to_string()).collect(),
    };
    items
        .into_iter()
        .map(|item| Origin::try_from(item).map_err(serde::de::Error::custom))
        .collect()
}

fn default_max_body() -> usize {
    8 * 1024
}

impl ServiceConfig {
    /// The grants table the Lambda keeps codes and access tokens in; required at cold start (the
    /// local run keeps grants in memory and needs none).
    pub fn grants_table(&self) -> Result<String, ConfigError> {
        self.provider
            .as_ref()
            .and_then(|p| p.grants_table.clone())
            .ok_or(ConfigError::Setting {
                setting: "provider.grants_table".into(),
                reason: "the Lambda keeps grants in DynamoDB: name the table (\"${WHOSCALLING_GRANTS_TABLE}\")".into(),
            })
    }

    /// Every pin a profile signs with: the rotation function must be given exactly these
    /// (rotate-keys reads them from this same document), so each exists from the first rotation on.
    pub fn pinned_keys(&self) -> std::collections::BTreeSet<PinName> {
        self.profiles
            .iter()
            .filter_map(|(name, profile)| match profile.key_choice(name)? {
                KeyChoice::Pinned(pin) => Some(pin),
                KeyChoice::Rotating(_) => None,
            })
            .collect()
    }

    /// Reads the document through `lookup` (the environment in Lambda, a map in tests): the file
    /// `WHOSCALLING_CONFIG_FILE` names, or else `WHOSCALLING_CONFIG` itself; fills its
    /// placeholders from `lookup`; then the optional section variables (`PROVIDER_VARIABLE` and
    /// the others).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (source_name, document) = match (lookup(CONFIG_FILE_VARIABLE), lookup(CONFIG_VARIABLE)) {
            (Some(_), Some(_)) => {
                return Err(setting(
                    CONFIG_VARIABLE,
                    format!("{CONFIG_FILE_VARIABLE} is set too: keep one document"),
                ));
            }
            (Some(path), None) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Unreadable {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                (path, text)
            }
            (None, Some(text)) => (CONFIG_VARIABLE.to_string(), text),
            (None, None) => return Err(ConfigError::Missing("WHOSCALLING_CONFIG_FILE (or WHOSCALLING_CONFIG)")),
        };
        let document = fill_placeholders(&source_name, &document, &lookup)?;
        let mut config = Self::parse_json(&source_name, &document)?;
        config.provider = section_from(config.provider.take(), "provider", PROVIDER_VARIABLE, &lookup)?;
        config.session = section_from(config.session.take(), "session", SESSION_VARIABLE, &lookup)?;
        config.upstream = section_from(config.upstream.take(), "upstream", UPSTREAM_VARIABLE, &lookup)?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses and validates a document; `source_name` says where it came from in errors.
    pub fn from_json(source_name: &str, document: &str) -> Result<Self, ConfigError> {
        let mut config = Self::parse_json(source_name, document)?;
        config.validate()?;
        Ok(config)
    }

    /// Errors name the field (`profiles.connect.token_lifetime_seconds: ...`) as well as the line.
    fn parse_json(source_name: &str, document: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            reason,
        };
        let mut deserializer = serde_json::Deserializer::from_str(document);
        let config: Self = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            match path.as_str() {
                "" | "." => invalid(e.into_inner().to_string()),
                _ => invalid(format!("{path}: {}", e.into_inner())),
            }
        })?;
        deserializer.end().map_err(|e| invalid(e.to_string()))?;
        Ok(config)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if self.profiles.is_empty() {
            return Err(setting("profiles", "at least one profile is needed"));
        }
        if self.identity.sources.is_empty() {
            return Err(setting("identity.sources", "name at least one identity source"));
        }
        if !(256..=1024 * 1024).contains(&self.max_body_bytes) {
            return Err(setting("max_body_bytes", "must be between 256 and 1048576"));
        }
        if self.secret_cache.ttl_seconds == 0 || self.secret_cache.ttl_seconds > 3600 {
            return Err(setting("secret_cache.ttl_seconds", "must be between 1 and 3600"));
        }
        if self.accepts(IdentitySource::BearerToken) {
            self.bearer = Some(self.bearer_settings()?);
        }
        if !(300..=86_400).contains(&self.identity.max_token_age_seconds) {
            return Err(setting(
                "identity.max_token_age_seconds",
                "must be between 300 and 86400 (a day); the default 43200 is 12 hours",
            ));
        }
        if let Some(claim) = &self.identity.required_visitor_claim
            && (claim.is_empty()
                || claim.len() > 64
                || !claim.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b)))
        {
            return Err(setting(
                "identity.required_visitor_claim",
                "a claim name: 1-64 of A-Z a-z 0-9 _ - : .",
            ));
        }
        self.claim_policy
            .validate()
            .map_err(|reason| setting("claim_policy.roles", reason))?;
        if self.signing_keys.is_none()
            && (self.provider.is_some() || self.profiles.values().any(ProfileConfig::uses_signing_keys))
        {
            return Err(setting(
                "signing_keys",
                "required: LivePerson, Live Assist and provider id_tokens sign with keys we own",
            ));
        }
        if let Some(provider) = &self.provider {
            provider.validate(&self.profiles)?;
        }
        if (self.accepts(IdentitySource::Session) || self.upstream.is_some()) && self.session.is_none() {
            return Err(setting("session", "required for session identity and upstream logins"));
        }
        if let Some(session) = &self.session {
            if !(60..=43_200).contains(&session.lifetime_seconds) {
                return Err(setting("session.lifetime_seconds", "must be 60-43200"));
            }
            let valid_name = !session.cookie_name.is_empty()
                && session.cookie_name.len() <= 64
                && session
                    .cookie_name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
            if !valid_name {
                return Err(setting("session.cookie_name", "letters, digits, `_` and `-` only"));
            }
        }
        if let Some(upstream) = &self.upstream {
            upstream.validate()?;
            let loopback_only = upstream.providers.values().all(|p| p.redirect_uri.scheme() == "http");
            if self.session.as_ref().is_some_and(|s| !s.secure_cookies) && !loopback_only {
                return Err(setting(
                    "session.secure_cookies",
                    "may be false only for a loopback development run",
                ));
            }
        }
        self.validate_authorize_login()?;
        if let Some(keys) = &self.signing_keys
            && keys.jwks_max_age_seconds > 86_400
        {
            return Err(setting("signing_keys.jwks_max_age_seconds", "at most 86400 (a day)"));
        }
        if let Some(keys) = &self.signing_keys
            && !CERTIFICATE_VALIDITY_DAYS.contains(&keys.certificate_validity_days)
        {
            return Err(setting(
                "signing_keys.certificate_validity_days",
                "must be 15-3650, and cover 2 rotation intervals + the key retention + 10 days",
            ));
        }
        for (name, profile) in &self.profiles {
            profile
                .platform()
                .validate()
                .map_err(|e| setting(format!("profiles.{name}.{}", e.field), e.reason))?;
        }
        Ok(())
    }

    /// The upstream provider `/oauth2/authorize` logs a visitor in at (see
    /// [`ProviderConfig::login_with`]); `None`: such a request is `login_required`.
    pub fn authorize_login(&self) -> Option<&ProfileName> {
        let provider = self.provider.as_ref()?;
        if let Some(name) = &provider.login_with {
            return Some(name);
        }
        let upstream = self.upstream.as_ref()?;
        match (upstream.providers.len(), self.accepts(IdentitySource::Session)) {
            (1, true) => upstream.providers.keys().next(),
            _ => None,
        }
    }

    /// The login started at `/oauth2/authorize` must be one whose session the provider reads,
    /// and return to the provider's own authorization endpoint: so the upstream provider's
    /// callback must be on the provider's issuer (where `visitor-login` allows that return).
    /// When the provider and upstream sections reach different functions (the template), the
    /// name alone is checked here and the template test checks the pair.
    fn validate_authorize_login(&self) -> Result<(), ConfigError> {
        let Some(provider) = &self.provider else { return Ok(()) };
        if provider.login_with.is_some() && (!self.accepts(IdentitySource::Session) || self.session.is_none()) {
            return Err(setting(
                "provider.login_with",
                "needs `session` among identity.sources and the session section",
            ));
        }
        if let Some(upstream) = &self.upstream {
            if provider.login_with.is_none() && upstream.providers.len() > 1 && self.accepts(IdentitySource::Session) {
                return Err(setting(
                    "provider.login_with",
                    "several upstream providers are configured: name the one /oauth2/authorize logs visitors in with",
                ));
            }
            if let Some(name) = self.authorize_login() {
                let Some(login) = upstream.providers.get(name) else {
                    return Err(setting(
                        "provider.login_with",
                        format!("no upstream provider named `{}`", name.as_str()),
                    ));
                };
                let expected = format!("{}/callback/{}", provider.issuer, name.as_str());
                if Url::parse(&expected).ok().as_ref() != Some(&login.redirect_uri) {
                    return Err(setting(
                        "provider.login_with",
                        format!(
                            "upstream.providers.{}.redirect_uri must be `{expected}` (the login returns to this issuer's /oauth2/authorize)",
                            name.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn accepts(&self, source: IdentitySource) -> bool {
        self.identity.sources.contains(&source)
    }

    /// The age, lifetime and kind rules every visitor token must meet.
    pub fn visitor_policy(&self) -> crate::identity::VisitorPolicy {
        crate::identity::VisitorPolicy {
            max_token_age_seconds: self.identity.max_token_age_seconds,
            required_claim: self.identity.required_visitor_claim.clone(),
        }
    }

    pub fn secret_cache_settings(&self) -> SecretCacheSettings {
        SecretCacheSettings {
            ttl: Duration::from_secs(self.secret_cache.ttl_seconds),
            max_stale: Duration::from_secs(self.secret_cache.max_stale_seconds),
            ..SecretCacheSettings::default()
        }
    }

    /// The bearer settings checked at cold start; `None` unless `bearer_token` is a source.
    pub fn bearer(&self) -> Option<&BearerSettings> {
        self.bearer.as_ref()
    }

    /// Checks and builds the bearer settings (only meaningful when `bearer_token` is a source);
    /// run once by the cold-start validation, which keeps the result for [`ServiceConfig::bearer`].
    pub fn bearer_settings(&self) -> Result<BearerSettings, ConfigError> {
        let identity = &self.identity;
        let issuer = identity
            .issuer
            .clone()
            .ok_or_else(|| setting("identity.issuer", "required for bearer_token"))?;
        let issuer_url = Url::parse(&issuer).map_err(|_| setting("identity.issuer", "must be a URL"))?;
        require_https_unless_loopback("identity.issuer", &issuer_url)?;
        if let Some(jwks_uri) = &identity.jwks_uri {
            require_https_unless_loopback("identity.jwks_uri", jwks_uri)?;
        }
        if identity.audiences.is_empty() || identity.audiences.iter().any(|a| a.is_empty()) {
            return Err(setting(
                "identity.audiences",
                "name the audience(s) visitor tokens are issued for",
            ));
        }
        if identity.algorithms.is_empty() {
            return Err(setting(
                "identity.algorithms",
                "name the allowed algorithms, e.g. [\"RS256\", \"ES256\"]",
            ));
        }
        let mut algorithms = Vec::new();
        for name in &identity.algorithms {
            let Some(algorithm) = JwsAlgorithm::parse(name) else {
                return Err(setting(
                    "identity.algorithms",
                    format!("`{name}` is not allowed: only asymmetric RS*, PS* and ES256/ES384 (never none or HS*)"),
                ));
            };
            algorithms.push(algorithm);
        }
        let leeway_seconds = identity
            .leeway_seconds
            .ok_or_else(|| setting("identity.leeway_seconds", "required (a small clock skew, e.g. 30)"))?;
        if leeway_seconds > 300 {
            return Err(setting("identity.leeway_seconds", "at most 300"));
        }
        if identity.http_timeout_seconds == 0 || identity.http_timeout_seconds > 10 {
            return Err(setting("identity.http_timeout_seconds", "must be between 1 and 10"));
        }
        Ok(BearerSettings {
            issuer,
            audiences: identity.audiences.clone(),
            algorithms,
            jwks_uri: identity.jwks_uri.clone(),
            leeway_seconds,
            jwks_max_age_seconds: identity.jwks_max_age_seconds,
            jwks_min_refetch_seconds: identity.jwks_min_refetch_seconds,
            http_timeout: Duration::from_secs(identity.http_timeout_seconds),
        })
    }
}

/// Replaces each `${WHOSCALLING_NAME}` inside a JSON string with that variable's value, escaped
/// as JSON string content, so a value can never change the document's structure. A placeholder
/// outside a string, naming another variable, or whose variable is unset or empty stops the
/// cold start with the line and the name.
pub fn fill_placeholders(
    source_name: &str,
    document: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut filled = String::with_capacity(document.len());
    let (mut in_string, mut escaped, mut line) = (false, false, 1);
    let mut rest = document;
    while let Some(c) = rest.chars().next() {
        if c == '$' && !escaped && rest.starts_with("${") {
            let problem = |name: &str, reason: &str| ConfigError::Placeholder {
                source_name: source_name.to_string(),
                line,
                name: name.to_string(),
                reason: reason.to_string(),
            };
            let Some(end) = rest.find('}') else {
                return Err(problem("", "no closing `}`"));
            };
            let name = &rest[2..end];
            let well_formed = name.strip_prefix(PLACEHOLDER_PREFIX).is_some_and(|tail| {
                !tail.is_empty()
                    && tail
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            });
            if !well_formed {
                return Err(problem(
                    name,
                    "placeholders name WHOSCALLING_ variables only (capitals, digits, _)",
                ));
            }
            if !in_string {
                return Err(problem(name, "placeholders go inside a JSON string"));
            }
            let value = lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| problem(name, "the variable is not set or empty"))?;
            let quoted = serde_json::to_string(&value).map_err(|e| problem(name, &e.to_string()))?;
            filled.push_str(&quoted[1..quoted.len() - 1]);
            rest = &rest[end + 1..];
            continue;
        }
        match c {
            '"' if !escaped => in_string = !in_string,
            '\\' if in_string && !escaped => {
                escaped = true;
                filled.push(c);
                rest = &rest[1..];
                continue;
            }
            '\n' => line += 1,
            _ => {}
        }
        escaped = false;
        filled.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(filled)
}

/// A section from its own variable when that is set; the same section in both places is refused
/// rather than one silently winning.
fn section_from<T: serde::de::DeserializeOwned>(
    in_document: Option<T>,
    section: &str,
    variable: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<T>, ConfigError> {
    let Some(text) = lookup(variable) else {
        return Ok(in_document);
    };
    if in_document.is_some() {
        return Err(setting(
            section,
            format!("given both in {CONFIG_VARIABLE} and in {variable}: keep one"),
        ));
    }
    serde_json::from_str(&text).map(Some).map_err(|e| ConfigError::Invalid {
        source_name: variable.to_string(),
        reason: e.to_string(),
    })
}

fn require_https_unless_loopback(name: &str, url: &Url) -> Result<(), ConfigError> {
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(setting(
            name,
            "must be https (http only for a loopback development provider)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn document() -> Value {
        json!({
            "allowed_origins": ["https://www.example.com"],
            "identity": {"sources": ["bearer_token"], "issuer": "https://idp.example.com",
                         "audiences": ["web"], "algorithms": ["RS256"], "leeway_seconds": 30},
            "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "w-1",
                "security_key_secret": "whoscalling/connect-widget-key", "token_lifetime_seconds": 500,
                "attributes": {"firstName": {"claim": "given_name"}}}}
        })
    }

    fn parse(doc: &Value) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::from_lookup(|k| (k == CONFIG_VARIABLE).then(|| doc.to_string()))
    }

    fn error_text(mut doc: Value, edit: impl FnOnce(&mut Value)) -> String {
        edit(&mut doc);
        parse(&doc).unwrap_err().to_string()
    }

    #[test]
    fn valid_document_parses() {
        let config = parse(&document()).unwrap();
        assert_eq!(config.secret_cache.ttl_seconds, 300);
        assert!(config.bearer_settings().is_ok());
        // The visitor rules default to a login session's order and no required claim.
        assert_eq!(
            config.visitor_policy(),
            crate::identity::VisitorPolicy {
                max_token_age_seconds: 43_200,
                required_claim: None
            }
        );
        let mut doc = document();
        doc["identity"]["max_token_age_seconds"] = json!(3600);
        doc["identity"]["required_visitor_claim"] = json!("auth_time");
        let policy = parse(&doc).unwrap().visitor_policy();
        assert_eq!(
            (policy.max_token_age_seconds, policy.required_claim.as_deref()),
            (3600, Some("auth_time"))
        );
    }

    fn from_variables(variables: &[(&str, String)]) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::from_lookup(|name| variables.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
    }

    fn session_section() -> Value {
        json!({"key_secret": "whoscalling/session-key", "lifetime_seconds": 900})
    }

    #[test]
    fn sections_may_come_in_variables_of_their_own() {
        let mut doc = document();
        doc["identity"]["sources"] = json!(["bearer_token", "session"]);
        let config = from_variables(&[
            (CONFIG_VARIABLE, doc.to_string()),
            ("WHOSCALLING_SESSION", session_section().to_string()),
        ])
        .unwrap();
        let session = config.session.expect("session from WHOSCALLING_SESSION");
        assert_eq!(session.lifetime_seconds, 900);
        assert_eq!(session.key_secret.as_str(), "whoscalling/session-key");
    }

    #[test]
    fn a_section_in_both_places_is_refused() {
        let mut doc = document();
        doc["session"] = session_section();
        let error = from_variables(&[
            (CONFIG_VARIABLE, doc.to_string()),
            ("WHOSCALLING_SESSION", session_section().to_string()),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "session: given both in WHOSCALLING_CONFIG and in WHOSCALLING_SESSION: keep one"
        );
    }

    #[test]
    fn a_bad_section_variable_is_named_and_checks_still_span_sections() {
        let error = from_variables(&[
            (CONFIG_VARIABLE, document().to_string()),
            ("WHOSCALLING_SESSION", "{".into()),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("WHOSCALLING_SESSION is not a valid configuration document"),
            "{error}"
        );

        let unknown_field = json!({"key_secret": "whoscalling/session-key", "lifetime": 900}).to_string();
        let error = from_variables(&[
            (CONFIG_VARIABLE, document().to_string()),
            ("WHOSCALLING_SESSION", unknown_field),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `lifetime`"), "{error}");

        // The session identity source needs the session section; naming it only in the shared
        // document and leaving the variable out is caught as before.
        let mut doc = document();
        doc["identity"]["sources"] = json!(["bearer_token", "session"]);
        let error = from_variables(&[(CONFIG_VARIABLE, doc.to_string())])
            .unwrap_err()
            .to_string();
        assert_eq!(error, "session: required for session identity and upstream logins");
    }

    #[test]
    fn missing_variable_is_named() {
        assert_eq!(
            ServiceConfig::from_lookup(|_| None).unwrap_err().to_string(),
            "WHOSCALLING_CONFIG_FILE (or WHOSCALLING_CONFIG) is not set"
        );
    }

    #[test]
    fn the_document_may_come_from_a_file_and_not_also_inline() {
        let path = std::env::temp_dir().join(format!("whoscalling-config-{}.json", std::process::id()));
        std::fs::write(&path, document().to_string()).unwrap();
        let file = path.display().to_string();
        let config = from_variables(&[(CONFIG_FILE_VARIABLE, file.clone())]).unwrap();
        assert_eq!(
            config.profiles.keys().map(ProfileName::as_str).collect::<Vec<_>>(),
            ["connect"]
        );
        let both = from_variables(&[
            (CONFIG_FILE_VARIABLE, file.clone()),
            (CONFIG_VARIABLE, document().to_string()),
        ]);
        assert_eq!(
            both.unwrap_err().to_string(),
            "WHOSCALLING_CONFIG: WHOSCALLING_CONFIG_FILE is set too: keep one document"
        );
        std::fs::remove_file(&path).unwrap();
        let gone = from_variables(&[(CONFIG_FILE_VARIABLE, file.clone())])
            .unwrap_err()
            .to_string();
        assert!(
            gone.starts_with(&format!("{file} (from WHOSCALLING_CONFIG_FILE) cannot be read")),
            "{gone}"
        );
    }

    #[test]
    fn placeholders_are_filled_inside_strings_from_whoscalling_variables_only() {
        let mut doc = document();
        doc["profiles"]["connect"]["security_key_secret"] = json!("${WHOSCALLING_SECRET_PREFIX}/connect-widget-key");
        doc["allowed_origins"] = json!("${WHOSCALLING_ALLOWED_ORIGINS}");
        let text = doc.to_string();
        let with = |extra: &[(&str, &str)]| {
            let mut variables = vec![(CONFIG_VARIABLE, text.clone())];
            variables.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            from_variables(&variables)
        };
        let config = with(&[
            ("WHOSCALLING_SECRET_PREFIX", "whoscalling/prod"),
            (
                "WHOSCALLING_ALLOWED_ORIGINS",
                "https://www.example.com, https://m.example.com",
            ),
        ])
        .unwrap();
        let ProfileConfig::AmazonConnect(connect) = &config.profiles[&ProfileName::parse("connect").unwrap()] else {
            panic!("connect")
        };
        assert_eq!(
            connect.security_key_secret.as_str(),
            "whoscalling/prod/connect-widget-key"
        );
        assert_eq!(
            config.allowed_origins.iter().map(Origin::as_str).collect::<Vec<_>>(),
            ["https://www.example.com", "https://m.example.com"]
        );

        // A value is string content, never structure: a quote in it cannot add a member (which
        // deny_unknown_fields would name); it stays inside the secret name, refused as one.
        let injected = with(&[
            ("WHOSCALLING_SECRET_PREFIX", "x\", \"surprise\": \"1"),
            ("WHOSCALLING_ALLOWED_ORIGINS", "https://www.example.com"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            injected.contains("`x\", \"surprise\": \"1/connect-widget-key` is not a valid secret name"),
            "{injected}"
        );

        let unset = with(&[("WHOSCALLING_ALLOWED_ORIGINS", "https://www.example.com")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            unset,
            "WHOSCALLING_CONFIG line 1: placeholder `${WHOSCALLING_SECRET_PREFIX}`: the variable is not set or empty"
        );
        let empty = with(&[
            ("WHOSCALLING_SECRET_PREFIX", ""),
            ("WHOSCALLING_ALLOWED_ORIGINS", "https://www.example.com"),
        ]);
        assert!(empty.unwrap_err().to_string().contains("not set or empty"));

        for (document, reason) in [
            ("{\"a\": \"${AWS_SECRET_ACCESS_KEY}\"}", "WHOSCALLING_ variables only"),
            ("{\"a\": \"${WHOSCALLING_}\"}", "WHOSCALLING_ variables only"),
            ("{\"a\": \"${whoscalling_x}\"}", "WHOSCALLING_ variables only"),
            ("{\"a\": ${WHOSCALLING_TTL}}", "inside a JSON string"),
            ("{\"a\": \"${WHOSCALLING_TTL\"}", "WHOSCALLING_ variables only"),
            ("{\"a\": \"${WHOSCALLING_TTL", "no closing"),
        ] {
            let error = fill_placeholders("doc", document, |_| Some("300".into()))
                .unwrap_err()
                .to_string();
            assert!(error.contains(reason), "{document}: {error}");
        }
        // Lines are counted for the message; an escaped quote does not end the string.
        let error = fill_placeholders("doc", "{\n\"a\": \"\\\" ${WHOSCALLING_X}\"}", |_| None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "doc line 2: placeholder `${WHOSCALLING_X}`: the variable is not set or empty"
        );
        // No placeholder: the text is unchanged, byte for byte.
        let plain = "{\"a\": \"$ {x} \\u0041 é\"}";
        assert_eq!(fill_placeholders("doc", plain, |_| None).unwrap(), plain);
    }

    #[test]
    fn type_errors_name_the_field() {
        // Inside a profile the path stops at the profile (serde buffers a tagged enum's content),
        // and the reason names the setting.
        let text = error_text(document(), |d| {
            d["profiles"]["connect"]["token_lifetime_seconds"] = json!(900)
        });
        assert!(
            text.starts_with(
                "WHOSCALLING_CONFIG is not a valid configuration document: profiles.connect: 900 s is outside"
            ),
            "{text}"
        );
        let text = error_text(document(), |d| d["identity"]["max_token_age_seconds"] = json!("3600"));
        assert!(
            text.contains(": identity.max_token_age_seconds: invalid type"),
            "{text}"
        );
        let text = error_text(document(), |d| {
            d["allowed_origins"] = json!(["https://www.example.com/"])
        });
        assert!(
            text.contains(": allowed_origins: `https://www.example.com/` is not an origin"),
            "{text}"
        );
    }

    #[test]
    fn the_quick_start_widget_marker_is_refused() {
        let text = error_text(document(), |d| {
            d["profiles"]["connect"]["widget_id"] = json!("REPLACE_WITH_CONNECT_WIDGET_ID")
        });
        assert!(
            text.starts_with("profiles.connect.widget_id: still the quick-start marker"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_the_setting() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|d| d["identity"]["algorithms"] = json!(["HS256"])),
                "identity.algorithms",
            ),
            (
                Box::new(|d| d["identity"]["algorithms"] = json!(["none"])),
                "identity.algorithms",
            ),
            (
                Box::new(|d| {
                    d["identity"].as_object_mut().unwrap().remove("leeway_seconds");
                }),
                "identity.leeway_seconds",
            ),
            (
                Box::new(|d| d["identity"]["issuer"] = json!("http://idp.example.com")),
                "identity.issuer",
            ),
            (
                Box::new(|d| d["identity"]["audiences"] = json!([])),
                "identity.audiences",
            ),
            (Box::new(|d| d["allowed_origins"] = json!(["*"])), "origin"),
            (
                Box::new(|d| d["allowed_origins"] = json!(["https://www.example.com/"])),
                "origin",
            ),
            (
                Box::new(|d| d["profiles"]["connect"]["token_lifetime_seconds"] = json!(3600)),
                "lifetime",
            ),
            (
                Box::new(|d| d["profiles"]["connect"]["attributes"] = json!({"first name": {"claim": "x"}})),
                "attribute name",
            ),
            (
                Box::new(|d| d["profiles"]["connect"]["widget_id"] = json!(" ")),
                "profiles.connect.widget_id",
            ),
            (
                Box::new(|d| d["profiles"] = json!({"Bad_Name": d["profiles"]["connect"].clone()})),
                "profile name",
            ),
            (
                Box::new(|d| d["profiles"]["connect"]["platform"] = json!("unknown")),
                "unknown variant",
            ),
            (Box::new(|d| d["surprise"] = json!(1)), "unknown field"),
            (
                Box::new(|d| d["identity"]["max_token_age_seconds"] = json!(172_800)),
                "identity.max_token_age_seconds: must be between 300 and 86400",
            ),
            (
                Box::new(|d| d["identity"]["max_token_age_seconds"] = json!(0)),
                "identity.max_token_age_seconds",
            ),
            (
                Box::new(|d| d["identity"]["max_token_age_seconds"] = json!("3600")),
                "invalid type",
            ),
            (
                Box::new(|d| d["identity"]["required_visitor_claim"] = json!("")),
                "identity.required_visitor_claim",
            ),
            (
                Box::new(|d| d["identity"]["required_visitor_claim"] = json!("auth time")),
                "identity.required_visitor_claim",
            ),
            (
                Box::new(|d| d["identity"]["required_visitor_claim"] = json!(["nonce"])),
                "invalid type",
            ),
        ];
        for (edit, expected) in cases {
            let text = error_text(document(), edit);
            assert!(text.contains(expected), "{text:?} does not mention {expected:?}");
        }
    }

    /// The OpenID provider with one client, for the provider section's checks.
    fn provider_document() -> Value {
        let mut doc = document();
        doc["signing_keys"] = json!({"secret": "whoscalling/signing-keys"});
        doc["profiles"]["openid-claims"] = json!({"platform": "openid-connect", "claims": {"name": {"claim": "name"}}});
        doc["provider"] = json!({"issuer": "https://id.example.com", "clients": {"puzzel": {"secret": "whoscalling/clients/puzzel",
            "redirect_uris": ["https://chat.example.com/cb"], "scopes": ["openid"], "profile": "openid-claims"}}});
        doc
    }

    /// `provider_document` plus a session and upstream providers whose callbacks are on the issuer.
    fn login_document(providers: &[&str]) -> Value {
        let mut doc = provider_document();
        doc["identity"]["sources"] = json!(["bearer_token", "session"]);
        doc["session"] = session_section();
        let upstream: serde_json::Map<String, Value> = providers
            .iter()
            .map(|name| {
                let provider = json!({"issuer": "https://bankid.example.com", "client_id": "whoscalling",
                    "client_secret": "whoscalling/upstream", "auth_method": "client_secret_basic",
                    "redirect_uri": format!("https://id.example.com/callback/{name}"), "scopes": ["openid"]});
                (name.to_string(), provider)
            })
            .collect();
        doc["upstream"] = json!({"return_urls": ["https://www.example.com/"], "providers": upstream});
        doc
    }

    #[test]
    fn code_lifetimes_up_to_ten_minutes_are_accepted() {
        assert_eq!(
            parse(&provider_document())
                .unwrap()
                .provider
                .unwrap()
                .code_lifetime_seconds,
            60,
            "the default"
        );
        for accepted in [1, 60, 300, 600] {
            let mut doc = provider_document();
            doc["provider"]["code_lifetime_seconds"] = json!(accepted);
            assert_eq!(parse(&doc).unwrap().provider.unwrap().code_lifetime_seconds, accepted);
        }
        for refused in [0, 601, 3600] {
            let text = error_text(provider_document(), |d| {
                d["provider"]["code_lifetime_seconds"] = json!(refused)
            });
            assert_eq!(
                text, "provider.code_lifetime_seconds: must be 1-600 (RFC 6749: at most 10 minutes)",
                "{refused}"
            );
        }
    }

    #[test]
    fn a_client_of_the_provider_names_a_profile_whose_platform_can_serve_it() {
        assert!(
            parse(&provider_document()).is_ok(),
            "control: an openid-connect profile"
        );
        let text = error_text(provider_document(), |d| {
            d["provider"]["clients"]["puzzel"]["profile"] = json!("connect")
        });
        assert_eq!(
            text,
            "provider.clients.puzzel.profile: platform `amazon-connect` cannot serve a client of the OpenID provider"
        );
    }

    #[test]
    fn the_authorize_login_is_the_named_or_only_upstream_provider() {
        let name = |doc: &Value| parse(doc).unwrap().authorize_login().map(|n| n.as_str().to_string());
        // No upstream section: no login (login_required), as before.
        assert_eq!(name(&provider_document()), None);
        // Exactly one upstream provider and session identity: that one.
        assert_eq!(name(&login_document(&["bankid"])).as_deref(), Some("bankid"));
        // Session identity not accepted: the login could not be used, so none is started.
        let mut doc = login_document(&["bankid"]);
        doc["identity"]["sources"] = json!(["bearer_token"]);
        assert_eq!(name(&doc), None);
        // Several: the named one.
        let mut doc = login_document(&["bankid", "entra"]);
        doc["provider"]["login_with"] = json!("entra");
        assert_eq!(name(&doc).as_deref(), Some("entra"));
        // Named while the upstream section is elsewhere (the template's exchange-code).
        let mut doc = provider_document();
        doc["identity"]["sources"] = json!(["bearer_token", "session"]);
        doc["session"] = session_section();
        doc["provider"]["login_with"] = json!("bankid");
        assert_eq!(name(&doc).as_deref(), Some("bankid"));
    }

    #[test]
    fn a_login_that_cannot_work_is_refused_at_cold_start() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Value, Edit, &str)> = vec![
            (
                login_document(&["bankid", "entra"]),
                Box::new(|_| {}),
                "provider.login_with: several upstream providers",
            ),
            (
                login_document(&["bankid"]),
                Box::new(|d| d["provider"]["login_with"] = json!("entra")),
                "provider.login_with: no upstream provider named `entra`",
            ),
            (
                login_document(&["bankid"]),
                Box::new(|d| d["provider"]["login_with"] = json!("Not A Name")),
                "is not a profile name",
            ),
            (
                login_document(&["bankid"]),
                Box::new(|d| {
                    d["upstream"]["providers"]["bankid"]["redirect_uri"] =
                        json!("https://other.example.com/callback/bankid")
                }),
                "provider.login_with: upstream.providers.bankid.redirect_uri must be `https://id.example.com/callback/bankid`",
            ),
            (
                provider_document(),
                Box::new(|d| d["provider"]["login_with"] = json!("bankid")),
                "provider.login_with: needs `session`",
            ),
        ];
        for (doc, edit, expected) in cases {
            let text = error_text(doc, edit);
            assert!(text.contains(expected), "{text:?} does not mention {expected:?}");
        }
    }

    #[test]
    fn loopback_issuer_may_be_http() {
        let mut doc = document();
        doc["identity"]["issuer"] = json!("http://127.0.0.1:3000/dev");
        assert!(parse(&doc).is_ok());
    }

    #[test]
    fn origins_are_canonical() {
        assert!(Origin::try_from("http://127.0.0.1:3000".to_string()).is_ok());
        assert!(Origin::try_from("https://example.com:443".to_string()).is_err());
        assert!(Origin::try_from("https://EXAMPLE.com".to_string()).is_err());
        assert!(Origin::try_from("null".to_string()).is_err());
    }
}
