//! Secrets Manager's rotation protocol for the key set we own (see [`crate::keys`]).
//!
//! Secrets Manager calls the rotation function with `Step` = `createSecret`, `setSecret`,
//! `testSecret`, `finishSecret`; any step may be repeated, and a whole rotation retried after a
//! failure, so every step is idempotent: `createSecret` writes the new version only when the
//! token has no value yet (never a second key on a retry), and `finishSecret` does nothing when
//! the token is already `AWSCURRENT`. Signers only ever read `AWSCURRENT`, so a pending version,
//! empty or garbage, cannot affect minting or the JWKS.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use serde::Deserialize;

use crate::clock::Clock;
use crate::keys::{KeyError, KeyRing, KeySetDocument, KeyStatus};
use crate::secrets::SecretString;
use crate::signing::SigningAlgorithm;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";

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

impl SecretMetadata {
    pub fn version_with(&self, label: &str) -> Option<&str> {
        self.versions.iter().find(|(_, labels)| labels.iter().any(|l| l == label)).map(|(id, _)| id.as_str())
    }
}

/// The Secrets Manager operations rotation needs (a port, so steps are unit-testable).
#[async_trait]
pub trait RotationTarget: Send + Sync {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, RotationError>;
    /// The value of a version by id (and stage); `None` when that version has no value.
    async fn value_of_version(&self, secret_id: &str, version_id: &str, stage: Option<&str>) -> Result<Option<SecretString>, RotationError>;
    /// Writes `value` as version `token` labelled `AWSPENDING`.
    async fn put_pending(&self, secret_id: &str, token: &str, value: &SecretString) -> Result<(), RotationError>;
    /// Moves `AWSCURRENT` from `from` to `to` (Secrets Manager labels `from` `AWSPREVIOUS`).
    async fn move_current(&self, secret_id: &str, to: &str, from: &str) -> Result<(), RotationError>;
    /// Removes `AWSPENDING` from `version_id`.
    async fn clear_pending(&self, secret_id: &str, version_id: &str) -> Result<(), RotationError>;
}

/// Rotates the key set; one per container.
pub struct KeyRotator {
    target: Arc<dyn RotationTarget>,
    clock: Arc<dyn Clock>,
    algorithms: Vec<SigningAlgorithm>,
    retention_seconds: u64,
}

impl KeyRotator {
    pub fn new(target: Arc<dyn RotationTarget>, clock: Arc<dyn Clock>, algorithms: Vec<SigningAlgorithm>, retention_seconds: u64) -> Self {
        Self { target, clock, algorithms, retention_seconds }
    }

    pub async fn run(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let metadata = self.target.describe(&event.secret_id).await?;
        if !metadata.rotation_enabled {
            return Err(RotationError::RotationNotEnabled);
        }
        let labels = metadata.versions.get(&event.token).ok_or(RotationError::UnknownVersion)?;
        if labels.iter().any(|l| l == AWSCURRENT) {
            tracing::info!(step = ?event.step, version = %event.token, "version is already AWSCURRENT: nothing to do");
            return Ok(());
        }
        if !labels.iter().any(|l| l == AWSPENDING) {
            return Err(RotationError::NotPending);
        }
        match event.step {
            RotationStep::CreateSecret => self.create(event, &metadata).await,
            // Nothing downstream holds a copy of our keys: verifiers fetch the JWKS, which
            // already publishes the pending `next` key from the current version. There is no
            // database password or vendor console to update.
            RotationStep::SetSecret => Ok(()),
            RotationStep::TestSecret => self.test(event, &metadata).await,
            RotationStep::FinishSecret => self.finish(event, &metadata).await,
        }
    }

