//! Grants: what one authorization bound, stored server side so a code is redeemed at most once.
//!
//! One record per authorization, keyed by a random grant id. Codes and access tokens are
//! `<grant id>.<secret>`; only SHA-256 hashes of the secrets are stored, so a copy of the table
//! redeems nothing. The lifecycle is `issued -> redeemed -> revoked`: redemption is a single
//! conditional write (issued, hash matches, not expired), and a second presentation of a redeemed
//! code revokes the grant, which withdraws the access token issued for it (RFC 6749 4.1.2).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// Random bytes in a grant id (and the secret half of codes and access tokens).
const GRANT_ID_BYTES: usize = 16;
const SECRET_BYTES: usize = 32;

/// What the authorization request bound the code to, plus the claims the client will receive
/// (already mapped and masked: unmasked personal data is never stored).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    #[serde(default)]
    pub nonce: Option<String>,
    /// The S256 `code_challenge`, when PKCE was used.
    #[serde(default)]
    pub code_challenge: Option<String>,
    pub auth_time: u64,
    /// `sub` and the profile's claims.
    pub claims: Map<String, Value>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("pkce", &self.code_challenge.is_some())
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Issued,
    Redeemed,
    Revoked,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Issued => "issued",
            GrantStatus::Redeemed => "redeemed",
            GrantStatus::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "issued" => Some(GrantStatus::Issued),
            "redeemed" => Some(GrantStatus::Redeemed),
            "revoked" => Some(GrantStatus::Revoked),
            _ => None,
        }
    }
}

/// A grant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGrant {
    pub grant: Grant,
    pub status: GrantStatus,
    pub code_hash: String,
    pub code_expires_at: u64,
    pub access_hash: Option<String>,
    pub access_expires_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantStoreError {
    /// The store did not answer (network, throttling, outage): the caller gets a 503.
    #[error("the grant store is unavailable: {0}")]
    Unavailable(String),
    /// A record we cannot read back (a bug or tampering): refused, never trusted.
    #[error("a stored grant is unreadable: {0}")]
    Corrupt(&'static str),
    /// A fresh random grant id already exists (practically impossible; never overwritten).
    #[error("the grant id already exists")]
    Collision,
}

/// The port the provider uses: DynamoDB in Lambda, memory in the local run and unit tests.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant in state `issued`; never overwrites.
    async fn create(
        &self,
        grant_id: &str,
        grant: &Grant,
        code_hash: &str,
        code_expires_at: u64,
    ) -> Result<(), GrantStoreError>;
    /// A strongly consistent read.
    async fn load(&self, grant_id: &str) -> Result<Option<StoredGrant>, GrantStoreError>;
    /// `issued -> redeemed` if, atomically, the grant is issued, `code_hash` matches and the code
    /// has not expired at `now`. `Ok(false)` when the condition did not hold.
    async fn redeem(
        &self,
        grant_id: &str,
        code_hash: &str,
        now: u64,
        access_hash: &str,
        access_expires_at: u64,
    ) -> Result<bool, GrantStoreError>;
    /// `redeemed -> revoked`: the access token issued for the grant is no longer honoured.
    async fn revoke(&self, grant_id: &str) -> Result<(), GrantStoreError>;
}

/// A credential we issue: `<grant id>.<secret>`, both base64url.
pub struct IssuedSecret {
    pub grant_id: String,
    pub value: String,
    pub hash: String,
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("grant_id", &self.grant_id)
            .finish_non_exhaustive()
    }
}

