//! AWS Secrets Manager through the official caching client (`aws_secretsmanager_caching`).
//!
//! The caching client refreshes after its TTL (a `DescribeSecret` first, so an unchanged secret
//! costs no `GetSecretValue`), which is how an operator's new key version is picked up without a
//! redeploy. On top of it this adapter keeps the last good value per secret so a brief Secrets
//! Manager outage does not stop minting, bounded by `max_stale` so a long one fails closed (503),
//! and backs off after a failure so an outage does not turn every request into a slow SDK call.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::config::Intercept;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_secretsmanager_caching::SecretsManagerCachingClient;
use aws_secretsmanager_caching::error::is_transient_error;

use super::{SecretError, SecretName, SecretStore, SecretString, SecretValue};

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
        Self { ttl: Duration::from_secs(300), max_stale: Duration::from_secs(3600), retry_after_failure: Duration::from_secs(10) }
    }
}

struct LastGood {
    value: Arc<SecretValue>,
    confirmed_at: Instant,
    failed_at: Option<Instant>,
}

pub struct SecretsManagerStore {
    cache: SecretsManagerCachingClient,
    settings: SecretCacheSettings,
    last_good: Mutex<HashMap<String, LastGood>>,
    calls: CallCounter,
}

/// Counts Secrets Manager API calls by operation (an SDK interceptor), so the cache's effect is
/// measurable: at most one read per secret per TTL.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<std::collections::BTreeMap<String, usize>>>);

impl CallCounter {
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, usize> {
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
        use aws_sdk_secretsmanager::operation::{describe_secret::DescribeSecretInput, get_secret_value::GetSecretValueInput};
        let input = context.input();
        let operation = match config.load::<Metadata>() {
            Some(metadata) => metadata.name().to_string(),
            None if input.downcast_ref::<GetSecretValueInput>().is_some() => "GetSecretValue".into(),
            None if input.downcast_ref::<DescribeSecretInput>().is_some() => "DescribeSecret".into(),
            None => "other".into(),
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(operation).or_default() += 1;
        // Every call is one the cache could not answer alone: the request's SecretCacheMisses.
        crate::metrics::secret_cache_miss();
        Ok(())
    }
}

const AWSCURRENT: &str = "AWSCURRENT";

/// How many distinct secrets one container may cache; a deployment uses a handful.
const MAX_CACHED_SECRETS: usize = 64;

impl SecretsManagerStore {
    /// Takes an SDK config builder (endpoint, timeouts and credentials already set by `main`).
    pub async fn new(
        sdk: aws_sdk_secretsmanager::config::Builder,
        settings: SecretCacheSettings,
    ) -> Result<Self, SecretError> {
        let size = NonZeroUsize::new(MAX_CACHED_SECRETS).unwrap_or(NonZeroUsize::MIN);
        // Transient errors are handled here (bounded staleness), not inside the caching client,
        // which would otherwise serve a stale value forever.
        let calls = CallCounter::default();
        let cache = SecretsManagerCachingClient::from_builder(sdk.interceptor(calls.clone()), size, settings.ttl, false)
            .await
            .map_err(|e| SecretError::Unavailable {
                name: SecretName("(cache)".into()),
                detail: e.to_string(),
            })?;
        Ok(Self { cache, settings, last_good: Mutex::new(HashMap::new()), calls })
    }

    /// Secrets Manager calls made so far, by operation (`GetSecretValue`, `DescribeSecret`).
    pub fn calls(&self) -> std::collections::BTreeMap<String, usize> {
        self.calls.snapshot()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LastGood>> {
        self.last_good.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached value while backing off after a failure, if any.
    fn during_backoff(&self, name: &SecretName) -> Option<Arc<SecretValue>> {
        let map = self.lock();
        let entry = map.get(name.as_str())?;
        let failed_at = entry.failed_at?;
        let fresh_enough = entry.confirmed_at.elapsed() <= self.settings.ttl + self.settings.max_stale;
        (failed_at.elapsed() < self.settings.retry_after_failure && fresh_enough).then(|| entry.value.clone())
    }

    fn remember(&self, name: &SecretName, secret: String, version: Option<String>) -> Arc<SecretValue> {
        let mut map = self.lock();
        let value = match map.get(name.as_str()) {
            // Same version: keep the same Arc so anything derived from it stays valid.
            Some(entry) if version.is_some() && entry.value.version == version => entry.value.clone(),
            _ => Arc::new(SecretValue { value: SecretString::new(secret), version }),
        };
        map.insert(
            name.as_str().to_string(),
            LastGood { value: value.clone(), confirmed_at: Instant::now(), failed_at: None },
        );
        value
    }

    fn fall_back(&self, name: &SecretName, failure: Failure) -> Result<Arc<SecretValue>, SecretError> {
        let detail = match failure {
            Failure::NotFound => return Err(SecretError::NotFound { name: name.clone() }),
            Failure::AccessDenied => return Err(SecretError::AccessDenied { name: name.clone() }),
            Failure::Transient(detail) => detail,
        };
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(name.as_str())
            && entry.confirmed_at.elapsed() <= self.settings.ttl + self.settings.max_stale
        {
            entry.failed_at = Some(Instant::now());
            tracing::warn!(secret = %name, version = ?entry.value.version, detail = %detail,
                "secret store unavailable: serving the cached value");
            return Ok(entry.value.clone());
        }
        Err(SecretError::Unavailable { name: name.clone(), detail })
    }
}

enum Failure {
    NotFound,
    AccessDenied,
    Transient(String),
}

/// Sorts the caching client's boxed error into what callers can act on.
fn classify(error: &(dyn std::error::Error + 'static)) -> Failure {
    fn from_sdk<E: ProvideErrorMetadata + std::error::Error + 'static>(e: &SdkError<E, HttpResponse>) -> Failure {
        if let SdkError::ServiceError(service) = e {
            match service.err().code() {
                Some("ResourceNotFoundException") => return Failure::NotFound,
                Some("AccessDeniedException") => return Failure::AccessDenied,
                _ => {}
            }
        }
        let kind = if is_transient_error(e) { "transient" } else { "unexpected" };
        Failure::Transient(format!("{kind} error from Secrets Manager: {}", e.code().unwrap_or("no error code")))
    }
    if let Some(e) = error.downcast_ref::<SdkError<GetSecretValueError, HttpResponse>>() {
        return from_sdk(e);
    }
    if let Some(e) = error.downcast_ref::<SdkError<DescribeSecretError, HttpResponse>>() {
        return from_sdk(e);
    }
    Failure::Transient("secret cache error".to_string())
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &SecretName) -> Result<Arc<SecretValue>, SecretError> {
        if let Some(value) = self.during_backoff(name) {
            return Ok(value);
        }
        // AWSCURRENT explicitly (the default anyway): whatever a rotation has pending is never
        // read here, so nothing can sign with an AWSPENDING key.
        let outcome = self.cache.get_secret_value(name.as_str(), None, Some(AWSCURRENT), false).await;
        match outcome {
            Ok(output) => {
                let secret = output.secret_string.ok_or_else(|| SecretError::NotAString { name: name.clone() })?;
                Ok(self.remember(name, secret, output.version_id))
            }
            Err(error) => {
                let failure = classify(error.as_ref());
                self.fall_back(name, failure)
            }
        }
    }
}
