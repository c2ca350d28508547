//! Key rotation in the local run: the deployed rotation protocol and pinned-key commands, run
//! against the signing-key entry of `secrets.json` instead of Secrets Manager.
//!
//! `POST /dev/rotate-keys` runs one full scheduled rotation (`createSecret`, `setSecret`,
//! `testSecret`, `finishSecret`, the same [`KeyRotator`] the Lambda runs), and
//! `POST /dev/pinned-keys/{pin}/stage|switch` the operator's commands, so what a pasted-key
//! console sees across rotations can be tried without AWS. `POST /dev/rotate-session-key` runs
//! the session key's rotation (the same [`SessionKeyRotator`]) on the session-key entry: sessions
//! go on, sealed with the new key, and the old one opens cookies for the grace period.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use whoscalling::clock::Clock;
use whoscalling::keys::PinName;
use whoscalling::rotation::{
    AWSCURRENT, AWSPENDING, KeyEvent, KeyEventSink, KeyRotator, PinnedKeyAction, PinnedKeyCommand, RotationError,
    RotationEvent, RotationSettings, RotationStep, RotationTarget, SecretMetadata,
};
use whoscalling::secrets::SecretString;
use whoscalling::session_rotation::SessionKeyRotator;
use whoscalling::signing::SigningAlgorithm;

use crate::state::{SESSION_KEY_SECRET, SIGNING_KEYS_SECRET, write_private};

/// One entry of `secrets.json` (the signing keys, or the session key) seen as a secret with
/// versions: the file holds `AWSCURRENT`; a pending version lives in memory for the length of
/// one rotation.
struct LocalKeySecret {
    path: PathBuf,
    entry: &'static str,
    versions: Mutex<Versions>,
}

struct Versions {
    current: String,
    /// Version id and value (`None` until `createSecret` writes it).
    pending: Option<(String, Option<String>)>,
}

