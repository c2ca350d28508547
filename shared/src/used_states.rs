//! One use per login state, shared by every container of the visitor-login function.
//!
//! The login-state cookie is cleared when its callback is answered, but a copy of the cookie and
//! the callback URL could be replayed from another client; if the provider then accepted the same
//! authorization code twice (a defect, but one we do not control) that replay would give a second
//! session. So the callback records a hash of the state before it calls the provider, with a
//! conditional write that succeeds once: a second callback with the same state is refused,
//! whatever the provider would have said.
//!
//! Production uses DynamoDB (`adapters::DynamoUsedStates`: `PutItem` with `attribute_not_exists`, so two
//! concurrent callbacks cannot both win; TTL on `expires_at` keeps the table small). Unit tests and
//! the local run use `MemoryUsedStates`, which is per process.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

/// The store could not answer; the login cannot be completed safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the used-state store is unavailable: {0}")]
pub struct UsedStatesUnavailable(pub String);

/// Records that a login state has been used.
#[async_trait]
pub trait UsedStates: Send + Sync {
    /// `Ok(true)` the first time `key` is presented, `Ok(false)` ever after (until `expires_at`,
    /// when the state it stands for has expired anyway).
    async fn first_use(&self, key: &str, expires_at: u64, now: u64) -> Result<bool, UsedStatesUnavailable>;
}

/// Per-process store: unit tests and the local run (a single process).
#[derive(Default)]
pub struct MemoryUsedStates {
    used: Mutex<HashMap<String, u64>>,
}

impl MemoryUsedStates {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UsedStates for MemoryUsedStates {
    async fn first_use(&self, key: &str, expires_at: u64, now: u64) -> Result<bool, UsedStatesUnavailable> {
        let mut used = self.used.lock().map_err(|_| UsedStatesUnavailable("poisoned".into()))?;
        // Forget expired entries so the map stays as small as the set of live login states.
        used.retain(|_, expiry| *expiry > now);
        if used.contains_key(key) {
            return Ok(false);
        }
        used.insert(key.to_string(), expires_at);
        Ok(true)
    }
}

/// Whether a DynamoDB table name is well formed (3-255 of `[A-Za-z0-9_.-]`), checked at cold start.
pub fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_used_once_until_it_expires() {
        let store = MemoryUsedStates::new();
        assert_eq!(store.first_use("a", 100, 10).await, Ok(true));
        assert_eq!(store.first_use("a", 100, 11).await, Ok(false));
        assert_eq!(store.first_use("a", 200, 99).await, Ok(false));
        // The control: another key is its own.
        assert_eq!(store.first_use("b", 100, 12).await, Ok(true));
        // After its expiry the entry is forgotten (the login state itself has expired by then).
        assert_eq!(store.first_use("a", 700, 100).await, Ok(true));
    }

    #[test]
    fn table_names() {
        assert!(valid_table_name("whoscalling-UsedLoginStates-1AB2C3"));
        for bad in ["", "ab", "a b", "t;drop", &"x".repeat(256)] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }
}
