//! Visitor sessions and login state, carried in encrypted cookies.
//!
//! After an upstream login the visitor's (already masked) claims travel in an AES-256-GCM sealed
//! cookie, so no server-side store is needed and the browser cannot read or alter them. The key
//! is derived with HKDF-SHA256 from a secret in Secrets Manager (derived once per secret
//! version). Each cookie kind has its own additional data, so a login-state cookie can never pass
//! as a session.
//!
//! The secret is rotated on a schedule (`session_rotation`): its value becomes a
//! [`SessionKeyDocument`] with the `current` key, the `previous` one and when they switched. Cookies
//! are sealed with `current` only; `previous` still opens them for a grace period (one session
//! lifetime plus the secret cache's TTL and a margin for the rotation's own steps, counted from the
//! switch), so a rotation ends no session, and a key two rotations old opens nothing. A plain
//! string value (as the template first generates it) is a document with only `current`.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::{Clock, SystemClock};
use crate::identity::{IdentityError, SessionSource};
use crate::secrets::{SecretError, SecretName, SecretStore};
use crate::values::VerifiedClaims;

/// Browsers keep cookies up to 4096 bytes (name, value and attributes); stay well under.
pub const MAX_COOKIE_VALUE_BYTES: usize = 3800;
/// The shortest session-key secret accepted (characters).
pub const MIN_KEY_SECRET_CHARS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("the session key secret is shorter than {MIN_KEY_SECRET_CHARS} characters, or not a session key document")]
    WeakKey,
    #[error("the cookie does not open with the current key (tampered, foreign or from before a key rotation)")]
    Unreadable,
    #[error("the cookie has expired")]
    Expired,
    #[error("the sealed value would be {0} bytes, over the cookie limit")]
    TooLarge(usize),
    #[error("no randomness available")]
    Randomness,
}

/// What a sealed value is for; part of the AEAD's additional data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    LoginState,
    /// An authorization request waiting for the visitor's login (`openid_provider::login`).
    PendingAuthorization,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"whoscalling/session/v1",
            Purpose::LoginState => b"whoscalling/login-state/v1",
            Purpose::PendingAuthorization => b"whoscalling/pending-authorization/v1",
        }
    }
}

/// Margin for the rotation's own steps: `rotated_at` is written at `createSecret`, and the switch
/// (`finishSecret`) follows within seconds normally; this covers retries.
pub const ROTATION_STEPS_SLACK_SECONDS: u64 = 600;
/// The grace of [`SessionKeys::new`]: the default session lifetime, plus the slack and a default
/// secret cache TTL. Services use `SessionKeys::from_config` (in `config`), which counts their own settings.
const DEFAULT_GRACE_SECONDS: u64 = 1800 + 300 + ROTATION_STEPS_SLACK_SECONDS;

/// The session-key secret's value once rotated: `{"current": ..., "previous": ..., "rotated_at": ...}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionKeyDocument {
    pub current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// When `current` replaced `previous` (unix seconds; 0 with no previous).
    #[serde(default)]
    pub rotated_at: u64,
}

impl std::fmt::Debug for SessionKeyDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeyDocument")
            .field("previous", &self.previous.is_some())
            .field("rotated_at", &self.rotated_at)
            .finish_non_exhaustive()
    }
}

impl SessionKeyDocument {
    /// A document, or a plain key (the template's first, generated value). Every key it holds
    /// must be at least [`MIN_KEY_SECRET_CHARS`] long.
    pub fn parse(value: &str) -> Result<Self, SessionError> {
        let value = value.trim();
        let document = if value.starts_with('{') {
            serde_json::from_str(value).map_err(|_| SessionError::WeakKey)?
        } else {
            SessionKeyDocument {
                current: value.to_string(),
                previous: None,
                rotated_at: 0,
            }
        };
        let weak = |key: &str| key.trim().len() < MIN_KEY_SECRET_CHARS;
        if weak(&document.current) || document.previous.as_deref().is_some_and(weak) {
            return Err(SessionError::WeakKey);
        }
        Ok(document)
    }

