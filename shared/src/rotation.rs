//! Secrets Manager's rotation protocol for the key set we own (see [`crate::keys`]).
//!
//! Secrets Manager calls the rotation function with `Step` = `createSecret`, `setSecret`,
//! `testSecret`, `finishSecret`; any step may be repeated, and a whole rotation retried after a
//! failure, so every step is idempotent: `createSecret` writes the new version only when the
//! token has no value yet (never a second key on a retry), and `finishSecret` does nothing when
//! the token is already `AWSCURRENT`. Signers only ever read `AWSCURRENT`, so a pending version,
//! empty or garbage, cannot affect minting or the JWKS.
//!
//! Pinned keys (a vendor console holding one pasted key) are never changed by this schedule:
//! `testSecret` refuses a pending set that would change one. An operator changes them on purpose
//! with a [`PinnedKeyCommand`] (stage a successor, then switch to it), which writes a new
//! `AWSCURRENT` version directly. Every finished rotation and every command publishes a
//! [`KeyEvent`] (SNS in the deployment), naming the keys that sign now and each pinned key's paste
//! format, so nobody learns of a key change from failing chats.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::keys::{KeyChoice, KeyError, KeyRing, KeySetDocument, KeyStatus, PinName};
use crate::secrets::SecretString;
use crate::signing::SigningAlgorithm;
use crate::values::JwsAlgorithm;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
/// The label a pinned-key command's version carries until `AWSCURRENT` moves to it.
pub const OPERATOR_CHANGE: &str = "WHOSCALLING_OPERATOR_CHANGE";

/// The rotation steps, as Secrets Manager names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RotationStep {
    #[serde(rename = "createSecret")]
    CreateSecret,
    #[serde(rename = "setSecret")]
    SetSecret,
    #[serde(rename = "testSecret")]
    TestSecret,
    #[serde(rename = "finishSecret")]
    FinishSecret,
}

/// The event Secrets Manager sends the rotation function.
#[derive(Debug, Clone, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: RotationStep,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
}

/// Why a step failed. The variant name is stable (alarms and runbooks match on it) and no
/// message carries key material.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("RotationNotEnabled: rotation is not enabled on the secret")]
    RotationNotEnabled,
    #[error("UnknownVersion: the token is not a version of the secret")]
    UnknownVersion,
    #[error("NotPending: the token's version is neither AWSCURRENT nor AWSPENDING")]
    NotPending,
    #[error("NoCurrentVersion: the secret has no AWSCURRENT version")]
    NoCurrentVersion,
    #[error("CurrentInvalid: the current key set is unusable ({0}); restore it before rotating")]
    CurrentInvalid(String),
    #[error("PendingMissing: the pending version has no value (createSecret has not run)")]
    PendingMissing,
    #[error("PendingInvalid: the pending key set is unusable ({0})")]
    PendingInvalid(String),
    #[error("SignatureCheckFailed: a pending key did not sign and verify")]
    SignatureCheckFailed,
    #[error("ContinuityBroken: key `{0}` that verifiers may meet is missing from the pending set")]
    ContinuityBroken(String),
    #[error("KeyGeneration: {0}")]
    KeyGeneration(String),
    #[error("PinnedKeyChanged: the pending set changes pinned key `{0}`; a scheduled rotation never may")]
    PinnedKeyChanged(PinName),
    #[error("NothingStaged: pinned key `{0}` has no staged key to switch to; stage one first")]
    NothingStaged(PinName),
    #[error(
        "RotationInProgress: the secret has an AWSPENDING version; let the rotation finish (or clear a stuck one) first"
    )]
    RotationInProgress,
    #[error("NotConfigured: {0}")]
    NotConfigured(&'static str),
    #[error("Notification: the key event could not be published ({0})")]
    Notification(String),
    #[error("SecretsManager: {0}")]
    SecretsManager(String),
}

impl RotationError {
    /// The stable name (the variant), for logs and alarms.
    pub fn name(&self) -> &'static str {
        match self {
            RotationError::RotationNotEnabled => "RotationNotEnabled",
            RotationError::UnknownVersion => "UnknownVersion",
            RotationError::NotPending => "NotPending",
            RotationError::NoCurrentVersion => "NoCurrentVersion",
            RotationError::CurrentInvalid(_) => "CurrentInvalid",
            RotationError::PendingMissing => "PendingMissing",
            RotationError::PendingInvalid(_) => "PendingInvalid",
            RotationError::SignatureCheckFailed => "SignatureCheckFailed",
            RotationError::ContinuityBroken(_) => "ContinuityBroken",
            RotationError::KeyGeneration(_) => "KeyGeneration",
            RotationError::PinnedKeyChanged(_) => "PinnedKeyChanged",
            RotationError::NothingStaged(_) => "NothingStaged",
            RotationError::RotationInProgress => "RotationInProgress",
            RotationError::NotConfigured(_) => "NotConfigured",
            RotationError::Notification(_) => "Notification",
            RotationError::SecretsManager(_) => "SecretsManager",
        }
    }
}