impl LocalKeySecret {
    fn read_file(&self) -> Result<BTreeMap<String, String>, RotationError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| RotationError::SecretsManager(format!("{}: {e}", self.path.display())))?;
        serde_json::from_str(&text)
            .map_err(|_| RotationError::SecretsManager(format!("{} is not a JSON object", self.path.display())))
    }

    fn write_current(&self, value: &SecretString) -> Result<(), RotationError> {
        let mut secrets = self.read_file()?;
        secrets.insert(self.entry.to_string(), value.expose().to_string());
        let text = serde_json::to_string_pretty(&secrets)
            .map_err(|_| RotationError::SecretsManager("unserializable".into()))?;
        write_private(&self.path, &text).map_err(|e| RotationError::SecretsManager(e.to_string()))
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, Versions> {
        self.versions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RotationTarget for LocalKeySecret {
    async fn describe(&self, _: &str) -> Result<SecretMetadata, RotationError> {
        let versions = self.versions();
        let mut labels = HashMap::from([(versions.current.clone(), vec![AWSCURRENT.to_string()])]);
        if let Some((id, _)) = &versions.pending {
            labels.insert(id.clone(), vec![AWSPENDING.to_string()]);
        }
        Ok(SecretMetadata {
            rotation_enabled: true,
            versions: labels,
        })
    }

    async fn value_of_version(
        &self,
        _: &str,
        version_id: &str,
        _: Option<&str>,
    ) -> Result<Option<SecretString>, RotationError> {
        let is_current = self.versions().current == version_id;
        if is_current {
            return Ok(self.read_file()?.get(self.entry).cloned().map(SecretString::new));
        }
        let versions = self.versions();
        Ok(versions
            .pending
            .as_ref()
            .filter(|(id, _)| id == version_id)
            .and_then(|(_, v)| v.clone())
            .map(SecretString::new))
    }

    async fn put_pending(&self, _: &str, token: &str, value: &SecretString) -> Result<(), RotationError> {
        let mut versions = self.versions();
        match versions.pending.as_mut() {
            Some((id, slot)) if id == token => *slot = Some(value.expose().to_string()),
            _ => return Err(RotationError::UnknownVersion),
        }
        Ok(())
    }

    async fn move_current(&self, _: &str, to: &str, _: &str) -> Result<(), RotationError> {
        let value = {
            let versions = self.versions();
            versions
                .pending
                .as_ref()
                .filter(|(id, _)| id == to)
                .and_then(|(_, v)| v.clone())
                .ok_or(RotationError::PendingMissing)?
        };
        self.write_current(&SecretString::new(value))?;
        self.versions().current = to.to_string();
        Ok(())
    }

    async fn clear_pending(&self, _: &str, version_id: &str) -> Result<(), RotationError> {
        let mut versions = self.versions();
        if versions.pending.as_ref().is_some_and(|(id, _)| id == version_id) {
            versions.pending = None;
        }
        Ok(())
    }

    async fn put_current(&self, _: &str, token: &str, value: &SecretString, _: &str) -> Result<(), RotationError> {
        self.write_current(value)?;
        self.versions().current = token.to_string();
        Ok(())
    }
}

/// Key events in the local run: logged, and the latest kept for the endpoint's answer.
#[derive(Default)]
struct LatestKeyEvent(Mutex<Option<KeyEvent>>);

#[async_trait]
impl KeyEventSink for LatestKeyEvent {
    async fn publish(&self, event: &KeyEvent) -> Result<(), RotationError> {
        tracing::info!(key_event = ?event.event, pinned_key = ?event.pinned_key, version = %event.version, "key event");
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(event.clone());
        Ok(())
    }
}

/// The local run's rotation function.
pub struct LocalRotation {
    secret: Arc<LocalKeySecret>,
    rotator: KeyRotator,
    session_secret: Arc<LocalKeySecret>,
    session_rotator: SessionKeyRotator,
    events: Arc<LatestKeyEvent>,
    /// One rotation or command at a time, as Secrets Manager allows one rotation per secret.
    busy: tokio::sync::Mutex<()>,
}

impl LocalRotation {
    pub fn new(secrets_path: PathBuf, pins: Vec<PinName>, clock: Arc<dyn Clock>) -> Self {
        let local = |entry| {
            Arc::new(LocalKeySecret {
                path: secrets_path.clone(),
                entry,
                versions: Mutex::new(Versions {
                    current: "local-initial".into(),
                    pending: None,
                }),
            })
        };
        let secret = local(SIGNING_KEYS_SECRET);
        let session_secret = local(SESSION_KEY_SECRET);
        let session_rotator = SessionKeyRotator::new(session_secret.clone(), clock.clone());
        let events = Arc::new(LatestKeyEvent::default());
        let settings = RotationSettings {
            algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256],
            retention_seconds: 14_400,
            pinned_keys: pins,
            secret_id: Some(SIGNING_KEYS_SECRET.to_string()),
        };
        let rotator = KeyRotator::new(secret.clone(), clock, settings, events.clone());
        Self {
            secret,
            rotator,
            session_secret,
            session_rotator,
            events,
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// One full scheduled rotation; answers the event it announced.
    pub async fn rotate(&self) -> Result<KeyEvent, RotationError> {
        let _one_at_a_time = self.busy.lock().await;
        let token = format!(
            "local-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        self.secret.versions().pending = Some((token.clone(), None));
        for step in [
            RotationStep::CreateSecret,
            RotationStep::SetSecret,
            RotationStep::TestSecret,
            RotationStep::FinishSecret,
        ] {
            let event = RotationEvent {
                step,
                secret_id: SIGNING_KEYS_SECRET.to_string(),
                token: token.clone(),
            };
            if let Err(error) = self.rotator.run(&event).await {
                // As after a failed rotation in AWS: the pending version is left; clear it here
                // so the next try starts clean (nothing signed with it).
                self.secret.versions().pending = None;
                return Err(error);
            }
        }
        self.events
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(RotationError::PendingMissing)
    }

    /// One full rotation of the session key; answers the new version's id.
    pub async fn rotate_session_key(&self) -> Result<String, RotationError> {
        let _one_at_a_time = self.busy.lock().await;
        let token = format!(
            "local-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        self.session_secret.versions().pending = Some((token.clone(), None));
        for step in [
            RotationStep::CreateSecret,
            RotationStep::SetSecret,
            RotationStep::TestSecret,
            RotationStep::FinishSecret,
        ] {
            let event = RotationEvent {
                step,
                secret_id: SESSION_KEY_SECRET.to_string(),
                token: token.clone(),
            };
            if let Err(error) = self.session_rotator.run(&event).await {
                self.session_secret.versions().pending = None;
                return Err(error);
            }
        }
        Ok(token)
    }

    /// An operator's pinned-key command.
    pub async fn pinned(&self, pin: PinName, action: PinnedKeyAction) -> Result<KeyEvent, RotationError> {
        let _one_at_a_time = self.busy.lock().await;
        self.rotator
            .pinned(&PinnedKeyCommand {
                pinned_key: pin,
                action,
            })
            .await
    }
}