    /// The successor: a fresh `current`, this one's `current` as `previous` (this `previous`,
    /// two rotations old by then, is dropped).
    pub fn rotated(&self, now: u64) -> Result<Self, SessionError> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 48]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| SessionError::Randomness)?;
        Ok(SessionKeyDocument {
            current: URL_SAFE_NO_PAD.encode(bytes.as_ref()),
            previous: Some(self.current.clone()),
            rotated_at: now,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({"current": self.current, "previous": self.previous, "rotated_at": self.rotated_at})
            .to_string()
    }
}

fn derive(secret: &str) -> Result<Arc<LessSafeKey>, SessionError> {
    let secret = secret.trim().as_bytes();
    if secret.len() < MIN_KEY_SECRET_CHARS {
        return Err(SessionError::WeakKey);
    }
    let prk = Salt::new(HKDF_SHA256, b"whoscalling session key").extract(secret);
    let okm = prk
        .expand(&[b"AES-256-GCM cookie sealing"], &AES_256_GCM)
        .map_err(|_| SessionError::WeakKey)?;
    Ok(Arc::new(LessSafeKey::new(UnboundKey::from(okm))))
}

/// The keys of one secret version: `current` seals and opens; `previous` opens until `until`.
struct DerivedKeys {
    current: Arc<LessSafeKey>,
    previous: Option<(Arc<LessSafeKey>, u64)>,
}

/// The AEAD keys from the session-key secret, re-derived only when the secret's version changes.
pub struct SessionKeys {
    store: Arc<dyn SecretStore>,
    secret: SecretName,
    derived: RwLock<Option<(Option<String>, Arc<DerivedKeys>)>>,
    random: SystemRandom,
    clock: Arc<dyn Clock>,
    grace_seconds: u64,
}

impl SessionKeys {
    pub fn new(store: Arc<dyn SecretStore>, secret: SecretName) -> Self {
        Self {
            store,
            secret,
            derived: RwLock::new(None),
            random: SystemRandom::new(),
            clock: Arc::new(SystemClock),
            grace_seconds: DEFAULT_GRACE_SECONDS,
        }
    }

    /// The previous key opens cookies until `grace_seconds` after the switch, by `clock`.
    pub fn with_grace(mut self, clock: Arc<dyn Clock>, grace_seconds: u64) -> Self {
        self.clock = clock;
        self.grace_seconds = grace_seconds;
        self
    }

    async fn keys(&self) -> Result<Arc<DerivedKeys>, SessionError> {
        let value = self.store.get(&self.secret).await?;
        if let Ok(guard) = self.derived.read()
            && let Some((version, keys)) = guard.as_ref()
            && *version == value.version
            && version.is_some()
        {
            return Ok(keys.clone());
        }
        let document = SessionKeyDocument::parse(value.value.expose())?;
        let previous = match &document.previous {
            Some(previous) => Some((
                derive(previous)?,
                document.rotated_at.saturating_add(self.grace_seconds),
            )),
            None => None,
        };
        let keys = Arc::new(DerivedKeys {
            current: derive(&document.current)?,
            previous,
        });
        if let Ok(mut guard) = self.derived.write() {
            *guard = Some((value.version.clone(), keys.clone()));
        }
        Ok(keys)
    }

    /// `base64url(nonce || ciphertext || tag)`.
    pub async fn seal(&self, purpose: Purpose, plaintext: &[u8]) -> Result<String, SessionError> {
        let key = self.keys().await?.current.clone();
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| SessionError::Randomness)?;
        let mut buffer = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(purpose.aad()),
            &mut buffer,
        )
        .map_err(|_| SessionError::Randomness)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&buffer);
        let text = URL_SAFE_NO_PAD.encode(sealed);
        if text.len() > MAX_COOKIE_VALUE_BYTES {
            return Err(SessionError::TooLarge(text.len()));
        }
        Ok(text)
    }

    pub async fn open(&self, purpose: Purpose, sealed: &str) -> Result<Vec<u8>, SessionError> {
        if sealed.len() > MAX_COOKIE_VALUE_BYTES {
            return Err(SessionError::Unreadable);
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| SessionError::Unreadable)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SessionError::Unreadable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SessionError::Unreadable)?;
        let keys = self.keys().await?;
        let mut buffer = ciphertext.to_vec();
        if let Ok(plaintext) = keys.current.open_in_place(nonce, Aad::from(purpose.aad()), &mut buffer) {
            return Ok(plaintext.to_vec());
        }
        // Sealed before the last rotation: the previous key, within its grace only.
        let previous = keys
            .previous
            .as_ref()
            .filter(|(_, until)| self.clock.now_unix() < *until)
            .map(|(key, _)| key)
            .ok_or(SessionError::Unreadable)?;
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| SessionError::Unreadable)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = previous
            .open_in_place(nonce, Aad::from(purpose.aad()), &mut buffer)
            .map_err(|_| SessionError::Unreadable)?;
        Ok(plaintext.to_vec())
    }

    /// Seals a JSON value.
    pub async fn seal_json<T: Serialize>(&self, purpose: Purpose, value: &T) -> Result<String, SessionError> {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| SessionError::Unreadable)?);
        self.seal(purpose, &json).await
    }

    /// Opens a sealed JSON value.
    pub async fn open_json<T: for<'de> Deserialize<'de>>(
        &self,
        purpose: Purpose,
        sealed: &str,
    ) -> Result<T, SessionError> {
        let plaintext = zeroize::Zeroizing::new(self.open(purpose, sealed).await?);
        serde_json::from_slice(&plaintext).map_err(|_| SessionError::Unreadable)
    }
}