    async fn current_document(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<Option<KeySetDocument>, RotationError> {
        let current_id = metadata.version_with(AWSCURRENT).ok_or(RotationError::NoCurrentVersion)?;
        let Some(value) = self.target.value_of_version(&event.secret_id, current_id, Some(AWSCURRENT)).await? else {
            return Ok(None);
        };
        match KeySetDocument::parse(value.expose()) {
            Ok(document) => Ok(Some(document)),
            Err(KeyError::NotInitialized) => Ok(None),
            Err(error) => Err(RotationError::CurrentInvalid(error.to_string())),
        }
    }

    async fn pending_value(&self, event: &RotationEvent) -> Result<Option<SecretString>, RotationError> {
        let value = self.target.value_of_version(&event.secret_id, &event.token, Some(AWSPENDING)).await?;
        // Whitespace is no key set: treat it like no value.
        Ok(value.filter(|v| !v.expose().trim().is_empty()))
    }

    async fn create(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        if self.pending_value(event).await?.is_some() {
            tracing::info!(version = %event.token, "createSecret: the pending version already has a value");
            return Ok(());
        }
        let now = self.clock.now_unix();
        let next = match self.current_document(event, metadata).await? {
            Some(current) => current.rotated(now, self.retention_seconds),
            // The first rotation fills the secret the template created empty.
            None => KeySetDocument::generate(&self.algorithms, now),
        }
        .map_err(|e| RotationError::KeyGeneration(e.to_string()))?;
        self.target.put_pending(&event.secret_id, &event.token, &next.to_secret_string()).await?;
        tracing::info!(version = %event.token, kids = ?next.kids(), "createSecret: pending key set written");
        Ok(())
    }

    async fn test(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        let pending = self.pending_value(event).await?.ok_or(RotationError::PendingMissing)?;
        let document = KeySetDocument::parse(pending.expose()).map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
        let ring = KeyRing::from_document(&document).map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
        for algorithm in &self.algorithms {
            check_signs_and_verifies(&ring, *algorithm)?;
        }
        // Every key a verifier may meet now (current and next) must still be published after.
        if let Some(current) = self.current_document(event, metadata).await? {
            let pending_kids: Vec<&str> = document.keys.iter().map(|k| k.kid.as_str()).collect();
            for key in current.keys.iter().filter(|k| k.status != KeyStatus::Previous) {
                if !pending_kids.contains(&key.kid.as_str()) {
                    return Err(RotationError::ContinuityBroken(key.kid.clone()));
                }
            }
        }
        tracing::info!(version = %event.token, "testSecret: pending key set signs, verifies and keeps every published key");
        Ok(())
    }

    async fn finish(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        let current = metadata.version_with(AWSCURRENT).ok_or(RotationError::NoCurrentVersion)?;
        self.target.move_current(&event.secret_id, &event.token, current).await?;
        self.target.clear_pending(&event.secret_id, &event.token).await?;
        tracing::info!(version = %event.token, previous = %current, "finishSecret: the new key set is AWSCURRENT");
        Ok(())
    }
}

/// Signs a probe with the current key of `algorithm` and verifies it against the ring's JWKS.
fn check_signs_and_verifies(ring: &KeyRing, algorithm: SigningAlgorithm) -> Result<(), RotationError> {
    let signer = ring.signer(algorithm).map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
    let token = signer.sign_jwt(&serde_json::json!({"sub": "rotation-probe"})).map_err(|_| RotationError::SignatureCheckFailed)?;
    let jwk = ring.jwks()["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == signer.kid()))
        .cloned()
        .ok_or(RotationError::SignatureCheckFailed)?;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).map_err(|_| RotationError::SignatureCheckFailed)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|_| RotationError::SignatureCheckFailed)?;
    let jwt_algorithm = match algorithm {
        SigningAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        SigningAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
    };
    let mut validation = jsonwebtoken::Validation::new(jwt_algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["sub"]);
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).map_err(|_| RotationError::SignatureCheckFailed)?;
    Ok(())
}

/// The Secrets Manager adapter (the real SDK client, no cache: rotation must see the truth).
pub struct SecretsManagerRotationTarget {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerRotationTarget {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(error: SdkError<E, R>) -> RotationError {
    RotationError::SecretsManager(error.code().unwrap_or("no error code").to_string())
}

#[async_trait]
impl RotationTarget for SecretsManagerRotationTarget {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, RotationError> {
        let output = self.client.describe_secret().secret_id(secret_id).send().await.map_err(sdk_error)?;
        Ok(SecretMetadata {
            rotation_enabled: output.rotation_enabled().unwrap_or(false),
            versions: output.version_ids_to_stages().cloned().unwrap_or_default(),
        })
    }