/// What a secret looks like to the rotation: whether rotation is on, and version id -> labels.
#[derive(Debug, Clone, Default)]
pub struct SecretMetadata {
    pub rotation_enabled: bool,
    pub versions: HashMap<String, Vec<String>>,
}

/// The gate every rotation step passes first (Secrets Manager's rotation contract): rotation is
/// enabled, the token names a version of this secret, and that version is `AWSPENDING`. A version
/// that is already `AWSCURRENT` means a retried step after the rotation finished: `Ok(false)`,
/// nothing to do.
pub fn step_applies(metadata: &SecretMetadata, event: &RotationEvent) -> Result<bool, RotationError> {
    if !metadata.rotation_enabled {
        return Err(RotationError::RotationNotEnabled);
    }
    let labels = metadata
        .versions
        .get(&event.token)
        .ok_or(RotationError::UnknownVersion)?;
    if labels.iter().any(|l| l == AWSCURRENT) {
        tracing::info!(step = ?event.step, version = %event.token, "version is already AWSCURRENT: nothing to do");
        return Ok(false);
    }
    if !labels.iter().any(|l| l == AWSPENDING) {
        return Err(RotationError::NotPending);
    }
    Ok(true)
}

impl SecretMetadata {
    pub fn version_with(&self, label: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == label))
            .map(|(id, _)| id.as_str())
    }
}

/// The Secrets Manager operations rotation needs (a port, so steps are unit-testable).
#[async_trait]
pub trait RotationTarget: Send + Sync {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, RotationError>;
    /// The value of a version by id (and stage); `None` when that version has no value.
    async fn value_of_version(
        &self,
        secret_id: &str,
        version_id: &str,
        stage: Option<&str>,
    ) -> Result<Option<SecretString>, RotationError>;
    /// Writes `value` as version `token` labelled `AWSPENDING`.
    async fn put_pending(&self, secret_id: &str, token: &str, value: &SecretString) -> Result<(), RotationError>;
    /// Moves `AWSCURRENT` from `from` to `to` (Secrets Manager labels `from` `AWSPREVIOUS`).
    async fn move_current(&self, secret_id: &str, to: &str, from: &str) -> Result<(), RotationError>;
    /// Removes `AWSPENDING` from `version_id`.
    async fn clear_pending(&self, secret_id: &str, version_id: &str) -> Result<(), RotationError>;
    /// Writes `value` as a new version `token` and moves `AWSCURRENT` to it from `replacing`
    /// (which becomes `AWSPREVIOUS`): an operator's deliberate change, outside the rotation protocol.
    async fn put_current(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        replacing: &str,
    ) -> Result<(), RotationError>;
}

/// An operator's deliberate change of a pinned key, sent to the rotation function directly
/// (`aws lambda invoke --payload '{"pinned_key": "live-assist", "action": "stage"}'`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedKeyCommand {
    pub pinned_key: PinName,
    pub action: PinnedKeyAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinnedKeyAction {
    /// Publish a successor (JWKS and paste format) without signing with it; a pin with no key
    /// at all gets its first key.
    Stage,
    /// Sign with the staged successor from now on; the old key stays published for the
    /// retention period, so tokens it signed keep verifying by `kid`.
    Switch,
}

/// What changed, for the people who paste keys into vendor consoles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEventKind {
    /// A scheduled (or rotate-now) rotation finished: the rotating keys moved, pinned keys did not.
    ScheduledRotation,
    PinnedKeyStaged,
    PinnedKeySwitched,
}

/// A pinned key as a notification shows it: what signs, what is staged, both in paste format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedKeyState {
    pub pin: PinName,
    pub kid: String,
    /// Single-line base64 SPKI: what the vendor console holds (public, not a secret).
    pub public_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_public_key: Option<String>,
}

/// The notification: public facts only (kids and public keys), never key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyEvent {
    pub event: KeyEventKind,
    pub secret_id: String,
    pub version: String,
    /// The pin the command changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_key: Option<PinName>,
    /// Algorithm to the kid of the rotating key that signs now.
    pub rotating: std::collections::BTreeMap<String, String>,
    pub pinned: Vec<PinnedKeyState>,
}

