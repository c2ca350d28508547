//! An upstream provider's discovery document, fetched once per container over the shared HTTP
//! client. After a failed discovery the provider is not asked again for
//! [`DISCOVERY_RETRY_SECONDS`]: every login meanwhile gets the same failure at once, so an outage
//! answers every visitor at once instead of queueing each behind another timeout (the once-cell
//! runs one initializer at a time).

use std::sync::Arc;

use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;

use super::http_client::{FetchError, HttpClient, oidc_fetcher};
use crate::clock::Clock;

/// After a failed discovery, the same failure is answered without asking for this long.
pub const DISCOVERY_RETRY_SECONDS: u64 = 10;

/// Why discovery failed, as much as a caller needs to choose its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryFailure {
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider is unreachable or its discovery unusable")]
    Unavailable,
}

impl From<&FetchError> for DiscoveryFailure {
    fn from(error: &FetchError) -> Self {
        match error {
            FetchError::Timeout => DiscoveryFailure::Timeout,
            FetchError::TooLarge | FetchError::Transport(_) => DiscoveryFailure::Unavailable,
        }
    }
}

pub struct DiscoveryCache {
    /// For the log only (a provider's configured name).
    name: String,
    issuer: IssuerUrl,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    metadata: tokio::sync::OnceCell<CoreProviderMetadata>,
    /// When discovery last failed, and how.
    failure: std::sync::Mutex<Option<(u64, DiscoveryFailure)>>,
}

impl DiscoveryCache {
    pub fn new(name: String, issuer: IssuerUrl, http: HttpClient, clock: Arc<dyn Clock>) -> Self {
        Self {
            name,
            issuer,
            http,
            clock,
            metadata: tokio::sync::OnceCell::new(),
            failure: std::sync::Mutex::new(None),
        }
    }

    pub fn issuer(&self) -> &IssuerUrl {
        &self.issuer
    }

    /// The provider's metadata (with the JWKS it published at discovery).
    pub async fn metadata(&self) -> Result<&CoreProviderMetadata, DiscoveryFailure> {
        self.metadata
            .get_or_try_init(|| async {
                let last_failure = || self.failure.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((failed_at, failure)) = *last_failure()
                    && self.clock.now_unix() < failed_at + DISCOVERY_RETRY_SECONDS
                {
                    return Err(failure);
                }
                let fetch = oidc_fetcher(self.http.clone());
                let discovered = CoreProviderMetadata::discover_async(self.issuer.clone(), &fetch).await;
                discovered.map_err(|error| {
                    tracing::warn!(provider = %self.name, error = %error, retry_in_seconds = DISCOVERY_RETRY_SECONDS, "discovery failed");
                    let failure = match &error {
                        openidconnect::DiscoveryError::Request(fetch_error) => DiscoveryFailure::from(fetch_error),
                        _ => DiscoveryFailure::Unavailable,
                    };
                    *last_failure() = Some((self.clock.now_unix(), failure));
                    failure
                })
            })
            .await
    }
}
