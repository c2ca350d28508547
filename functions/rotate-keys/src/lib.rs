//! Secrets Manager rotation for the key set we own: `createSecret`, `setSecret`, `testSecret`,
//! `finishSecret` (see `whoscalling::rotation`); for the session-key secret too, when
//! `WHOSCALLING_SESSION_KEY_SECRET` names it (`whoscalling::session_rotation`: events naming that
//! secret go there, all others to the signing keys); and the operator's pinned-key commands
//! (`{"pinned_key": "live-assist", "action": "stage" | "switch"}`, invoked by hand). Errors reach
//! the caller, the logs and the Lambda `Errors` metric with their stable names
//! (`PendingInvalid`, `ContinuityBroken`, `PinnedKeyChanged`, `NothingStaged`, ...).

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use whoscalling::Clock;
use whoscalling::keys::PinName;
use whoscalling::metrics::{self, RequestMetrics};
use whoscalling::rotation::{
    KeyEvent, KeyEventSink, KeyRotator, PinnedKeyCommand, RotationError, RotationEvent, RotationSettings,
    RotationTarget,
};
use whoscalling::session_rotation::{SessionKeyRotator, same_secret};
use whoscalling::signing::SigningAlgorithm;

/// Settings, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub algorithms: Vec<SigningAlgorithm>,
    pub retention_seconds: u64,
    /// The pins of every pasted-key profile (Live Assist, LivePerson with a pasted key).
    pub pinned_keys: Vec<PinName>,
    /// The signing-key secret, for pinned-key commands.
    pub secret_id: Option<String>,
    /// Where key events go; none: they are only logged.
    pub key_events_topic: Option<String>,
    /// The session-key secret (its ARN), rotated by this function too when set.
    pub session_key_secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {reason}")]
    Invalid { variable: &'static str, reason: String },
}

