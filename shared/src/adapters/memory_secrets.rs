//! In-memory secret store for unit tests (behind the `test-util` feature).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::secrets::{SecretError, SecretName, SecretStore, SecretString, SecretValue};

/// A map of name to value, with a switch that makes every read fail as an outage would.
#[derive(Default)]
pub struct InMemorySecretStore {
    values: Mutex<HashMap<String, Arc<SecretValue>>>,
    unavailable: std::sync::atomic::AtomicBool,
    reads: std::sync::atomic::AtomicUsize,
    /// Every put is a new version (as in Secrets Manager), even of the same name.
    puts: std::sync::atomic::AtomicUsize,
}

impl InMemorySecretStore {
    pub fn with(name: &str, value: &str) -> Self {
        let store = Self::default();
        store.put(name, value);
        store
    }

    pub fn put(&self, name: &str, value: &str) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let version = format!("v{}", self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        values.insert(
            name.to_string(),
            Arc::new(SecretValue {
                value: SecretString::new(value.to_string()),
                version: Some(version),
            }),
        );
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretStore for InMemorySecretStore {
    async fn get(&self, name: &SecretName) -> Result<Arc<SecretValue>, SecretError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SecretError::Unavailable {
                name: name.clone(),
                detail: "simulated outage".into(),
            });
        }
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| SecretError::NotFound { name: name.clone() })
    }
}