impl KeyEvent {
    pub fn describe(
        event: KeyEventKind,
        secret_id: &str,
        version: &str,
        pinned_key: Option<PinName>,
        document: &KeySetDocument,
    ) -> Result<Self, KeyError> {
        let ring = KeyRing::from_document(document)?;
        let rotating = document
            .keys
            .iter()
            .filter(|k| k.pin.is_none() && k.status == KeyStatus::Current)
            .map(|k| (k.alg.name().to_string(), k.kid.clone()))
            .collect();
        let pinned = document
            .pins()
            .into_iter()
            .filter_map(|pin| {
                let choice = KeyChoice::Pinned(pin.clone());
                let kid = document
                    .keys
                    .iter()
                    .find(|k| k.pin.as_ref() == Some(&pin) && k.status == KeyStatus::Current)?
                    .kid
                    .clone();
                let staged_kid = document
                    .keys
                    .iter()
                    .find(|k| k.pin.as_ref() == Some(&pin) && k.status == KeyStatus::Next)
                    .map(|k| k.kid.clone());
                Some(PinnedKeyState {
                    public_key: ring.public_key_spki(&choice, KeyStatus::Current)?.to_string(),
                    staged_public_key: ring.public_key_spki(&choice, KeyStatus::Next).map(str::to_string),
                    pin,
                    kid,
                    staged_kid,
                })
            })
            .collect();
        Ok(Self {
            event,
            secret_id: secret_id.to_string(),
            version: version.to_string(),
            pinned_key,
            rotating,
            pinned,
        })
    }
}

/// Where key events go (SNS in the deployment, the log in the local run).
#[async_trait]
pub trait KeyEventSink: Send + Sync {
    async fn publish(&self, event: &KeyEvent) -> Result<(), RotationError>;
}

/// No topic configured: the event is only logged (it carries no secret).
pub struct LogKeyEvents;

#[async_trait]
impl KeyEventSink for LogKeyEvents {
    async fn publish(&self, event: &KeyEvent) -> Result<(), RotationError> {
        tracing::info!(key_event = ?event.event, pinned_key = ?event.pinned_key, version = %event.version, "key event (no topic configured)");
        Ok(())
    }
}

/// What the rotation function is configured with (see `functions/rotate-keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSettings {
    pub algorithms: Vec<SigningAlgorithm>,
    pub retention_seconds: u64,
    /// Pins every pasted-key profile signs with: a rotation creates any that is missing (and
    /// never changes one that exists).
    pub pinned_keys: Vec<PinName>,
    /// The signing-key secret, for operator commands (rotation events name it themselves).
    pub secret_id: Option<String>,
}

/// Rotates the key set; one per container.
pub struct KeyRotator {
    target: Arc<dyn RotationTarget>,
    clock: Arc<dyn Clock>,
    settings: RotationSettings,
    events: Arc<dyn KeyEventSink>,
}

impl KeyRotator {
    pub fn new(
        target: Arc<dyn RotationTarget>,
        clock: Arc<dyn Clock>,
        settings: RotationSettings,
        events: Arc<dyn KeyEventSink>,
    ) -> Self {
        Self {
            target,
            clock,
            settings,
            events,
        }
    }

    pub async fn run(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let metadata = self.target.describe(&event.secret_id).await?;
        if !step_applies(&metadata, event)? {
            return Ok(());
        }
        match event.step {
            RotationStep::CreateSecret => self.create(event, &metadata).await,
            // Nothing downstream holds a copy of our rotating keys: verifiers fetch the JWKS,
            // which already publishes the pending `next` key from the current version. Pasted
            // (pinned) keys are not changed by a rotation, so no console needs updating either.
            RotationStep::SetSecret => Ok(()),
            RotationStep::TestSecret => self.test(event, &metadata).await,
            RotationStep::FinishSecret => self.finish(event, &metadata).await,
        }
    }

    async fn current_document(
        &self,
        secret_id: &str,
        metadata: &SecretMetadata,
    ) -> Result<Option<KeySetDocument>, RotationError> {
        let current_id = metadata
            .version_with(AWSCURRENT)
            .ok_or(RotationError::NoCurrentVersion)?;
        let Some(value) = self
            .target
            .value_of_version(secret_id, current_id, Some(AWSCURRENT))
            .await?
        else {
            return Ok(None);
        };
        match KeySetDocument::parse(value.expose()) {
            Ok(document) => Ok(Some(document)),
            Err(KeyError::NotInitialized) => Ok(None),
            Err(error) => Err(RotationError::CurrentInvalid(error.to_string())),
        }
    }

    async fn pending_value(&self, event: &RotationEvent) -> Result<Option<SecretString>, RotationError> {
        let value = self
            .target
            .value_of_version(&event.secret_id, &event.token, Some(AWSPENDING))
            .await?;
        // Whitespace is no key set: treat it like no value.
        Ok(value.filter(|v| !v.expose().trim().is_empty()))
    }