/// A visitor session: the masked claims of a verified upstream login.
#[derive(Serialize, Deserialize)]
pub struct SessionPayload {
    /// The upstream provider's name in our configuration.
    pub provider: String,
    pub claims: Map<String, Value>,
    pub iat: u64,
    pub exp: u64,
}

/// The same cookie name sent twice: an injected duplicate must not win by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cookie is sent more than once")]
pub struct DuplicateCookie;

/// A `Cookie` header's value for `name`; `None` when absent.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Result<Option<&'a str>, DuplicateCookie> {
    let mut found = None;
    for pair in cookie_header.split(';') {
        let Some((key, value)) = pair.trim().split_once('=') else {
            continue;
        };
        if key.trim() == name {
            if found.is_some() {
                return Err(DuplicateCookie);
            }
            found = Some(value.trim().trim_matches('"'));
        }
    }
    Ok(found)
}

/// Cookie attributes: HttpOnly and SameSite=Lax always (Lax: a top-level navigation from the
/// identity provider or a chat platform must carry it; cross-site subrequests must not).
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
}

impl CookieSettings {
    pub fn set(&self, name: &str, value: &str, path: &str, max_age_seconds: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path={path}; Max-Age={max_age_seconds}; HttpOnly{secure}; SameSite=Lax")
    }

    pub fn clear(&self, name: &str, path: &str) -> String {
        self.set(name, "", path, 0)
    }
}

/// Verifies the session cookie as an identity source.
pub struct SessionVerifier {
    keys: Arc<SessionKeys>,
    cookie_name: String,
    clock: Arc<dyn Clock>,
}

impl SessionVerifier {
    pub fn new(keys: Arc<SessionKeys>, cookie_name: String, clock: Arc<dyn Clock>) -> Self {
        Self {
            keys,
            cookie_name,
            clock,
        }
    }

    /// `Ok(None)` when the request has no session cookie.
    pub async fn verify(&self, cookie_header: Option<&str>) -> Result<Option<VerifiedClaims>, IdentityError> {
        let Some(header) = cookie_header else { return Ok(None) };
        let sealed = match cookie_value(header, &self.cookie_name) {
            Ok(Some(value)) if !value.is_empty() => value,
            Ok(_) => return Ok(None),
            Err(DuplicateCookie) => return Err(IdentityError::InvalidSession),
        };
        let payload: SessionPayload =
            self.keys
                .open_json(Purpose::Session, sealed)
                .await
                .map_err(|error| match error {
                    SessionError::Secret(secret) if secret.is_transient() => IdentityError::KeysUnavailable,
                    SessionError::Secret(_) | SessionError::WeakKey => {
                        tracing::error!(error = %error, "session key unavailable");
                        IdentityError::KeysUnavailable
                    }
                    _ => IdentityError::InvalidSession,
                })?;
        if payload.exp <= self.clock.now_unix() {
            return Err(IdentityError::SessionExpired);
        }
        let mut claims = payload.claims;
        // The provider's `auth_time` and `max_age` (OIDC Core 2, 3.1.2.1): when the upstream sent
        // none, the login completed when this session was made.
        claims.entry("auth_time").or_insert_with(|| Value::from(payload.iat));
        VerifiedClaims::from_json(Value::Object(claims))
            .map(Some)
            .ok_or(IdentityError::InvalidSession)
    }
}

