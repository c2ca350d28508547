//! AWS Secrets Manager behind a small cache of our own, over `aws-sdk-secretsmanager`.
//!
//! A value is served from memory for `ttl`; after that the next read asks Secrets Manager again,
//! with a `DescribeSecret` first so an unchanged secret costs no `GetSecretValue`. That is how an
//! operator's new key version is picked up without a redeploy. During an outage the last good
//! value is still served, bounded by `max_stale` so a long one fails closed (503), and a failed
//! refresh backs off for `retry_after_failure` so an outage does not turn every request into a
//! slow SDK call. Ages are measured on the injected [`Clock`], so tests move time instead of
//! sleeping through it.
//!
//! Why not the official `aws_secretsmanager_caching` crate (which did the same): it depends on
//! `aws-config` with its default features, which compiled a second, legacy HTTP/TLS stack (hyper
//! 0.14, rustls 0.21, ring) and the SSO clients into every function, and we had to wrap it in
//! this stale-serving and back-off logic anyway.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::Intercept;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::clock::{Clock, SystemClock};
use crate::secrets::{SecretCacheSettings, SecretError, SecretName, SecretStore, SecretString, SecretValue};

/// One cached secret. Times are [`Clock::now`] readings.
struct Entry {
    value: Arc<SecretValue>,
    /// When Secrets Manager last confirmed this is the current version.
    confirmed_at: Duration,
    /// When the last refresh failed, if it did after `confirmed_at`.
    failed_at: Option<Duration>,
}

pub struct SecretsManagerStore {
    client: Client,
    settings: SecretCacheSettings,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, Entry>>,
    /// One refresh at a time per secret: requests arriving meanwhile wait for its outcome
    /// instead of each calling Secrets Manager.
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    calls: CallCounter,
}

/// Counts Secrets Manager API calls by operation (an SDK interceptor), so the cache's effect is
/// measurable: at most one read per secret per TTL.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, usize>>>);

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "whoscalling-call-counter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_secretsmanager::operation::{
            describe_secret::DescribeSecretInput, get_secret_value::GetSecretValueInput,
        };
        let input = context.input();
        let operation = match config.load::<Metadata>() {
            Some(metadata) => metadata.name().to_string(),
            None if input.downcast_ref::<GetSecretValueInput>().is_some() => "GetSecretValue".into(),
            None if input.downcast_ref::<DescribeSecretInput>().is_some() => "DescribeSecret".into(),
            None => "other".into(),
        };
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(operation)
            .or_default() += 1;
        // Every call is one the cache could not answer alone: the request's SecretCacheMisses.
        crate::metrics::secret_cache_miss();
        Ok(())
    }
}

const AWSCURRENT: &str = "AWSCURRENT";