    async fn create(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        if self.pending_value(event).await?.is_some() {
            tracing::info!(version = %event.token, "createSecret: the pending version already has a value");
            return Ok(());
        }
        let now = self.clock.now_unix();
        let next = match self.current_document(&event.secret_id, metadata).await? {
            Some(current) => current.rotated(now, self.settings.retention_seconds),
            // The first rotation fills the secret the template created empty.
            None => KeySetDocument::generate(&self.settings.algorithms, now),
        }
        .and_then(|document| document.with_pins(&self.settings.pinned_keys, now))
        .map_err(|e| RotationError::KeyGeneration(e.to_string()))?;
        self.target
            .put_pending(&event.secret_id, &event.token, &next.to_secret_string())
            .await?;
        tracing::info!(version = %event.token, kids = ?next.kids(), "createSecret: pending key set written");
        Ok(())
    }

    async fn pending_document(&self, event: &RotationEvent) -> Result<KeySetDocument, RotationError> {
        let pending = self.pending_value(event).await?.ok_or(RotationError::PendingMissing)?;
        KeySetDocument::parse(pending.expose()).map_err(|e| RotationError::PendingInvalid(e.to_string()))
    }

    async fn test(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        let document = self.pending_document(event).await?;
        let current = self.current_document(&event.secret_id, metadata).await?;
        self.check_successor(current.as_ref(), &document)?;
        // A scheduled rotation never changes the key a pasted-key console holds.
        if let Some(current) = &current {
            for pin in current.pins() {
                let signing = |doc: &KeySetDocument| {
                    doc.keys
                        .iter()
                        .find(|k| k.pin.as_ref() == Some(&pin) && k.status == KeyStatus::Current)
                        .map(|k| k.kid.clone())
                };
                if signing(current) != signing(&document) {
                    return Err(RotationError::PinnedKeyChanged(pin));
                }
            }
        }
        tracing::info!(version = %event.token, "testSecret: pending key set signs, verifies, keeps every published key and every pinned key");
        Ok(())
    }

    /// A successor set must sign and verify, and keep publishing every key a verifier may meet
    /// now (current and next, rotating and pinned).
    fn check_successor(
        &self,
        current: Option<&KeySetDocument>,
        successor: &KeySetDocument,
    ) -> Result<(), RotationError> {
        let ring = KeyRing::from_document(successor).map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
        for algorithm in &self.settings.algorithms {
            check_signs_and_verifies(&ring, &KeyChoice::Rotating(*algorithm))?;
        }
        for pin in successor.pins() {
            check_signs_and_verifies(&ring, &KeyChoice::Pinned(pin))?;
        }
        if let Some(current) = current {
            let successor_kids: Vec<&str> = successor.keys.iter().map(|k| k.kid.as_str()).collect();
            for key in current.keys.iter().filter(|k| k.status != KeyStatus::Previous) {
                if !successor_kids.contains(&key.kid.as_str()) {
                    return Err(RotationError::ContinuityBroken(key.kid.clone()));
                }
            }
        }
        Ok(())
    }

    async fn finish(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        let current = metadata
            .version_with(AWSCURRENT)
            .ok_or(RotationError::NoCurrentVersion)?;
        let document = self.pending_document(event).await?;
        self.target
            .move_current(&event.secret_id, &event.token, current)
            .await?;
        self.target.clear_pending(&event.secret_id, &event.token).await?;
        tracing::info!(version = %event.token, previous = %current, "finishSecret: the new key set is AWSCURRENT");
        // The rotation is done whatever the notification does: a failure is logged (and seen by
        // the log-based alarm), not returned, or Secrets Manager would retry a finished rotation.
        match KeyEvent::describe(
            KeyEventKind::ScheduledRotation,
            &event.secret_id,
            &event.token,
            None,
            &document,
        ) {
            Ok(key_event) => {
                if let Err(error) = self.events.publish(&key_event).await {
                    tracing::error!(version = %event.token, error = error.name(), detail = %error, "key event not published");
                }
            }
            Err(error) => tracing::error!(version = %event.token, error = %error, "key event not described"),
        }
        Ok(())
    }

