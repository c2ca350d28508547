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
use crate::rotation::{
    AWSCURRENT, AWSPENDING, RotationError, RotationEvent, RotationStep, RotationTarget, SecretMetadata, step_applies,
};
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
        if !step_applies(&metadata, event)? {
            return Ok(());
        }
        match event.step {
            RotationStep::CreateSecret => self.create(event, &metadata).await,
            RotationStep::SetSecret => Ok(()),
            RotationStep::TestSecret => self.test(event, &metadata).await,
            RotationStep::FinishSecret => {
                let current = metadata
                    .version_with(AWSCURRENT)
                    .ok_or(RotationError::NoCurrentVersion)?;
                self.pending(event).await?;
                self.target
                    .move_current(&event.secret_id, &event.token, current)
                    .await?;
                self.target.clear_pending(&event.secret_id, &event.token).await?;
                tracing::info!(version = %event.token, previous = %current, "finishSecret: the new session key is AWSCURRENT");
                Ok(())
            }
        }
    }

    async fn current(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
    ) -> Result<SessionKeyDocument, RotationError> {
        let id = metadata
            .version_with(AWSCURRENT)
            .ok_or(RotationError::NoCurrentVersion)?;
        let value = self
            .target
            .value_of_version(&event.secret_id, id, Some(AWSCURRENT))
            .await?
            .ok_or(RotationError::NoCurrentVersion)?;
        SessionKeyDocument::parse(value.expose()).map_err(|e| RotationError::CurrentInvalid(e.to_string()))
    }

    async fn pending(&self, event: &RotationEvent) -> Result<SessionKeyDocument, RotationError> {
        let value = self
            .target
            .value_of_version(&event.secret_id, &event.token, Some(AWSPENDING))
            .await?;
        let value = value
            .filter(|v| !v.expose().trim().is_empty())
            .ok_or(RotationError::PendingMissing)?;
        SessionKeyDocument::parse(value.expose()).map_err(|e| RotationError::PendingInvalid(e.to_string()))
    }

    async fn create(&self, event: &RotationEvent, metadata: &SecretMetadata) -> Result<(), RotationError> {
        if self.pending(event).await.is_ok() {
            tracing::info!(version = %event.token, "createSecret: the pending session key is already written");
            return Ok(());
        }
        let next = self
            .current(event, metadata)
            .await?
            .rotated(self.clock.now_unix())
            .map_err(|e| RotationError::KeyGeneration(e.to_string()))?;
        self.target
            .put_pending(&event.secret_id, &event.token, &SecretString::new(next.to_json()))
            .await?;
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
            // By the rotation's clock, and with no end to the grace: this checks the keys, not the time.
            SessionKeys::new(
                Arc::new(OneValue(Arc::new(SecretValue {
                    value: SecretString::new(value),
                    version: None,
                }))),
                name.clone(),
            )
            .with_grace(self.clock.clone(), u64::MAX)
        };
        let before = probe(current.to_json())
            .seal(Purpose::Session, b"rotation-probe")
            .await
            .map_err(|e| RotationError::CurrentInvalid(e.to_string()))?;
        let after = probe(pending.to_json());
        let sealed = after
            .seal(Purpose::Session, b"rotation-probe")
            .await
            .map_err(|e| RotationError::PendingInvalid(e.to_string()))?;
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
    let name = |id: &str| {
        id.split_once(":secret:")
            .map(|(_, rest)| rest.rsplit_once('-').map_or(rest, |(n, _)| n).to_string())
    };
    match (name(event_id), name(configured)) {
        (Some(a), Some(b)) => a == b,
        (Some(a), None) => a == configured,
        (None, Some(b)) => b == event_id,
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A version's value (none until written) and labels.
    type Version = (Option<String>, Vec<String>);

    /// Secrets Manager as rotation sees it: version id -> version.
    struct Fake(Mutex<HashMap<String, Version>>);

    impl Fake {
        fn with_current(value: &str) -> Arc<Self> {
            Arc::new(Fake(Mutex::new(HashMap::from([(
                "v0".to_string(),
                (Some(value.to_string()), vec![AWSCURRENT.to_string()]),
            )]))))
        }
        fn start(&self, token: &str) {
            self.0
                .lock()
                .unwrap()
                .insert(token.into(), (None, vec![AWSPENDING.into()]));
        }
        fn value(&self, id: &str) -> Option<String> {
            self.0.lock().unwrap().get(id).and_then(|(v, _)| v.clone())
        }
        fn set(&self, id: &str, value: &str) {
            if let Some(entry) = self.0.lock().unwrap().get_mut(id) {
                entry.0 = Some(value.into());
            }
        }
    }

    #[async_trait::async_trait]
    impl RotationTarget for Fake {
        async fn describe(&self, _: &str) -> Result<SecretMetadata, RotationError> {
            let versions = self
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|(id, (_, labels))| (id.clone(), labels.clone()))
                .collect();
            Ok(SecretMetadata {
                rotation_enabled: true,
                versions,
            })
        }
        async fn value_of_version(
            &self,
            _: &str,
            id: &str,
            _: Option<&str>,
        ) -> Result<Option<SecretString>, RotationError> {
            Ok(self.value(id).map(SecretString::new))
        }
        async fn put_pending(&self, _: &str, token: &str, value: &SecretString) -> Result<(), RotationError> {
            self.set(token, value.expose());
            Ok(())
        }
        async fn move_current(&self, _: &str, to: &str, from: &str) -> Result<(), RotationError> {
            let mut versions = self.0.lock().unwrap();
            if let Some((_, labels)) = versions.get_mut(from) {
                labels.retain(|l| l != AWSCURRENT);
            }
            if let Some((_, labels)) = versions.get_mut(to) {
                labels.push(AWSCURRENT.into());
            }
            Ok(())
        }
        async fn clear_pending(&self, _: &str, id: &str) -> Result<(), RotationError> {
            if let Some((_, labels)) = self.0.lock().unwrap().get_mut(id) {
                labels.retain(|l| l != AWSPENDING);
            }
            Ok(())
        }
        async fn put_current(&self, _: &str, _: &str, _: &SecretString, _: &str) -> Result<(), RotationError> {
            Err(RotationError::NotConfigured("not used by the session key"))
        }
    }

    fn event(step: RotationStep, token: &str) -> RotationEvent {
        RotationEvent {
            step,
            secret_id: "session".into(),
            token: token.into(),
        }
    }

    #[tokio::test]
    async fn a_rotation_keeps_the_current_key_as_previous_and_repeats_safely() {
        let legacy = "k".repeat(64);
        let fake = Fake::with_current(&legacy);
        let rotator = SessionKeyRotator::new(fake.clone(), Arc::new(FixedClock::at(5_000)));
        fake.start("t1");
        rotator.run(&event(RotationStep::CreateSecret, "t1")).await.unwrap();
        let written = fake.value("t1").unwrap();
        rotator.run(&event(RotationStep::CreateSecret, "t1")).await.unwrap();
        assert_eq!(
            fake.value("t1").unwrap(),
            written,
            "a repeated createSecret writes nothing new"
        );
        let document = SessionKeyDocument::parse(&written).unwrap();
        assert_eq!(
            (document.previous.as_deref(), document.rotated_at),
            (Some(legacy.as_str()), 5_000)
        );
        for step in [
            RotationStep::SetSecret,
            RotationStep::TestSecret,
            RotationStep::FinishSecret,
            RotationStep::FinishSecret,
        ] {
            rotator.run(&event(step, "t1")).await.unwrap();
        }
        assert_eq!(
            fake.describe("session").await.unwrap().version_with(AWSCURRENT),
            Some("t1")
        );
    }

    #[tokio::test]
    async fn test_secret_refuses_a_pending_document_that_breaks_continuity_or_is_unusable() {
        let current = SessionKeyDocument::parse(&"k".repeat(64)).unwrap().rotated(1).unwrap();
        let stranger = SessionKeyDocument::parse(&"s".repeat(64)).unwrap().rotated(2).unwrap();
        let cases = [
            (stranger.to_json(), "ContinuityBroken"),
            (current.to_json(), "ContinuityBroken"),
            ("short".to_string(), "PendingInvalid"),
            ("{\"current\": 1}".to_string(), "PendingInvalid"),
            (" ".to_string(), "PendingMissing"),
        ];
        for (pending, expected) in cases {
            let fake = Fake::with_current(&current.to_json());
            let rotator = SessionKeyRotator::new(fake.clone(), Arc::new(FixedClock::at(10)));
            fake.start("t");
            fake.set("t", &pending);
            let error = rotator.run(&event(RotationStep::TestSecret, "t")).await.unwrap_err();
            assert_eq!(error.name(), expected, "{pending}");
        }
        // The control: what createSecret writes passes.
        let fake = Fake::with_current(&current.to_json());
        let rotator = SessionKeyRotator::new(fake.clone(), Arc::new(FixedClock::at(10)));
        fake.start("t");
        rotator.run(&event(RotationStep::CreateSecret, "t")).await.unwrap();
        rotator.run(&event(RotationStep::TestSecret, "t")).await.unwrap();
    }

    #[test]
    fn secrets_are_matched_by_arn_or_name() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:whoscalling/app/session-key-Ab12Cd";
        assert!(same_secret(arn, arn));
        assert!(same_secret(arn, "whoscalling/app/session-key"));
        assert!(same_secret(
            "whoscalling/app/session-key",
            "whoscalling/app/session-key"
        ));
        assert!(!same_secret(arn, "whoscalling/app/signing-keys"));
        assert!(!same_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:whoscalling/app/signing-keys-Ab12Cd",
            arn
        ));
        assert!(!same_secret(arn, "whoscalling/app/session"));
    }
}
