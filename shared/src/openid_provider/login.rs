//! Logging the visitor in from the authorization endpoint, then resuming the same request.
//!
//! Puzzel's redirect flow may reach `/oauth2/authorize` with no login at all. When an upstream
//! login is configured (`provider.login_with`, see [`ServiceConfig::authorize_login`]), the
//! endpoint sends the visitor to `<issuer>/login/<provider>` and resumes the request afterwards.
//! The request's query travels sealed with the session key (its own AEAD purpose, so no other
//! sealed cookie passes for it) in an HttpOnly cookie scoped to the authorization endpoint: it
//! is bound to this browser and expires with the login attempt. The login returns to
//! `<issuer>/oauth2/authorize` with no query (our own endpoint, a fixed URL, never a
//! caller-chosen one); the resumed request is checked again in full against the current
//! configuration (client, redirect URI, scope, PKCE), and is never sent to a login a second time.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::config::{ConfigError, ServiceConfig};
use crate::openid_provider::{OAuthError, OAuthErrorCode, Params};
use crate::secrets::SecretStore;
use crate::session::{CookieSettings, DuplicateCookie, Purpose, SessionError, SessionKeys, cookie_value};

/// The cookie holding the sealed authorization request.
pub const PENDING_COOKIE: &str = "whoscalling_authorize";
/// As long as the visitor may take at the upstream provider (the login state's lifetime).
pub const PENDING_SECONDS: u64 = 600;

/// What the cookie carries: the authorization request's query, exactly as received.
#[derive(Serialize, Deserialize)]
struct Pending {
    query: String,
    exp: u64,
}

/// The redirect to the login and the cookie to set with it.
pub struct LoginRedirect {
    pub location: String,
    pub set_cookie: String,
}

impl std::fmt::Debug for LoginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cookie seals the pending request: its shape only.
        f.debug_struct("LoginRedirect")
            .field("location", &"[redacted]")
            .field("set_cookie", &"[redacted]")
            .finish()
    }
}

/// A request resumed after the login.
#[derive(Debug)]
pub struct Resumed {
    pub params: Params,
    pub sent_to_login_at: u64,
}

pub struct AuthorizeLogin {
    keys: SessionKeys,
    cookies: CookieSettings,
    login_url: String,
    cookie_path: String,
    clock: Arc<dyn Clock>,
}

impl AuthorizeLogin {
    /// `None` when the configuration names no login for the authorization endpoint.
    pub fn from_config(
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(name) = config.authorize_login() else {
            return Ok(None);
        };
        let missing = |setting: &str| ConfigError::Setting {
            setting: setting.into(),
            reason: "required for provider.login_with".into(),
        };
        let provider = config.provider.as_ref().ok_or_else(|| missing("provider"))?;
        let session = config.session.as_ref().ok_or_else(|| missing("session"))?;
        let bad_issuer = || ConfigError::Setting {
            setting: "provider.issuer".into(),
            reason: "must be a URL".into(),
        };
        let authorize = Url::parse(&format!("{}/oauth2/authorize", provider.issuer)).map_err(|_| bad_issuer())?;
        let mut login =
            Url::parse(&format!("{}/login/{}", provider.issuer, name.as_str())).map_err(|_| bad_issuer())?;
        login.query_pairs_mut().append_pair("return_to", authorize.as_str());
        Ok(Some(Self {
            keys: SessionKeys::from_config(secrets, config, session, clock.clone()),
            cookies: CookieSettings {
                name: PENDING_COOKIE.into(),
                secure: session.secure_cookies,
            },
            login_url: login.into(),
            cookie_path: authorize.path().to_string(),
            clock,
        }))
    }

    /// Seals the request's query into the cookie and sends the visitor to the login. With
    /// `fresh_login`, `prompt=login` travels on to the upstream provider, so the provider's own
    /// single sign-on does not answer with the old login.
    pub async fn start(&self, query: &str, fresh_login: bool) -> Result<LoginRedirect, OAuthError> {
        let pending = Pending {
            query: query.to_string(),
            exp: self.clock.now_unix() + PENDING_SECONDS,
        };
        let sealed = self
            .keys
            .seal_json(Purpose::PendingAuthorization, &pending)
            .await
            .map_err(|error| match error {
                SessionError::TooLarge(_) => {
                    OAuthError::invalid_request("the authorization request is too large to resume after a login")
                }
                other => key_error(&other),
            })?;
        let location = if fresh_login {
            format!("{}&prompt=login", self.login_url)
        } else {
            self.login_url.clone()
        };
        Ok(LoginRedirect {
            location,
            set_cookie: self
                .cookies
                .set(PENDING_COOKIE, &sealed, &self.cookie_path, PENDING_SECONDS),
        })
    }

