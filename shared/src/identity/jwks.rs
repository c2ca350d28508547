//! The identity provider's keys, as the bearer verifier needs them: a source of JWKS documents
//! and a key lookup by `kid` and algorithm. The cache and the HTTP source are adapters
//! (`crate::adapters::jwks`); tests and the local run give their own source.

use async_trait::async_trait;
use jsonwebtoken::DecodingKey;

use super::IdentityError;
use crate::values::JwsAlgorithm;

/// Where the keys come from.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The raw JWKS document (`{"keys": [...]}`).
    async fn fetch(&self) -> Result<serde_json::Value, JwksError>;
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("request to the identity provider failed: {0}")]
    Http(String),
    #[error("the identity provider answered HTTP {0}")]
    Status(u16),
    #[error("the identity provider's answer exceeds {0} bytes")]
    TooLarge(usize),
    #[error("the identity provider's document is invalid: {0}")]
    InvalidDocument(&'static str),
    #[error("discovery names a different issuer than configured")]
    IssuerMismatch,
}

/// A key we may verify with, and the one algorithm it is for.
#[derive(Clone)]
pub struct VerificationKey {
    pub key: DecodingKey,
    pub algorithm: JwsAlgorithm,
}

/// Looks up the key a token's header names. `kid` is only ever a key into the set the source
/// published: `jku`, `x5u`, `jwk` and `x5c` headers are never followed.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn key_for(&self, kid: Option<&str>, algorithm: JwsAlgorithm) -> Result<VerificationKey, IdentityError>;
}