fn random_b64(bytes: usize) -> Result<String, GrantStoreError> {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .map_err(|_| GrantStoreError::Unavailable("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// A fresh grant id.
pub fn new_grant_id() -> Result<String, GrantStoreError> {
    random_b64(GRANT_ID_BYTES)
}

/// A fresh code or access token for `grant_id`.
pub fn new_secret(grant_id: &str) -> Result<IssuedSecret, GrantStoreError> {
    let secret = random_b64(SECRET_BYTES)?;
    Ok(IssuedSecret {
        grant_id: grant_id.to_string(),
        hash: hash_secret(&secret),
        value: format!("{grant_id}.{secret}"),
    })
}

/// SHA-256 of the secret half, base64url.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, secret.as_bytes()))
}

/// Splits a presented code or access token into (grant id, hash of its secret). `None` for
/// anything that is not exactly the shape we issue.
pub fn parse_presented(value: &str) -> Option<(&str, String)> {
    let (grant_id, secret) = value.split_once('.')?;
    let b64url =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    // 16 bytes -> 22 characters, 32 bytes -> 43 characters.
    (b64url(grant_id, 22) && b64url(secret, 43)).then(|| (grant_id, hash_secret(secret)))
}

/// Constant-time comparison of two stored/presented hashes.
pub fn hashes_match(stored: &str, presented: &str) -> bool {
    stored.len() == presented.len() && bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
}

/// Grants in memory, with the same conditional semantics as the DynamoDB store. The local run
/// uses it (codes live 60 s, so nothing is lost by a restart); unit tests use it too.
#[derive(Default)]
pub struct MemoryGrantStore {
    grants: Mutex<HashMap<String, StoredGrant>>,
}

impl MemoryGrantStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn locked(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, StoredGrant>>, GrantStoreError> {
        self.grants
            .lock()
            .map_err(|_| GrantStoreError::Unavailable("grant store lock poisoned".into()))
    }
}

#[async_trait]
impl GrantStore for MemoryGrantStore {
    async fn create(
        &self,
        grant_id: &str,
        grant: &Grant,
        code_hash: &str,
        code_expires_at: u64,
    ) -> Result<(), GrantStoreError> {
        let mut grants = self.locked()?;
        if grants.contains_key(grant_id) {
            return Err(GrantStoreError::Collision);
        }
        grants.insert(
            grant_id.to_string(),
            StoredGrant {
                grant: grant.clone(),
                status: GrantStatus::Issued,
                code_hash: code_hash.to_string(),
                code_expires_at,
                access_hash: None,
                access_expires_at: None,
            },
        );
        Ok(())
    }

    async fn load(&self, grant_id: &str) -> Result<Option<StoredGrant>, GrantStoreError> {
        Ok(self.locked()?.get(grant_id).cloned())
    }

    async fn redeem(
        &self,
        grant_id: &str,
        code_hash: &str,
        now: u64,
        access_hash: &str,
        access_expires_at: u64,
    ) -> Result<bool, GrantStoreError> {
        let mut grants = self.locked()?;
        let Some(stored) = grants.get_mut(grant_id) else {
            return Ok(false);
        };
        if stored.status != GrantStatus::Issued
            || !hashes_match(&stored.code_hash, code_hash)
            || stored.code_expires_at <= now
        {
            return Ok(false);
        }
        stored.status = GrantStatus::Redeemed;
        stored.access_hash = Some(access_hash.to_string());
        stored.access_expires_at = Some(access_expires_at);
        Ok(true)
    }

    async fn revoke(&self, grant_id: &str) -> Result<(), GrantStoreError> {
        if let Some(stored) = self.locked()?.get_mut(grant_id)
            && stored.status == GrantStatus::Redeemed
        {
            stored.status = GrantStatus::Revoked;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            client_id: "puzzel".into(),
            redirect_uri: "https://chat.example.com/cb".into(),
            scope: "openid".into(),
            nonce: Some("n".into()),
            code_challenge: None,
            auth_time: 100,
            claims: serde_json::json!({"sub": "alice"}).as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn issued_secrets_parse_back_and_nothing_else_does() {
        let id = new_grant_id().unwrap();
        let code = new_secret(&id).unwrap();
        let (parsed_id, hash) = parse_presented(&code.value).unwrap();
        assert_eq!(parsed_id, id);
        assert!(hashes_match(&code.hash, &hash));
        for hostile in [
            "",
            ".",
            "a.b",
            &format!("{id}."),
            &format!("{id}.{}", "A".repeat(44)),
            &format!("{id}/.{}", "A".repeat(43)),
        ] {
            assert!(parse_presented(hostile).is_none(), "{hostile}");
        }
        assert!(!format!("{:?}", code).contains(&code.value));
    }

    #[tokio::test]
    async fn redemption_is_single_use_and_bounded_in_time() {
        let store = MemoryGrantStore::new();
        let id = new_grant_id().unwrap();
        let code = new_secret(&id).unwrap();
        store.create(&id, &grant(), &code.hash, 160).await.unwrap();
        assert_eq!(
            store.create(&id, &grant(), &code.hash, 160).await,
            Err(GrantStoreError::Collision)
        );
        assert!(!store.redeem(&id, &hash_secret("wrong"), 100, "h", 400).await.unwrap());
        assert!(
            !store.redeem(&id, &code.hash, 160, "h", 400).await.unwrap(),
            "expired at its expiry second"
        );
        assert!(store.redeem(&id, &code.hash, 159, "h", 400).await.unwrap());
        assert!(
            !store.redeem(&id, &code.hash, 159, "h2", 400).await.unwrap(),
            "second redemption"
        );
        let stored = store.load(&id).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.access_hash.as_deref()),
            (GrantStatus::Redeemed, Some("h"))
        );
        store.revoke(&id).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().status, GrantStatus::Revoked);
    }

    #[test]
    fn grant_debug_shows_no_values() {
        let text = format!("{:?}", grant());
        assert!(!text.contains("alice") && !text.contains("\"n\""), "{text}");
    }
}