    /// The request waiting in this browser's cookie. Missing, altered, foreign (sealed with
    /// another key), sent twice or expired: `invalid_request`, shown to the visitor (the
    /// request's redirect URI is unknown, so nothing may be redirected).
    pub async fn resume(&self, cookie_header: Option<&str>) -> Result<Params, OAuthError> {
        self.resume_pending(cookie_header).await.map(|resumed| resumed.params)
    }

    /// As [`Self::resume`], with when the visitor was sent to the login (so a login since then
    /// counts as the fresh one `prompt=login` or `max_age` asked for).
    pub async fn resume_pending(&self, cookie_header: Option<&str>) -> Result<Resumed, OAuthError> {
        let refused = || {
            OAuthError::invalid_request(
                "no sign-in request to resume: it expired, or was started in another browser; start again from the chat",
            )
        };
        let sealed = match cookie_header.map(|header| cookie_value(header, PENDING_COOKIE)) {
            Some(Ok(Some(value))) if !value.is_empty() => value,
            Some(Err(DuplicateCookie)) | Some(Ok(_)) | None => return Err(refused()),
        };
        let pending: Pending = self
            .keys
            .open_json(Purpose::PendingAuthorization, sealed)
            .await
            .map_err(|error| match error {
                SessionError::Secret(_) | SessionError::WeakKey | SessionError::Randomness => key_error(&error),
                _ => refused(),
            })?;
        if pending.exp <= self.clock.now_unix() {
            return Err(refused());
        }
        let params = Params::from_form(pending.query.as_bytes())?;
        Ok(Resumed {
            params,
            sent_to_login_at: pending.exp.saturating_sub(PENDING_SECONDS),
        })
    }

    /// The `Set-Cookie` that removes the pending request (sent with every resumed answer, so a
    /// request resumes at most once from this browser).
    pub fn clear_cookie(&self) -> String {
        self.cookies.clear(PENDING_COOKIE, &self.cookie_path)
    }
}

