//! Cold-start wiring: domain objects and adapters built from the typed configuration. The
//! domain types take plain settings; only this file knows which configuration field feeds which.

use std::sync::Arc;

use super::{BearerSettings, ConfigError, IdentitySource, ServiceConfig, SessionConfig};
use crate::adapters::jwks::{HttpJwksSource, JwksCache, JwksCacheSettings};
use crate::clock::Clock;
use crate::identity::{BearerPolicy, BearerVerifier, IdentityVerifier, JwksSource};
use crate::secrets::SecretStore;
use crate::session::{ROTATION_STEPS_SLACK_SECONDS, SessionKeys, SessionVerifier};

/// The bearer settings the configuration checked at cold start.
fn bearer_settings(config: &ServiceConfig) -> Result<&BearerSettings, ConfigError> {
    config.bearer().ok_or_else(|| ConfigError::Setting {
        setting: "identity.sources".into(),
        reason: "bearer_token is not accepted".into(),
    })
}

impl IdentityVerifier {
    /// Adds the session cookie as a source when the configuration accepts `session` (a no-op
    /// otherwise). Sessions are sealed with the key in `session.key_secret`.
    pub fn with_sessions_from(
        self,
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        if !config.accepts(IdentitySource::Session) {
            return Ok(self);
        }
        let session = config.session.as_ref().ok_or_else(|| ConfigError::Setting {
            setting: "session".into(),
            reason: "required when identity.sources has `session`".into(),
        })?;
        let keys = Arc::new(SessionKeys::from_config(secrets, config, session, clock.clone()));
        Ok(self.with_sessions(Arc::new(SessionVerifier::new(keys, session.cookie_name.clone(), clock))))
    }

    /// Builds the verifier the configuration asks for; the JWKS comes over HTTP(S).
    pub fn from_config(config: &ServiceConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let source = match config.accepts(IdentitySource::BearerToken) {
            true => {
                let settings = bearer_settings(config)?;
                let source = HttpJwksSource::new(
                    settings.http_timeout,
                    settings.issuer.clone(),
                    settings.jwks_uri.clone(),
                );
                Some(Arc::new(source) as Arc<dyn JwksSource>)
            }
            false => None,
        };
        Self::with_jwks_source(config, source, clock)
    }

    /// As [`IdentityVerifier::from_config`], with the JWKS from `source` (tests, local run).
    pub fn with_jwks_source(
        config: &ServiceConfig,
        source: Option<Arc<dyn JwksSource>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let bearer = match (config.accepts(IdentitySource::BearerToken), source) {
            (true, Some(source)) => {
                let settings = bearer_settings(config)?.clone();
                let cache = JwksCache::new(
                    source,
                    clock.clone(),
                    settings.algorithms.clone(),
                    JwksCacheSettings {
                        max_age_seconds: settings.jwks_max_age_seconds,
                        min_refetch_interval_seconds: settings.jwks_min_refetch_seconds,
                    },
                );
                let policy = BearerPolicy {
                    issuer: settings.issuer,
                    audiences: settings.audiences,
                    algorithms: settings.algorithms,
                    leeway_seconds: settings.leeway_seconds,
                    visitor: config.visitor_policy(),
                };
                Some(BearerVerifier::new(policy, Arc::new(cache), clock))
            }
            _ => None,
        };
        Ok(Self::new(
            config.accepts(IdentitySource::ApiGatewayAuthorizer),
            bearer,
            config.visitor_policy(),
        ))
    }
}

impl SessionKeys {
    /// For a service: the grace is one session lifetime, plus the secret cache's TTL (a container
    /// may seal with the old key that long after the switch) and the rotation's slack.
    pub fn from_config(
        store: Arc<dyn SecretStore>,
        config: &ServiceConfig,
        session: &SessionConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let grace = session.lifetime_seconds + config.secret_cache.ttl_seconds + ROTATION_STEPS_SLACK_SECONDS;
        Self::new(store, session.key_secret.clone()).with_grace(clock, grace)
    }
}