    /// An operator's deliberate change of a pinned key: writes the new set as `AWSCURRENT` and
    /// publishes what changed. Refused while a rotation is under way.
    pub async fn pinned(&self, command: &PinnedKeyCommand) -> Result<KeyEvent, RotationError> {
        let secret_id = self
            .settings
            .secret_id
            .as_deref()
            .ok_or(RotationError::NotConfigured("no signing-key secret is configured"))?;
        let metadata = self.target.describe(secret_id).await?;
        if metadata.version_with(AWSPENDING).is_some() {
            return Err(RotationError::RotationInProgress);
        }
        let current_version = metadata
            .version_with(AWSCURRENT)
            .ok_or(RotationError::NoCurrentVersion)?;
        let current = self
            .current_document(secret_id, &metadata)
            .await?
            .ok_or(RotationError::NoCurrentVersion)?;
        let now = self.clock.now_unix();
        let pin = &command.pinned_key;
        let (successor, kind) = match command.action {
            PinnedKeyAction::Stage => (current.pin_staged(pin, now), KeyEventKind::PinnedKeyStaged),
            PinnedKeyAction::Switch => (current.pin_switched(pin, now), KeyEventKind::PinnedKeySwitched),
        };
        let successor = successor.map_err(|error| match error {
            KeyError::NothingStaged(pin) => RotationError::NothingStaged(pin),
            other => RotationError::KeyGeneration(other.to_string()),
        })?;
        self.check_successor(Some(&current), &successor)?;
        let unchanged = successor.kids() == current.kids();
        let version = if unchanged {
            // Staging twice: the staged key stays; nothing is written.
            current_version.to_string()
        } else {
            let token = new_version_token().map_err(|e| RotationError::KeyGeneration(e.to_string()))?;
            self.target
                .put_current(secret_id, &token, &successor.to_secret_string(), current_version)
                .await?;
            token
        };
        let event = KeyEvent::describe(kind, secret_id, &version, Some(pin.clone()), &successor)
            .map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
        tracing::info!(pinned_key = %pin, action = ?command.action, version = %version, written = !unchanged, "pinned key command");
        self.events.publish(&event).await?;
        Ok(event)
    }
}