fn key_error(error: &SessionError) -> OAuthError {
    match error {
        SessionError::Secret(secret) if secret.is_transient() => OAuthError::unavailable(),
        _ => {
            tracing::error!(error = %error, "session key unavailable for a pending authorization");
            OAuthError::new(
                OAuthErrorCode::ServerError,
                "the service could not complete the request",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::InMemorySecretStore;
    use crate::clock::FixedClock;
    use serde_json::json;

    const QUERY: &str = "response_type=code&client_id=puzzel&state=s%201&nonce=n&code_challenge=abc&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fchat.example.com%2Fcb";

    fn config(issuer: &str, secure: bool) -> ServiceConfig {
        let document = json!({
            "allowed_origins": ["https://www.example.com"],
            "identity": {"sources": ["session"]},
            "profiles": {"openid-claims": {"platform": "openid-connect", "claims": {"name": {"claim": "name"}}}},
            "signing_keys": {"secret": "keys"},
            "session": {"key_secret": "session", "lifetime_seconds": 900, "secure_cookies": secure},
            "provider": {"issuer": issuer, "login_with": "bankid", "clients": {"puzzel": {"secret": "puzzel",
                "redirect_uris": ["https://chat.example.com/cb"], "scopes": ["openid"], "profile": "openid-claims"}}}
        });
        ServiceConfig::from_json("test", &document.to_string()).unwrap()
    }

    fn login(issuer: &str, key: &str) -> (AuthorizeLogin, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(1_000));
        let secrets = Arc::new(InMemorySecretStore::with("session", key));
        (
            AuthorizeLogin::from_config(&config(issuer, true), secrets, clock.clone())
                .unwrap()
                .unwrap(),
            clock,
        )
    }

    fn cookie_of(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_string()
    }

    #[tokio::test]
    async fn the_request_resumes_once_in_the_same_browser() {
        let (login, _) = login("https://id.example.com/prod", &"k".repeat(64));
        let redirect = login.start(QUERY, false).await.unwrap();
        assert_eq!(
            redirect.location,
            "https://id.example.com/prod/login/bankid?return_to=https%3A%2F%2Fid.example.com%2Fprod%2Foauth2%2Fauthorize"
        );
        assert!(redirect.set_cookie.starts_with("whoscalling_authorize="));
        // A request that needs a fresh login says so to the visitor login, which tells the provider.
        let fresh = login.start(QUERY, true).await.unwrap();
        assert_eq!(fresh.location, format!("{}&prompt=login", redirect.location));
        assert!(
            redirect
                .set_cookie
                .ends_with("; Path=/prod/oauth2/authorize; Max-Age=600; HttpOnly; Secure; SameSite=Lax"),
            "{}",
            redirect.set_cookie
        );
        assert!(!redirect.set_cookie.contains("puzzel"), "sealed, not readable");
        let params = login
            .resume(Some(&format!("other=1; {}", cookie_of(&redirect.set_cookie))))
            .await
            .unwrap();
        assert_eq!(
            (
                params.get("client_id"),
                params.get("state"),
                params.get("code_challenge")
            ),
            (Some("puzzel"), Some("s 1"), Some("abc"))
        );
        assert_eq!(
            login.clear_cookie(),
            "whoscalling_authorize=; Path=/prod/oauth2/authorize; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[tokio::test]
    async fn missing_altered_foreign_repeated_or_expired_requests_do_not_resume() {
        let (login, clock) = login("https://id.example.com", &"k".repeat(64));
        let cookie = cookie_of(&login.start(QUERY, false).await.unwrap().set_cookie);
        let (value_start, value) = cookie.split_once('=').unwrap();
        let mut altered = value.to_string();
        let flipped = if altered.ends_with('A') { "B" } else { "A" };
        altered.replace_range(altered.len() - 1.., flipped);
        let (other_browser, _) = login_with_key(&"j".repeat(64));
        let foreign = cookie_of(&other_browser.start(QUERY, false).await.unwrap().set_cookie);
        let keys = SessionKeys::new(
            Arc::new(InMemorySecretStore::with("session", &"k".repeat(64))),
            "session".to_string().try_into().unwrap(),
        );
        let other_purpose = keys
            .seal_json(
                Purpose::LoginState,
                &Pending {
                    query: QUERY.into(),
                    exp: 5_000,
                },
            )
            .await
            .unwrap();
        let headers = [
            None,
            Some(String::new()),
            Some("whoscalling_authorize=".to_string()),
            Some(format!("{value_start}={altered}")),
            Some(foreign),
            Some(format!("whoscalling_authorize={other_purpose}")),
            Some(format!("{cookie}; {cookie}")),
        ];
        for header in &headers {
            let error = login.resume(header.as_deref()).await.unwrap_err();
            assert_eq!(error.code, OAuthErrorCode::InvalidRequest, "{header:?}");
        }
        // The control: the genuine cookie resumes, until it expires.
        assert!(login.resume(Some(&cookie)).await.is_ok());
        clock.advance(PENDING_SECONDS - 1);
        assert!(login.resume(Some(&cookie)).await.is_ok());
        clock.advance(1);
        assert_eq!(
            login.resume(Some(&cookie)).await.unwrap_err().code,
            OAuthErrorCode::InvalidRequest
        );
    }

    fn login_with_key(key: &str) -> (AuthorizeLogin, Arc<FixedClock>) {
        login("https://id.example.com", key)
    }

    #[tokio::test]
    async fn an_oversized_request_is_refused_before_the_login() {
        let (login, _) = login("https://id.example.com", &"k".repeat(64));
        let huge = format!("{QUERY}&state={}", "s".repeat(4000));
        assert_eq!(
            login.start(&huge, false).await.unwrap_err().code,
            OAuthErrorCode::InvalidRequest
        );
    }

    #[test]
    fn without_a_login_there_is_nothing_to_start() {
        let mut document: serde_json::Value = json!({
            "allowed_origins": ["https://www.example.com"],
            "identity": {"sources": ["session"]},
            "profiles": {"openid-claims": {"platform": "openid-connect", "claims": {}}},
            "signing_keys": {"secret": "keys"},
            "session": {"key_secret": "session", "lifetime_seconds": 900},
            "provider": {"issuer": "https://id.example.com", "clients": {"puzzel": {"secret": "puzzel",
                "redirect_uris": ["https://chat.example.com/cb"], "scopes": ["openid"], "profile": "openid-claims"}}}
        });
        let config = ServiceConfig::from_json("test", &document.to_string()).unwrap();
        let secrets = Arc::new(InMemorySecretStore::with("session", &"k".repeat(64)));
        assert!(
            AuthorizeLogin::from_config(&config, secrets, Arc::new(FixedClock::at(0)))
                .unwrap()
                .is_none()
        );
        document["provider"]["login_with"] = json!("bankid");
        assert!(ServiceConfig::from_json("test", &document.to_string()).is_ok());
    }
}
