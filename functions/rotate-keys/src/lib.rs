//! Secrets Manager rotation for the key set we own: `createSecret`, `setSecret`, `testSecret`,
//! `finishSecret` (see `whoscalling::rotation`). Errors reach Secrets Manager, the logs and the
//! Lambda `Errors` metric with their stable names (`PendingInvalid`, `ContinuityBroken`, ...).

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent};
use whoscalling::rotation::{KeyRotator, RotationError, RotationEvent, RotationTarget};
use whoscalling::signing::SigningAlgorithm;
use whoscalling::Clock;

/// Settings, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub algorithms: Vec<SigningAlgorithm>,
    pub retention_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {reason}")]
    Invalid { variable: &'static str, reason: String },
}

pub const ALGORITHMS_VARIABLE: &str = "WHOSCALLING_SIGNING_ALGORITHMS";
pub const RETENTION_VARIABLE: &str = "WHOSCALLING_KEY_RETENTION_SECONDS";

/// Longest token lifetime (Live Assist, 7200 s) + JWKS cache (up to 86400 s is allowed, 900 by
/// default) + secret cache TTL: below an hour a retired key could vanish under a live token.
const MIN_RETENTION_SECONDS: u64 = 3600;

impl Config {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let algorithms = lookup(ALGORITHMS_VARIABLE).unwrap_or_else(|| "RS256,ES256".into());
        let algorithms = algorithms
            .split(',')
            .map(|name| match name.trim() {
                "RS256" => Ok(SigningAlgorithm::RS256),
                "ES256" => Ok(SigningAlgorithm::ES256),
                other => Err(ConfigError::Invalid { variable: ALGORITHMS_VARIABLE, reason: format!("`{other}` is not RS256 or ES256") }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !algorithms.contains(&SigningAlgorithm::RS256) {
            return Err(ConfigError::Invalid { variable: ALGORITHMS_VARIABLE, reason: "RS256 is required (LivePerson, Live Assist)".into() });
        }
        let retention_seconds = match lookup(RETENTION_VARIABLE) {
            None => 14_400,
            Some(text) => text.trim().parse().map_err(|_| ConfigError::Invalid { variable: RETENTION_VARIABLE, reason: "not a number".into() })?,
        };
        if retention_seconds < MIN_RETENTION_SECONDS {
            return Err(ConfigError::Invalid {
                variable: RETENTION_VARIABLE,
                reason: format!("at least {MIN_RETENTION_SECONDS} (token lifetime + JWKS cache + secret cache)"),
            });
        }
        Ok(Self { algorithms, retention_seconds })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// A rotation failure as the Lambda runtime reports it: `errorType` is the stable name.
#[derive(Debug)]
pub struct RotationFailure(pub RotationError);

impl From<RotationFailure> for Diagnostic {
    fn from(failure: RotationFailure) -> Self {
        Diagnostic { error_type: failure.0.name().to_string(), error_message: failure.0.to_string() }
    }
}

pub struct Deps {
    pub rotator: KeyRotator,
}

impl Deps {
    pub fn new(config: &Config, target: Arc<dyn RotationTarget>, clock: Arc<dyn Clock>) -> Self {
        Self { rotator: KeyRotator::new(target, clock, config.algorithms.clone(), config.retention_seconds) }
    }
}

pub async fn function_handler(deps: &Deps, event: LambdaEvent<RotationEvent>) -> Result<(), RotationFailure> {
    let request_id = event.context.request_id.clone();
    let rotation = event.payload;
    match deps.rotator.run(&rotation).await {
        Ok(()) => {
            tracing::info!(request_id, step = ?rotation.step, version = %rotation.token, outcome = "ok", "rotation step");
            Ok(())
        }
        Err(error) => {
            tracing::error!(request_id, step = ?rotation.step, version = %rotation.token, error = error.name(),
                detail = %error, "rotation step failed");
            Err(RotationFailure(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn config_defaults_and_checks() {
        assert_eq!(config(&[]).unwrap(), Config { algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256], retention_seconds: 14_400 });
        assert!(config(&[(ALGORITHMS_VARIABLE, "ES256")]).unwrap_err().to_string().contains(ALGORITHMS_VARIABLE));
        assert!(config(&[(ALGORITHMS_VARIABLE, "RS256,HS256")]).is_err());
        assert!(config(&[(RETENTION_VARIABLE, "60")]).unwrap_err().to_string().contains(RETENTION_VARIABLE));
        assert_eq!(config(&[(RETENTION_VARIABLE, "86400"), (ALGORITHMS_VARIABLE, "RS256")]).unwrap().retention_seconds, 86_400);
    }

    #[test]
    fn failures_report_their_stable_name() {
        let diagnostic: Diagnostic = RotationFailure(RotationError::PendingMissing).into();
        assert_eq!(diagnostic.error_type, "PendingMissing");
    }
}