/// A fresh `ClientRequestToken`: a random version 4 UUID.
fn new_version_token() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Generation)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Signs a probe with the key a choice signs with and verifies it against the ring's JWKS.
fn check_signs_and_verifies(ring: &KeyRing, choice: &KeyChoice) -> Result<(), RotationError> {
    let signer = ring
        .signer_for(choice)
        .map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
    let algorithm = signer.algorithm();
    let token = signer
        .sign_jwt(&serde_json::json!({"sub": "rotation-probe"}))
        .map_err(|_| RotationError::SignatureCheckFailed)?;
    let jwk = ring.jwks()["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == signer.kid()))
        .cloned()
        .ok_or(RotationError::SignatureCheckFailed)?;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).map_err(|_| RotationError::SignatureCheckFailed)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|_| RotationError::SignatureCheckFailed)?;
    let jwt_algorithm = jsonwebtoken::Algorithm::from(JwsAlgorithm::from(algorithm));
    let mut validation = jsonwebtoken::Validation::new(jwt_algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["sub"]);
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .map_err(|_| RotationError::SignatureCheckFailed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use std::sync::Mutex;

    /// Behaves as Secrets Manager does for these calls: RotateSecret creates the `AWSPENDING`
    /// version without a value; moving `AWSCURRENT` labels the old version `AWSPREVIOUS`.
    /// Version id, value (none until written), labels.
    type Version = (String, Option<String>, Vec<String>);

    #[derive(Default)]
    struct FakeSecretsManager {
        enabled: bool,
        versions: Mutex<Vec<Version>>,
        writes: Mutex<usize>,
    }

    impl FakeSecretsManager {
        fn with_current(value: &str) -> Self {
            let fake = Self {
                enabled: true,
                ..Default::default()
            };
            fake.versions
                .lock()
                .unwrap()
                .push(("v0".into(), Some(value.into()), vec![AWSCURRENT.into()]));
            fake
        }
        fn start_rotation(&self, token: &str) {
            let mut versions = self.versions.lock().unwrap();
            for (_, _, labels) in versions.iter_mut() {
                labels.retain(|l| l != AWSPENDING);
            }
            versions.push((token.into(), None, vec![AWSPENDING.into()]));
        }
        fn labels(&self, id: &str) -> Vec<String> {
            self.versions
                .lock()
                .unwrap()
                .iter()
                .find(|(v, _, _)| v == id)
                .map(|(_, _, l)| l.clone())
                .unwrap_or_default()
        }
        fn value(&self, id: &str) -> Option<String> {
            self.versions
                .lock()
                .unwrap()
                .iter()
                .find(|(v, _, _)| v == id)
                .and_then(|(_, value, _)| value.clone())
        }
        fn set_value(&self, id: &str, value: &str) {
            let mut versions = self.versions.lock().unwrap();
            if let Some(entry) = versions.iter_mut().find(|(v, _, _)| v == id) {
                entry.1 = Some(value.into());
            }
        }
    }

    #[async_trait]
    impl RotationTarget for FakeSecretsManager {
        async fn describe(&self, _: &str) -> Result<SecretMetadata, RotationError> {
            let versions = self
                .versions
                .lock()
                .unwrap()
                .iter()
                .map(|(id, _, labels)| (id.clone(), labels.clone()))
                .collect();
            Ok(SecretMetadata {
                rotation_enabled: self.enabled,
                versions,
            })
        }
        async fn value_of_version(
            &self,
            _: &str,
            id: &str,
            stage: Option<&str>,
        ) -> Result<Option<SecretString>, RotationError> {
            let versions = self.versions.lock().unwrap();
            let found = versions
                .iter()
                .find(|(v, _, labels)| v == id && stage.is_none_or(|s| labels.iter().any(|l| l == s)));
            Ok(found.and_then(|(_, value, _)| value.clone()).map(SecretString::new))
        }
        async fn put_pending(&self, _: &str, token: &str, value: &SecretString) -> Result<(), RotationError> {
            let mut versions = self.versions.lock().unwrap();
            let entry = versions
                .iter_mut()
                .find(|(v, _, _)| v == token)
                .ok_or(RotationError::UnknownVersion)?;
            // Real Secrets Manager refuses a different value under the same token.
            if entry.1.as_deref().is_some_and(|existing| existing != value.expose()) {
                return Err(RotationError::SecretsManager("ResourceExistsException".into()));
            }
            entry.1 = Some(value.expose().to_string());
            *self.writes.lock().unwrap() += 1;
            Ok(())
        }
        async fn move_current(&self, _: &str, to: &str, from: &str) -> Result<(), RotationError> {
            let mut versions = self.versions.lock().unwrap();
            for (id, _, labels) in versions.iter_mut() {
                labels.retain(|l| l != "AWSPREVIOUS");
                if id == from {
                    labels.retain(|l| l != AWSCURRENT);
                    labels.push("AWSPREVIOUS".into());
                }
                if id == to {
                    labels.push(AWSCURRENT.into());
                }
            }
            Ok(())
        }
        async fn clear_pending(&self, _: &str, id: &str) -> Result<(), RotationError> {
            let mut versions = self.versions.lock().unwrap();
            if let Some((_, _, labels)) = versions.iter_mut().find(|(v, _, _)| v == id) {
                labels.retain(|l| l != AWSPENDING);
            }
            Ok(())
        }
        async fn put_current(&self, _: &str, token: &str, value: &SecretString, _: &str) -> Result<(), RotationError> {
            let mut versions = self.versions.lock().unwrap();
            for (_, _, labels) in versions.iter_mut() {
                labels.retain(|l| l != "AWSPREVIOUS");
                if labels.iter().any(|l| l == AWSCURRENT) {
                    labels.retain(|l| l != AWSCURRENT);
                    labels.push("AWSPREVIOUS".into());
                }
            }
            versions.push((token.into(), Some(value.expose().to_string()), vec![AWSCURRENT.into()]));
            *self.writes.lock().unwrap() += 1;
            Ok(())
        }
    }

    /// Keeps what would have been published.
    #[derive(Default)]
    struct RecordedEvents(Mutex<Vec<KeyEvent>>);

    #[async_trait]
    impl KeyEventSink for RecordedEvents {
        async fn publish(&self, event: &KeyEvent) -> Result<(), RotationError> {
            self.0.lock().unwrap().push(event.clone());
            Ok(())
        }
    }

    fn settings(pins: &[&str]) -> RotationSettings {
        RotationSettings {
            algorithms: vec![SigningAlgorithm::RS256],
            retention_seconds: 14_400,
            pinned_keys: pins.iter().map(|p| PinName::parse(p).unwrap()).collect(),
            secret_id: Some("keys".into()),
        }
    }

    fn rotator(fake: Arc<FakeSecretsManager>) -> KeyRotator {
        KeyRotator::new(
            fake,
            Arc::new(FixedClock::at(1_800_000_000)),
            settings(&[]),
            Arc::new(LogKeyEvents),
        )
    }

    fn current_value(fake: &FakeSecretsManager) -> KeySetDocument {
        let versions = fake.versions.lock().unwrap();
        let (_, value, _) = versions
            .iter()
            .find(|(_, _, labels)| labels.iter().any(|l| l == AWSCURRENT))
            .unwrap();
        KeySetDocument::parse(value.as_deref().unwrap()).unwrap()
    }

    fn pinned_kid(document: &KeySetDocument, pin: &str, status: KeyStatus) -> Option<String> {
        document
            .keys
            .iter()
            .find(|k| k.pin.as_ref().map(PinName::as_str) == Some(pin) && k.status == status)
            .map(|k| k.kid.clone())
    }

    #[tokio::test]
    async fn scheduled_rotations_create_missing_pins_and_never_change_one() {
        let fake = Arc::new(FakeSecretsManager::with_current(r#"{"keys":[]}"#));
        let events = Arc::new(RecordedEvents::default());
        let rotator = KeyRotator::new(
            fake.clone(),
            Arc::new(FixedClock::at(1_800_000_000)),
            settings(&["live-assist"]),
            events.clone(),
        );
        let mut pinned = None;
        for (round, token) in ["t1", "t2", "t3"].iter().enumerate() {
            fake.start_rotation(token);
            for step in STEPS {
                rotator.run(&event(step, token)).await.unwrap();
            }
            let document = current_value(&fake);
            let kid = pinned_kid(&document, "live-assist", KeyStatus::Current)
                .expect("the pin exists from the first rotation");
            assert_eq!(
                *pinned.get_or_insert(kid.clone()),
                kid,
                "round {round}: the pinned key never moves"
            );
            assert_eq!(
                events.0.lock().unwrap().len(),
                round + 1,
                "every finished rotation is announced"
            );
        }
        let last = events.0.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.event, KeyEventKind::ScheduledRotation);
        assert_eq!(last.pinned[0].kid, pinned.unwrap());
        assert!(
            last.pinned[0]
                .public_key
                .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A")
        );
    }

    #[tokio::test]
    async fn test_step_refuses_a_pending_set_that_changes_a_pinned_key() {
        let initial = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_000)
            .unwrap()
            .with_pins(&[PinName::parse("la").unwrap()], 1_000)
            .unwrap();
        let fake = Arc::new(FakeSecretsManager::with_current(initial.to_secret_string().expose()));
        let rotator = rotator(fake.clone());
        // Keeps every published key, but makes the staged pinned key current: only an operator may.
        let sneaky = initial.pin_staged(&PinName::parse("la").unwrap(), 1_100).unwrap();
        let sneaky = sneaky
            .pin_switched(&PinName::parse("la").unwrap(), 1_200)
            .unwrap()
            .rotated(1_300, 14_400)
            .unwrap();
        fake.start_rotation("t1");
        fake.set_value("t1", sneaky.to_secret_string().expose());
        assert_eq!(
            rotator
                .run(&event(RotationStep::TestSecret, "t1"))
                .await
                .unwrap_err()
                .name(),
            "PinnedKeyChanged"
        );
    }

    #[tokio::test]
    async fn pinned_key_commands_stage_then_switch_and_announce_each_step() {
        let initial = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_000)
            .unwrap()
            .with_pins(&[PinName::parse("la").unwrap()], 1_000)
            .unwrap();
        let fake = Arc::new(FakeSecretsManager::with_current(initial.to_secret_string().expose()));
        let events = Arc::new(RecordedEvents::default());
        let rotator = KeyRotator::new(
            fake.clone(),
            Arc::new(FixedClock::at(1_800_000_000)),
            settings(&["la"]),
            events.clone(),
        );
        let command = |action| PinnedKeyCommand {
            pinned_key: PinName::parse("la").unwrap(),
            action,
        };
        let original = pinned_kid(&initial, "la", KeyStatus::Current).unwrap();

        assert_eq!(
            rotator
                .pinned(&command(PinnedKeyAction::Switch))
                .await
                .unwrap_err()
                .name(),
            "NothingStaged"
        );
        let staged = rotator.pinned(&command(PinnedKeyAction::Stage)).await.unwrap();
        let staged_kid = staged.pinned[0].staged_kid.clone().expect("a staged key");
        assert_eq!(staged.pinned[0].kid, original, "staging does not change what signs");
        assert!(
            staged.pinned[0].staged_public_key.is_some(),
            "the paste format is there before the switch"
        );
        let writes = *fake.writes.lock().unwrap();
        rotator.pinned(&command(PinnedKeyAction::Stage)).await.unwrap();
        assert_eq!(*fake.writes.lock().unwrap(), writes, "staging twice writes nothing");

        let switched = rotator.pinned(&command(PinnedKeyAction::Switch)).await.unwrap();
        assert_eq!(switched.event, KeyEventKind::PinnedKeySwitched);
        assert_eq!(switched.pinned[0].kid, staged_kid);
        let document = current_value(&fake);
        assert_eq!(
            pinned_kid(&document, "la", KeyStatus::Previous),
            Some(original),
            "the old key stays published"
        );
        assert_eq!(events.0.lock().unwrap().len(), 3);

        // Never while a rotation is under way.
        fake.start_rotation("t9");
        assert_eq!(
            rotator
                .pinned(&command(PinnedKeyAction::Stage))
                .await
                .unwrap_err()
                .name(),
            "RotationInProgress"
        );
    }

    fn event(step: RotationStep, token: &str) -> RotationEvent {
        RotationEvent {
            step,
            secret_id: "keys".into(),
            token: token.into(),
        }
    }

    const STEPS: [RotationStep; 4] = [
        RotationStep::CreateSecret,
        RotationStep::SetSecret,
        RotationStep::TestSecret,
        RotationStep::FinishSecret,
    ];

    #[tokio::test]
    async fn first_rotation_fills_an_empty_secret() {
        let fake = Arc::new(FakeSecretsManager::with_current(r#"{"keys":[]}"#));
        fake.start_rotation("t1");
        let rotator = rotator(fake.clone());
        for step in STEPS {
            rotator.run(&event(step, "t1")).await.unwrap();
        }
        assert_eq!(fake.labels("t1"), vec![AWSCURRENT.to_string()]);
        assert_eq!(fake.labels("v0"), vec!["AWSPREVIOUS".to_string()]);
        let document = KeySetDocument::parse(&fake.value("t1").unwrap()).unwrap();
        assert_eq!(document.keys.len(), 2, "current and next");
    }

    #[tokio::test]
    async fn repeated_steps_write_one_key_set() {
        let fake = Arc::new(FakeSecretsManager::with_current(r#"{"keys":[]}"#));
        fake.start_rotation("t1");
        let rotator = rotator(fake.clone());
        for step in STEPS {
            rotator.run(&event(step, "t1")).await.unwrap();
            rotator.run(&event(step, "t1")).await.unwrap();
        }
        assert_eq!(
            *fake.writes.lock().unwrap(),
            1,
            "a retried createSecret never generates a second key"
        );
        let first = fake.value("t1").unwrap();

        // A second rotation: 1, 2, (failure: the function died), 1, 2, 3, 4.
        fake.start_rotation("t2");
        rotator.run(&event(RotationStep::CreateSecret, "t2")).await.unwrap();
        rotator.run(&event(RotationStep::SetSecret, "t2")).await.unwrap();
        for step in STEPS {
            rotator.run(&event(step, "t2")).await.unwrap();
        }
        assert_eq!(*fake.writes.lock().unwrap(), 2);
        let before = KeySetDocument::parse(&first).unwrap();
        let after = KeySetDocument::parse(&fake.value("t2").unwrap()).unwrap();
        let kid = |doc: &KeySetDocument, status| doc.keys.iter().find(|k| k.status == status).unwrap().kid.clone();
        assert_eq!(kid(&after, KeyStatus::Current), kid(&before, KeyStatus::Next));
        assert_eq!(kid(&after, KeyStatus::Previous), kid(&before, KeyStatus::Current));
        assert_eq!(after.keys.len(), 3);
        assert_eq!(fake.labels("t2"), vec![AWSCURRENT.to_string()]);
        assert_eq!(fake.labels("t1"), vec!["AWSPREVIOUS".to_string()]);
    }

    #[tokio::test]
    async fn guards_refuse_what_is_not_a_pending_rotation() {
        let fake = Arc::new(FakeSecretsManager {
            enabled: false,
            ..FakeSecretsManager::with_current(r#"{"keys":[]}"#)
        });
        fake.versions.lock().unwrap()[0].2 = vec![AWSCURRENT.into()];
        fake.start_rotation("t1");
        let error = rotator(fake)
            .run(&event(RotationStep::CreateSecret, "t1"))
            .await
            .unwrap_err();
        assert_eq!(error.name(), "RotationNotEnabled");

        let fake = Arc::new(FakeSecretsManager::with_current(r#"{"keys":[]}"#));
        let rotator = rotator(fake.clone());
        assert_eq!(
            rotator
                .run(&event(RotationStep::CreateSecret, "nope"))
                .await
                .unwrap_err()
                .name(),
            "UnknownVersion"
        );
        fake.versions
            .lock()
            .unwrap()
            .push(("old".into(), Some("x".into()), vec!["AWSPREVIOUS".into()]));
        assert_eq!(
            rotator
                .run(&event(RotationStep::CreateSecret, "old"))
                .await
                .unwrap_err()
                .name(),
            "NotPending"
        );
        // Already current: done, whatever the step.
        rotator.run(&event(RotationStep::FinishSecret, "v0")).await.unwrap();
    }

    #[tokio::test]
    async fn test_step_names_what_is_wrong_with_the_pending_set() {
        let initial = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_000).unwrap();
        let fake = Arc::new(FakeSecretsManager::with_current(initial.to_secret_string().expose()));
        let rotator = rotator(fake.clone());

        fake.start_rotation("empty");
        assert_eq!(
            rotator
                .run(&event(RotationStep::TestSecret, "empty"))
                .await
                .unwrap_err()
                .name(),
            "PendingMissing"
        );

        fake.start_rotation("garbage");
        fake.set_value("garbage", "not a key set");
        let error = rotator
            .run(&event(RotationStep::TestSecret, "garbage"))
            .await
            .unwrap_err();
        assert_eq!(error.name(), "PendingInvalid");
        assert!(
            !error.to_string().contains("not a key set"),
            "the message does not quote the value"
        );

        // A fresh set that drops the keys verifiers already hold.
        fake.start_rotation("unrelated");
        let unrelated = KeySetDocument::generate(&[SigningAlgorithm::RS256], 2_000).unwrap();
        fake.set_value("unrelated", unrelated.to_secret_string().expose());
        assert_eq!(
            rotator
                .run(&event(RotationStep::TestSecret, "unrelated"))
                .await
                .unwrap_err()
                .name(),
            "ContinuityBroken"
        );
    }
}