impl SecretsManagerStore {
    /// Takes an SDK config builder (endpoint, timeouts and credentials already set by `main`).
    /// Ages are measured on the system clock; see [`SecretsManagerStore::with_clock`].
    pub async fn new(
        sdk: aws_sdk_secretsmanager::config::Builder,
        settings: SecretCacheSettings,
    ) -> Result<Self, SecretError> {
        let calls = CallCounter::default();
        let client = Client::from_conf(sdk.interceptor(calls.clone()).build());
        Ok(Self {
            client,
            settings,
            clock: Arc::new(SystemClock),
            entries: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashMap::new()),
            calls,
        })
    }

    /// Measures cache ages on `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Secrets Manager calls made so far, by operation (`GetSecretValue`, `DescribeSecret`).
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.calls.snapshot()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn within_max_stale(&self, entry: &Entry, now: Duration) -> bool {
        now.saturating_sub(entry.confirmed_at) <= self.settings.ttl + self.settings.max_stale
    }

    /// The cached value if it may be served without asking Secrets Manager: inside the TTL, or
    /// while backing off after a failed refresh (and not older than `ttl + max_stale`).
    fn servable(&self, name: &SecretName) -> Option<Arc<SecretValue>> {
        let now = self.clock.now();
        let map = self.entries();
        let entry = map.get(name.as_str())?;
        let fresh = now.saturating_sub(entry.confirmed_at) < self.settings.ttl;
        let backing_off = entry.failed_at.is_some_and(|failed| {
            now.saturating_sub(failed) < self.settings.retry_after_failure && self.within_max_stale(entry, now)
        });
        (fresh || backing_off).then(|| entry.value.clone())
    }

    fn gate(&self, name: &SecretName) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(name.as_str().to_string()).or_default().clone()
    }

    /// Asks Secrets Manager for the current version: `None` if it is still `known` (the cached
    /// one), else the new value and its version id.
    async fn fetch(
        &self,
        name: &SecretName,
        known: Option<String>,
    ) -> Result<Option<(String, Option<String>)>, Failure> {
        if let Some(known) = known {
            let described = self
                .client
                .describe_secret()
                .secret_id(name.as_str())
                .send()
                .await
                .map_err(classify)?;
            let current = described
                .version_ids_to_stages()
                .and_then(|versions| {
                    versions
                        .iter()
                        .find(|(_, stages)| stages.iter().any(|s| s == AWSCURRENT))
                })
                .map(|(id, _)| id.as_str());
            if current == Some(known.as_str()) {
                return Ok(None);
            }
        }
        // AWSCURRENT explicitly: whatever a rotation has pending is never read here, so nothing
        // can sign with an AWSPENDING key (and moto, without a stage, does not follow a stage
        // moved by UpdateSecretVersionStage).
        let output = self
            .client
            .get_secret_value()
            .secret_id(name.as_str())
            .version_stage(AWSCURRENT)
            .send()
            .await
            .map_err(classify)?;
        let secret = output.secret_string.ok_or(Failure::NotAString)?;
        Ok(Some((secret, output.version_id)))
    }

    fn remember(&self, name: &SecretName, fetched: Option<(String, Option<String>)>) -> Option<Arc<SecretValue>> {
        let now = self.clock.now();
        let mut map = self.entries();
        let value = match (fetched, map.get(name.as_str())) {
            // Unchanged: keep the same Arc so anything derived from it stays valid.
            (None, Some(entry)) => entry.value.clone(),
            (None, None) => return None,
            (Some((_, version)), Some(entry)) if version.is_some() && entry.value.version == version => {
                entry.value.clone()
            }
            (Some((secret, version)), _) => Arc::new(SecretValue {
                value: SecretString::new(secret),
                version,
            }),
        };
        map.insert(
            name.as_str().to_string(),
            Entry {
                value: value.clone(),
                confirmed_at: now,
                failed_at: None,
            },
        );
        Some(value)
    }

    fn fall_back(&self, name: &SecretName, failure: Failure) -> Result<Arc<SecretValue>, SecretError> {
        let detail = match failure {
            Failure::NotFound => return Err(SecretError::NotFound { name: name.clone() }),
            Failure::AccessDenied => return Err(SecretError::AccessDenied { name: name.clone() }),
            Failure::NotAString => return Err(SecretError::NotAString { name: name.clone() }),
            Failure::Transient(detail) => detail,
        };
        let now = self.clock.now();
        let mut map = self.entries();
        if let Some(entry) = map.get_mut(name.as_str())
            && self.within_max_stale(entry, now)
        {
            entry.failed_at = Some(now);
            tracing::warn!(secret = %name, version = ?entry.value.version, detail = %detail,
                "secret store unavailable: serving the cached value");
            return Ok(entry.value.clone());
        }
        Err(SecretError::Unavailable {
            name: name.clone(),
            detail,
        })
    }
}

enum Failure {
    NotFound,
    AccessDenied,
    NotAString,
    Transient(String),
}

/// Sorts an SDK error into what callers can act on. Anything but a missing secret or a denied
/// access may pass (throttling, a network or service failure, a secret being restored), so it
/// is served from the cache within `max_stale`.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(error: SdkError<E, HttpResponse>) -> Failure {
    let kind = match &error {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("ResourceNotFoundException") => return Failure::NotFound,
            Some("AccessDeniedException") => return Failure::AccessDenied,
            Some("InternalServiceError" | "ThrottlingException") => "transient",
            _ => "unexpected",
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => "transient",
        _ => "unexpected",
    };
    Failure::Transient(format!(
        "{kind} error from Secrets Manager: {}",
        error.code().unwrap_or("no error code")
    ))
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &SecretName) -> Result<Arc<SecretValue>, SecretError> {
        if let Some(value) = self.servable(name) {
            return Ok(value);
        }
        let gate = self.gate(name);
        let _refreshing = gate.lock().await;
        // Another request may have refreshed (or failed and started backing off) meanwhile.
        if let Some(value) = self.servable(name) {
            return Ok(value);
        }
        let known = self
            .entries()
            .get(name.as_str())
            .and_then(|entry| entry.value.version.clone());
        match self.fetch(name, known).await {
            Ok(fetched) => match self.remember(name, fetched) {
                Some(value) => Ok(value),
                // Only if the entry vanished under us, which nothing does; read it afresh.
                None => Err(SecretError::Unavailable {
                    name: name.clone(),
                    detail: "cache entry lost".into(),
                }),
            },
            Err(failure) => self.fall_back(name, failure),
        }
    }
}