    async fn value_of_version(&self, secret_id: &str, version_id: &str, stage: Option<&str>) -> Result<Option<SecretString>, RotationError> {
        let result = self.client.get_secret_value().secret_id(secret_id).version_id(version_id).set_version_stage(stage.map(String::from)).send().await;
        match result {
            Ok(output) => Ok(output.secret_string.map(SecretString::new)),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn put_pending(&self, secret_id: &str, token: &str, value: &SecretString) -> Result<(), RotationError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(AWSPENDING)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn move_current(&self, secret_id: &str, to: &str, from: &str) -> Result<(), RotationError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(to)
            .remove_from_version_id(from)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn clear_pending(&self, secret_id: &str, version_id: &str) -> Result<(), RotationError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSPENDING)
            .remove_from_version_id(version_id)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
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
            let fake = Self { enabled: true, ..Default::default() };
            fake.versions.lock().unwrap().push(("v0".into(), Some(value.into()), vec![AWSCURRENT.into()]));
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
            self.versions.lock().unwrap().iter().find(|(v, _, _)| v == id).map(|(_, _, l)| l.clone()).unwrap_or_default()
        }
        fn value(&self, id: &str) -> Option<String> {
            self.versions.lock().unwrap().iter().find(|(v, _, _)| v == id).and_then(|(_, value, _)| value.clone())
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
            let versions = self.versions.lock().unwrap().iter().map(|(id, _, labels)| (id.clone(), labels.clone())).collect();
            Ok(SecretMetadata { rotation_enabled: self.enabled, versions })
        }
        async fn value_of_version(&self, _: &str, id: &str, stage: Option<&str>) -> Result<Option<SecretString>, RotationError> {
            let versions = self.versions.lock().unwrap();
            let found = versions.iter().find(|(v, _, labels)| v == id && stage.is_none_or(|s| labels.iter().any(|l| l == s)));
            Ok(found.and_then(|(_, value, _)| value.clone()).map(SecretString::new))
        }
        async fn put_pending(&self, _: &str, token: &str, value: &SecretString) -> Result<(), RotationError> {
            let mut versions = self.versions.lock().unwrap();
            let entry = versions.iter_mut().find(|(v, _, _)| v == token).ok_or(RotationError::UnknownVersion)?;
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
    }

    fn rotator(fake: Arc<FakeSecretsManager>) -> KeyRotator {
        KeyRotator::new(fake, Arc::new(FixedClock::at(1_800_000_000)), vec![SigningAlgorithm::RS256], 14_400)
    }

    fn event(step: RotationStep, token: &str) -> RotationEvent {
        RotationEvent { step, secret_id: "keys".into(), token: token.into() }
    }

    const STEPS: [RotationStep; 4] =
        [RotationStep::CreateSecret, RotationStep::SetSecret, RotationStep::TestSecret, RotationStep::FinishSecret];

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
        assert_eq!(*fake.writes.lock().unwrap(), 1, "a retried createSecret never generates a second key");
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
        let fake = Arc::new(FakeSecretsManager { enabled: false, ..FakeSecretsManager::with_current(r#"{"keys":[]}"#) });
        fake.versions.lock().unwrap()[0].2 = vec![AWSCURRENT.into()];
        fake.start_rotation("t1");
        let error = rotator(fake).run(&event(RotationStep::CreateSecret, "t1")).await.unwrap_err();
        assert_eq!(error.name(), "RotationNotEnabled");

        let fake = Arc::new(FakeSecretsManager::with_current(r#"{"keys":[]}"#));
        let rotator = rotator(fake.clone());
        assert_eq!(rotator.run(&event(RotationStep::CreateSecret, "nope")).await.unwrap_err().name(), "UnknownVersion");
        fake.versions.lock().unwrap().push(("old".into(), Some("x".into()), vec!["AWSPREVIOUS".into()]));
        assert_eq!(rotator.run(&event(RotationStep::CreateSecret, "old")).await.unwrap_err().name(), "NotPending");
        // Already current: done, whatever the step.
        rotator.run(&event(RotationStep::FinishSecret, "v0")).await.unwrap();
    }

    #[tokio::test]
    async fn test_step_names_what_is_wrong_with_the_pending_set() {
        let initial = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_000).unwrap();
        let fake = Arc::new(FakeSecretsManager::with_current(initial.to_secret_string().expose()));
        let rotator = rotator(fake.clone());

        fake.start_rotation("empty");
        assert_eq!(rotator.run(&event(RotationStep::TestSecret, "empty")).await.unwrap_err().name(), "PendingMissing");

        fake.start_rotation("garbage");
        fake.set_value("garbage", "not a key set");
        let error = rotator.run(&event(RotationStep::TestSecret, "garbage")).await.unwrap_err();
        assert_eq!(error.name(), "PendingInvalid");
        assert!(!error.to_string().contains("not a key set"), "the message does not quote the value");

        // A fresh set that drops the keys verifiers already hold.
        fake.start_rotation("unrelated");
        let unrelated = KeySetDocument::generate(&[SigningAlgorithm::RS256], 2_000).unwrap();
        fake.set_value("unrelated", unrelated.to_secret_string().expose());
        assert_eq!(rotator.run(&event(RotationStep::TestSecret, "unrelated")).await.unwrap_err().name(), "ContinuityBroken");
    }
}
