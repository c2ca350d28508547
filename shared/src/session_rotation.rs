//! Scheduled rotation of the session-key secret, by the same Secrets Manager protocol as the
//! signing keys (`rotation`), run by the same rotate-keys function (it tells the secrets apart by
//! id).
//!
//! `createSecret` writes a [`SessionKeyDocument`] whose `current` is a fresh random key and whose
//! `previous` is the current version's `current` (a plain legacy value is that key), with the
//! time of the rotation; `setSecret` has nothing to do (only our functions hold the key);
//! `testSecret` checks the pending document seals and opens, and that it keeps the current key as
//! `previous`, so cookies sealed before the switch still open for the grace period
//! (`SessionKeys`); `finishSecret` moves `AWSCURRENT`. Every step is idempotent, as Secrets
//! Manager may repeat any of them.

use std::sync::Arc;

use crate::clock::Clock;
use crate::rotation::{AWSCURRENT, AWSPENDING, RotationError, RotationEvent, RotationStep, RotationTarget, SecretMetadata};
use crate::secrets::{SecretError, SecretName, SecretStore, SecretString, SecretValue};
use crate::session::{Purpose, SessionKeyDocument, SessionKeys};

/// Rotates the session-key secret; one per container.
pub struct SessionKeyRotator {
    target: Arc<dyn RotationTarget>,
    clock: Arc<dyn Clock>,
}

impl SessionKeyRotator {
    pub fn new(target: Arc<dyn RotationTarget>, clock: Arc<dyn Clock>) -> Self {
        Self { target, clock }
    }

    pub async fn run(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let metadata = self.target.describe(&event.secret_id).await?;
        if !metadata.rotation_enabled {
            return Err(RotationError::RotationNotEnabled);
        }
        let labels = metadata.versions.get(&event.token).ok_or(RotationError::UnknownVersion)?;
        if labels.iter().any(|l| l == AWSCURRENT) {
            tracing::info!(step = ?event.step, version = %event.token, "session key version is already AWSCURRENT: nothing to do");
            return Ok(());
        }
        if !labels.iter().any(|l| l == AWSPENDING) {
            return Err(RotationError::NotPending);
        }
        match event.step {
            RotationStep::CreateSecret => self.create(event, &metadata).await,
            RotationStep::SetSecret => Ok(()),
            RotationStep::TestSecret => self.test(event, &metadata).await,
            RotationStep::FinishSecret => {
                let current = metadata.version_with(AWSCURRENT).ok_or(RotationError::NoCurrentVersion)?;
                self.pending(event).await?;
                self.target.move_current(&event.secret_id, &event.token, current).await?;
                self.target.clear_pending(&event.secret_id, &event.token).await?;
                tracing::info!(version = %event.token, previous = %current, "finishSecret: the new session key is AWSCURRENT");
                Ok(())
            }
        }
    }

    async fn current(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<SessionKeyDocument, RotationError> {
        let id = metadata.version_with(AWSCURRENT).ok_or(RotationError::NoCurrentVersion)?;
        let value = self.target.value_of_version(&event.secret_id, id, Some(AWSCURRENT)).await?.ok_or(RotationError::NoCurrentVersion)?;
        SessionKeyDocument::parse(value.expose()).map_err(|e| RotationError::CurrentInvalid(e.to_string()))
    }

    async fn pending(&self, event: &RotationEvent) -> Result<SessionKeyDocument, RotationError> {
        let value = self.target.value_of_version(&event.secret_id, &event.token, Some(AWSPENDING)).await?;
        let value = value.filter(|v| !v.expose().trim().is_empty()).ok_or(RotationError::PendingMissing)?;
        SessionKeyDocument::parse(value.expose()).map_err(|e| RotationError::PendingInvalid(e.to_string()))
    }

    async fn create(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        if self.pending(event).await.is_ok() {
            tracing::info!(version = %event.token, "createSecret: the pending session key is already written");
            return Ok(());
        }
        let next = self.current(event, metadata).await?.rotated(self.clock.now_unix()).map_err(|e| RotationError::KeyGeneration(e.to_string()))?;
        self.target.put_pending(&event.secret_id, &event.token, &SecretString::new(next.to_json())).await?;
        tracing::info!(version = %event.token, "createSecret: pending session key written");
        Ok(())
    }

    async fn test(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        let pending = self.pending(event).await?;
        let current = self.current(event, metadata).await?;
        // Continuity: the key that seals cookies now must open them after the switch.
        if pending.previous.as_deref() != Some(current.current.as_str()) || pending.current == current.current {
            return Err(RotationError::ContinuityBroken("session key".into()));
        }
        // The pending document seals and opens (with its own key), and a cookie sealed with the
        // current key opens with it (as previous).
        let name = SecretName::try_from(event.secret_id.clone()).map_err(|_| RotationError::UnknownVersion)?;
        let probe = |value: String| {
            SessionKeys::new(Arc::new(OneValue(Arc::new(SecretValue { value: SecretString::new(value), version: None }))), name.clone())
        };
        let before = probe(current.to_json()).seal(Purpose::Session, b"rotation-probe").await.map_err(|e| RotationError::CurrentInvalid(e.to_string()))?;
        let after = probe(pending.to_json());
        let sealed = after.seal(Purpose::Session, b"rotation-probe").await.map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
        for cookie in [sealed, before] {
            if after.open(Purpose::Session, &cookie).await.ok().as_deref() != Some(b"rotation-probe".as_slice()) {
                return Err(RotationError::SignatureCheckFailed);
            }
        }
        tracing::info!(version = %event.token, "testSecret: the pending session key seals, opens and keeps the current key as previous");
        Ok(())
    }
}

/// One value, for the probe in `testSecret` (the documents, not the store, are under test).
struct OneValue(Arc<SecretValue>);

#[async_trait::async_trait]
impl SecretStore for OneValue {
    async fn get(&self, _: &SecretName) -> Result<Arc<SecretValue>, SecretError> {
        Ok(self.0.clone())
    }
}

/// Whether a rotation event's `SecretId` (an ARN, as Secrets Manager sends it) names `configured`
/// (an ARN, as the template sets it, or the secret's name).
pub fn same_secret(event_id: &str, configured: &str) -> bool {
    if event_id == configured {
        return true;
    }
    // arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>
    let name = |id: &str| id.split_once(":secret:").map(|(_, rest)| rest.rsplit_once('-').map_or(rest, |(n, _)| n).to_string());
    match (name(event_id), name(configured)) {
        (Some(a), Some(b)) => a == b,
        (Some(a), None) => a == configured,
        (None, Some(b)) => b == event_id,
        (None, None) => false,
    }
}