pub const ALGORITHMS_VARIABLE: &str = "WHOSCALLING_SIGNING_ALGORITHMS";
pub const RETENTION_VARIABLE: &str = "WHOSCALLING_KEY_RETENTION_SECONDS";
pub const PINNED_KEYS_VARIABLE: &str = "WHOSCALLING_PINNED_KEYS";
pub const SECRET_VARIABLE: &str = "WHOSCALLING_SIGNING_KEYS_SECRET";
pub const TOPIC_VARIABLE: &str = "WHOSCALLING_KEY_EVENTS_TOPIC";
pub const SESSION_KEY_SECRET_VARIABLE: &str = "WHOSCALLING_SESSION_KEY_SECRET";

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
                other => Err(ConfigError::Invalid {
                    variable: ALGORITHMS_VARIABLE,
                    reason: format!("`{other}` is not RS256 or ES256"),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !algorithms.contains(&SigningAlgorithm::RS256) {
            return Err(ConfigError::Invalid {
                variable: ALGORITHMS_VARIABLE,
                reason: "RS256 is required (LivePerson, Live Assist)".into(),
            });
        }
        let retention_seconds = match lookup(RETENTION_VARIABLE) {
            None => 14_400,
            Some(text) => text.trim().parse().map_err(|_| ConfigError::Invalid {
                variable: RETENTION_VARIABLE,
                reason: "not a number".into(),
            })?,
        };
        if retention_seconds < MIN_RETENTION_SECONDS {
            return Err(ConfigError::Invalid {
                variable: RETENTION_VARIABLE,
                reason: format!("at least {MIN_RETENTION_SECONDS} (token lifetime + JWKS cache + secret cache)"),
            });
        }
        let pinned_keys = match lookup(PINNED_KEYS_VARIABLE) {
            Some(list) => list,
            // The template gives no list: the pins are those of the document's pasted-key
            // profiles, read from the same configuration the signing functions read, so the two
            // can never disagree.
            None if lookup(whoscalling::config::CONFIG_FILE_VARIABLE).is_some()
                || lookup(whoscalling::config::CONFIG_VARIABLE).is_some() =>
            {
                let shared = whoscalling::ServiceConfig::from_lookup(&lookup).map_err(|e| ConfigError::Invalid {
                    variable: whoscalling::config::CONFIG_FILE_VARIABLE,
                    reason: e.to_string(),
                })?;
                shared
                    .pinned_keys()
                    .iter()
                    .map(PinName::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            }
            None => String::new(),
        };
        let pinned_keys = pinned_keys
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                PinName::parse(name).ok_or_else(|| ConfigError::Invalid {
                    variable: PINNED_KEYS_VARIABLE,
                    reason: format!("`{name}` is not a pinned key name (1-64 of a-z, 0-9, -)"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let non_empty = |name| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let key_events_topic = non_empty(TOPIC_VARIABLE);
        if let Some(topic) = &key_events_topic
            && !topic.starts_with("arn:")
        {
            return Err(ConfigError::Invalid {
                variable: TOPIC_VARIABLE,
                reason: "an SNS topic ARN".into(),
            });
        }
        let session_key_secret = non_empty(SESSION_KEY_SECRET_VARIABLE);
        if session_key_secret.is_some() && session_key_secret == non_empty(SECRET_VARIABLE) {
            return Err(ConfigError::Invalid {
                variable: SESSION_KEY_SECRET_VARIABLE,
                reason: "must not be the signing-key secret".into(),
            });
        }
        Ok(Self {
            algorithms,
            retention_seconds,
            pinned_keys,
            secret_id: non_empty(SECRET_VARIABLE),
            key_events_topic,
            session_key_secret,
        })
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
        Diagnostic {
            error_type: failure.0.name().to_string(),
            error_message: failure.0.to_string(),
        }
    }
}

pub struct Deps {
    pub rotator: KeyRotator,
    /// The session-key secret and its rotator, when configured.
    pub session: Option<(String, SessionKeyRotator)>,
}

impl Deps {
    pub fn new(
        config: &Config,
        target: Arc<dyn RotationTarget>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn KeyEventSink>,
    ) -> Self {
        let settings = RotationSettings {
            algorithms: config.algorithms.clone(),
            retention_seconds: config.retention_seconds,
            pinned_keys: config.pinned_keys.clone(),
            secret_id: config.secret_id.clone(),
        };
        let session = config
            .session_key_secret
            .clone()
            .map(|secret| (secret, SessionKeyRotator::new(target.clone(), clock.clone())));
        Self {
            rotator: KeyRotator::new(target, clock, settings, events),
            session,
        }
    }
}

/// What invokes the function: Secrets Manager's rotation steps, or an operator's command.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Rotation(RotationEvent),
    PinnedKey(PinnedKeyCommand),
}

/// A rotation step goes to the session-key rotation when it names that secret, else to the
/// signing keys' (whose secret is the one every other rotation event names).
async fn rotate(deps: &Deps, rotation: &RotationEvent) -> Result<(), RotationError> {
    match &deps.session {
        Some((secret, rotator)) if same_secret(&rotation.secret_id, secret) => rotator.run(rotation).await,
        _ => deps.rotator.run(rotation).await,
    }
}

/// A rotation step answers nothing; a command answers the key event it published.
pub async fn function_handler(
    deps: &Deps,
    event: LambdaEvent<Invocation>,
) -> Result<Option<KeyEvent>, RotationFailure> {
    let request_id = event.context.request_id.clone();
    let trace_id = event.context.xray_trace_id.clone();
    // Lambda's runtime already logs each invocation in a span with both ids; the metric record
    // carries them too.
    let (result, counters) = metrics::measure(handle(deps, &request_id, event.payload)).await;
    let error = result.as_ref().err().map(|failure| failure.0.name());
    RequestMetrics {
        function: "rotate-keys",
        error,
        counters,
        lambda_request_id: Some(request_id.as_str()).filter(|id| !id.is_empty()),
        trace_id: trace_id.as_deref(),
        ..RequestMetrics::default()
    }
    .emit();
    result
}

async fn handle(deps: &Deps, request_id: &str, invocation: Invocation) -> Result<Option<KeyEvent>, RotationFailure> {
    match invocation {
        Invocation::Rotation(rotation) => match rotate(deps, &rotation).await {
            Ok(()) => {
                tracing::info!(request_id, step = ?rotation.step, version = %rotation.token, outcome = "ok", "rotation step");
                Ok(None)
            }
            Err(error) => {
                tracing::error!(request_id, step = ?rotation.step, version = %rotation.token, error = error.name(),
                    detail = %error, "rotation step failed");
                Err(RotationFailure(error))
            }
        },
        Invocation::PinnedKey(command) => match deps.rotator.pinned(&command).await {
            Ok(key_event) => {
                tracing::info!(request_id, pinned_key = %command.pinned_key, action = ?command.action, outcome = "ok", "pinned key command");
                Ok(Some(key_event))
            }
            Err(error) => {
                tracing::error!(request_id, pinned_key = %command.pinned_key, action = ?command.action, error = error.name(),
                    detail = %error, "pinned key command failed");
                Err(RotationFailure(error))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn config_defaults_and_checks() {
        assert_eq!(
            config(&[]).unwrap(),
            Config {
                algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256],
                retention_seconds: 14_400,
                pinned_keys: Vec::new(),
                secret_id: None,
                key_events_topic: None,
                session_key_secret: None,
            }
        );
        let both = config(&[
            (SECRET_VARIABLE, "arn:aws:secretsmanager:eu-west-1:1:secret:s-AbCdEf"),
            (
                SESSION_KEY_SECRET_VARIABLE,
                "arn:aws:secretsmanager:eu-west-1:1:secret:s-AbCdEf",
            ),
        ]);
        assert!(both.unwrap_err().to_string().contains(SESSION_KEY_SECRET_VARIABLE));
        let pinned = config(&[
            (PINNED_KEYS_VARIABLE, "live-assist, liveperson,"),
            (TOPIC_VARIABLE, "arn:aws:sns:eu-west-1:123456789012:k"),
        ])
        .unwrap();
        assert_eq!(
            pinned.pinned_keys.iter().map(PinName::as_str).collect::<Vec<_>>(),
            ["live-assist", "liveperson"]
        );
        assert!(
            config(&[(PINNED_KEYS_VARIABLE, "Live Assist")])
                .unwrap_err()
                .to_string()
                .contains(PINNED_KEYS_VARIABLE)
        );
        assert!(
            config(&[(TOPIC_VARIABLE, "my-topic")])
                .unwrap_err()
                .to_string()
                .contains(TOPIC_VARIABLE)
        );
        assert!(
            config(&[(ALGORITHMS_VARIABLE, "ES256")])
                .unwrap_err()
                .to_string()
                .contains(ALGORITHMS_VARIABLE)
        );
        assert!(config(&[(ALGORITHMS_VARIABLE, "RS256,HS256")]).is_err());
        assert!(
            config(&[(RETENTION_VARIABLE, "60")])
                .unwrap_err()
                .to_string()
                .contains(RETENTION_VARIABLE)
        );
        assert_eq!(
            config(&[(RETENTION_VARIABLE, "86400"), (ALGORITHMS_VARIABLE, "RS256")])
                .unwrap()
                .retention_seconds,
            86_400
        );
    }

    #[test]
    fn without_a_list_the_pins_are_the_documents_pasted_key_profiles() {
        let document = serde_json::json!({
            "allowed_origins": ["https://www.example.com"],
            "identity": {"sources": ["bearer_token"], "issuer": "https://idp.example.com", "audiences": ["web"],
                         "algorithms": ["RS256"], "leeway_seconds": 30},
            "signing_keys": {"secret": "${WHOSCALLING_SECRET_PREFIX}/signing-keys"},
            "profiles": {
                "live-assist": {"platform": "live-assist", "issuer": "www.example.com", "token_lifetime_seconds": 3600,
                                "crm_contact_id_claim": "crm_contact_id"},
                "liveperson": {"platform": "liveperson", "issuer": "https://www.example.com", "token_lifetime_seconds": 600}
            }
        })
        .to_string();
        let pins = |extra: &[(&str, &str)]| {
            let mut pairs = vec![
                (whoscalling::config::CONFIG_VARIABLE, document.as_str()),
                ("WHOSCALLING_SECRET_PREFIX", "whoscalling/prod"),
            ];
            pairs.extend_from_slice(extra);
            config(&pairs).map(|c| c.pinned_keys.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>())
        };
        // Live Assist always signs with a pin; this LivePerson profile with the rotating key.
        assert_eq!(pins(&[]).unwrap(), ["live-assist"]);
        // An explicit list still wins (events/env.json).
        assert_eq!(
            pins(&[(PINNED_KEYS_VARIABLE, "live-assist,liveperson")]).unwrap(),
            ["live-assist", "liveperson"]
        );
        // A document the signing functions would refuse stops this one too, naming the setting.
        let broken = config(&[(whoscalling::config::CONFIG_VARIABLE, document.as_str())])
            .unwrap_err()
            .to_string();
        assert!(broken.contains("WHOSCALLING_SECRET_PREFIX"), "{broken}");
    }

    #[test]
    fn failures_report_their_stable_name() {
        let diagnostic: Diagnostic = RotationFailure(RotationError::PendingMissing).into();
        assert_eq!(diagnostic.error_type, "PendingMissing");
    }
}
