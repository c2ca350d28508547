//! Secrets: a small port (`SecretStore`), the secret value types and the cache settings. The
//! Secrets Manager, file and in-memory stores are adapters (`crate::adapters`).
//!
//! Secret values never print: [`SecretString`] redacts itself in `Debug` and zeroizes on drop.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How long values are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretCacheSettings {
    /// After this, the next read asks Secrets Manager again (a rotation shows up within it).
    pub ttl: Duration,
    /// During an outage, a value confirmed less than `ttl + max_stale` ago is still served.
    pub max_stale: Duration,
    /// After a failed refresh, serve the cached value without asking again for this long.
    pub retry_after_failure: Duration,
}

impl Default for SecretCacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(3600),
            retry_after_failure: Duration::from_secs(10),
        }
    }
}

pub use crate::values::SecretName;

/// How every value `template.yaml` creates a vendor-issued secret with begins, until the operator
/// stores the real one (`REPLACE_WITH_INTERCOM_MESSENGER_SECRET`, ...). Signing with it would
/// produce tokens the platform rejects, so it is refused. No vendor issues a key with this prefix.
pub const PLACEHOLDER_PREFIX: &str = "REPLACE_WITH_";

/// The Connect widget key secret's placeholder (the first one the template shipped).
pub const PLACEHOLDER_VALUE: &str = "REPLACE_WITH_CONNECT_SECURITY_KEY";

/// Whether a stored value is still a deployment placeholder (see [`PLACEHOLDER_PREFIX`]).
pub fn is_placeholder(value: &str) -> bool {
    value.starts_with(PLACEHOLDER_PREFIX)
}

/// Secret material. Prints as `[redacted]`, has no `PartialEq` (use [`SecretString::ct_eq`]) and
/// is zeroized on drop.
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }
    /// The secret itself: call only where it is used as key material.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Compares in constant time (for client secrets and the like).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(other).into()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret value with the version it came from (logged as an id, never the value).
#[derive(Debug)]
pub struct SecretValue {
    pub value: SecretString,
    pub version: Option<String>,
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` does not exist")]
    NotFound { name: SecretName },
    #[error("secret `{name}` has no string value")]
    NotAString { name: SecretName },
    #[error("access to secret `{name}` was denied")]
    AccessDenied { name: SecretName },
    /// `detail` is the store client's own message (an error kind, never a secret value).
    #[error("the secret store is unavailable for `{name}` and no fresh enough cached value exists: {detail}")]
    Unavailable { name: SecretName, detail: String },
    #[error("secret `{name}` still holds the deployment placeholder: store the real value")]
    Placeholder { name: SecretName },
    /// A structured secret (Zendesk's `{"kid", "secret"}`) whose value is not in its shape;
    /// `reason` says what is wrong, never the value.
    #[error("secret `{name}` {reason}")]
    Malformed { name: SecretName, reason: String },
    #[error("the local secrets file is unusable: {reason}")]
    LocalFile { reason: String },
}

impl SecretError {
    /// Whether retrying later may succeed (maps to 503 with `Retry-After`).
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// Reads secrets by name. Implementations cache; callers ask on every use and never keep the
/// value longer than the request, so a rotated secret is picked up without a redeploy.
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &SecretName) -> Result<Arc<SecretValue>, SecretError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_debug_is_redacted() {
        let secret = SecretString::new("hunter2-key".into());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let value = SecretValue {
            value: secret,
            version: Some("v1".into()),
        };
        assert!(!format!("{value:?}").contains("hunter2"));
    }

    #[test]
    fn secret_string_compares_in_constant_time() {
        let secret = SecretString::new("abc".into());
        assert!(secret.ct_eq(b"abc"));
        assert!(!secret.ct_eq(b"abd"));
        assert!(!secret.ct_eq(b"ab"));
    }

    #[test]
    fn secret_name_rejects_odd_characters() {
        assert!(SecretName::try_from("whoscalling/connect-widget-key".to_string()).is_ok());
        assert!(
            SecretName::try_from("arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf".to_string()).is_ok()
        );
        assert!(SecretName::try_from(String::new()).is_err());
        assert!(SecretName::try_from("a b".to_string()).is_err());
    }
}