#[async_trait]
impl SessionSource for SessionVerifier {
    async fn verify(&self, cookie_header: Option<&str>) -> Result<Option<VerifiedClaims>, IdentityError> {
        SessionVerifier::verify(self, cookie_header).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::InMemorySecretStore;
    use crate::clock::FixedClock;
    use serde_json::json;

    fn keys(secret: &str) -> (Arc<SessionKeys>, Arc<InMemorySecretStore>) {
        let store = Arc::new(InMemorySecretStore::with("session", secret));
        (
            Arc::new(SessionKeys::new(
                store.clone(),
                SecretName::try_from("session".to_string()).unwrap(),
            )),
            store,
        )
    }

    #[tokio::test]
    async fn sealed_values_open_only_for_their_purpose_and_key() {
        let (keys, store) = keys(&"k".repeat(64));
        let sealed = keys.seal(Purpose::Session, b"hello").await.unwrap();
        assert_eq!(keys.open(Purpose::Session, &sealed).await.unwrap(), b"hello");
        assert!(matches!(
            keys.open(Purpose::LoginState, &sealed).await,
            Err(SessionError::Unreadable)
        ));
        assert!(matches!(
            keys.open(Purpose::PendingAuthorization, &sealed).await,
            Err(SessionError::Unreadable)
        ));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            keys.open(Purpose::Session, std::str::from_utf8(&tampered).unwrap())
                .await
                .is_err()
        );
        assert!(keys.open(Purpose::Session, "").await.is_err());
        assert!(keys.open(Purpose::Session, "!!!").await.is_err());
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, keys.seal(Purpose::Session, b"hello").await.unwrap());
        // A new key version ends old cookies.
        store.put("session", &"j".repeat(64));
        assert!(keys.open(Purpose::Session, &sealed).await.is_err());
    }

    /// A rotation ends no session: a cookie sealed before it opens after it, for the grace period
    /// and no longer; a key two rotations old opens nothing; new cookies use the new key.
    #[tokio::test]
    async fn the_previous_key_opens_for_one_grace_period_after_a_rotation() {
        const GRACE: u64 = 1800 + 300 + ROTATION_STEPS_SLACK_SECONDS;
        let legacy = "k".repeat(64);
        let store = Arc::new(InMemorySecretStore::with("session", &legacy));
        let clock = Arc::new(FixedClock::at(1_000_000));
        let keys = SessionKeys::new(store.clone(), SecretName::try_from("session".to_string()).unwrap())
            .with_grace(clock.clone(), GRACE);
        let session = keys.seal(Purpose::Session, b"before").await.unwrap();
        let login_state = keys.seal(Purpose::LoginState, b"state before").await.unwrap();

        // The first rotation: the plain value becomes `previous`.
        let first = SessionKeyDocument::parse(&legacy)
            .unwrap()
            .rotated(clock.now_unix())
            .unwrap();
        assert_eq!(first.previous.as_deref(), Some(legacy.as_str()));
        store.put("session", &first.to_json());
        clock.advance(10);
        assert_eq!(
            keys.open(Purpose::Session, &session).await.unwrap(),
            b"before",
            "a session survives the rotation"
        );
        assert_eq!(
            keys.open(Purpose::LoginState, &login_state).await.unwrap(),
            b"state before",
            "so does a login in progress"
        );
        assert!(
            keys.open(Purpose::LoginState, &session).await.is_err(),
            "the previous key keeps purposes apart"
        );
        let after = keys.seal(Purpose::Session, b"after").await.unwrap();
        let only_previous = SessionKeys::new(
            Arc::new(InMemorySecretStore::with("session", &legacy)),
            "session".to_string().try_into().unwrap(),
        );
        assert!(
            only_previous.open(Purpose::Session, &after).await.is_err(),
            "new cookies are sealed with the new key"
        );

        // Until the grace has passed, counted from the switch.
        clock.advance(GRACE - 11);
        assert_eq!(keys.open(Purpose::Session, &session).await.unwrap(), b"before");
        clock.advance(1);
        assert!(
            matches!(
                keys.open(Purpose::Session, &session).await,
                Err(SessionError::Unreadable)
            ),
            "grace over"
        );
        assert_eq!(
            keys.open(Purpose::Session, &after).await.unwrap(),
            b"after",
            "the control: current cookies open"
        );

        // A second rotation soon after another: the key two rotations old is gone at once.
        let before_second = keys.seal(Purpose::Session, b"between").await.unwrap();
        let second = first.rotated(clock.now_unix()).unwrap();
        store.put("session", &second.to_json());
        let third = second.rotated(clock.now_unix()).unwrap();
        let sealed_two_ago = {
            store.put("session", &second.to_json());
            keys.seal(Purpose::Session, b"second").await.unwrap()
        };
        store.put("session", &third.to_json());
        assert!(
            keys.open(Purpose::Session, &before_second).await.is_err(),
            "sealed with a key two rotations old"
        );
        assert_eq!(
            keys.open(Purpose::Session, &sealed_two_ago).await.unwrap(),
            b"second",
            "one rotation old: opens"
        );
    }

    #[test]
    fn key_documents_are_checked() {
        assert!(SessionKeyDocument::parse(&"k".repeat(32)).is_ok());
        let good = SessionKeyDocument::parse(&"k".repeat(64)).unwrap().rotated(5).unwrap();
        assert!(good.current.len() >= MIN_KEY_SECRET_CHARS);
        let parsed = SessionKeyDocument::parse(&good.to_json()).unwrap();
        assert_eq!(
            (parsed.current, parsed.previous, parsed.rotated_at),
            (good.current.clone(), good.previous.clone(), 5)
        );
        assert!(!format!("{good:?}").contains(&good.current), "Debug shows no key");
        for bad in [
            "short",
            "{",
            "{\"current\": \"short\"}",
            &format!("{{\"current\": \"{}\", \"previous\": \"short\"}}", "k".repeat(64)),
            &format!("{{\"current\": \"{}\", \"extra\": 1}}", "k".repeat(64)),
            "{\"previous\": \"x\"}",
        ] {
            assert!(
                matches!(SessionKeyDocument::parse(bad), Err(SessionError::WeakKey)),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn short_secrets_are_refused() {
        let (keys, _) = keys("too-short");
        assert!(matches!(
            keys.seal(Purpose::Session, b"x").await,
            Err(SessionError::WeakKey)
        ));
    }

    #[tokio::test]
    async fn the_verifier_reads_only_its_own_unexpired_cookie() {
        let (keys, _) = keys(&"k".repeat(64));
        let clock = Arc::new(FixedClock::at(1000));
        let verifier = SessionVerifier::new(keys.clone(), "wc".into(), clock.clone());
        let payload = SessionPayload {
            provider: "bankid".into(),
            claims: json!({"sub": "alice", "nin": "123456*****"})
                .as_object()
                .cloned()
                .unwrap(),
            iat: 1000,
            exp: 1060,
        };
        let sealed = keys.seal_json(Purpose::Session, &payload).await.unwrap();
        let header = format!("other=1; wc={sealed}");
        assert_eq!(
            verifier.verify(Some(&header)).await.unwrap().unwrap().subject(),
            "alice"
        );
        assert_eq!(verifier.verify(Some("other=1")).await.unwrap(), None);
        assert_eq!(verifier.verify(None).await.unwrap(), None);
        let twice = format!("wc={sealed}; wc={sealed}");
        assert_eq!(verifier.verify(Some(&twice)).await, Err(IdentityError::InvalidSession));
        let login_state = keys.seal_json(Purpose::LoginState, &payload).await.unwrap();
        assert_eq!(
            verifier.verify(Some(&format!("wc={login_state}"))).await,
            Err(IdentityError::InvalidSession)
        );
        clock.advance(60);
        assert_eq!(verifier.verify(Some(&header)).await, Err(IdentityError::SessionExpired));
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_when_asked() {
        let settings = CookieSettings {
            name: "wc".into(),
            secure: true,
        };
        assert_eq!(
            settings.set("wc", "v", "/", 60),
            "wc=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            settings.clear("wc", "/"),
            "wc=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
        );
    }
}
