//! The rotation protocol's Secrets Manager adapter (the real SDK client, no cache: rotation must
//! see the truth) and the SNS sink for key events.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::keys::PinName;
use crate::rotation::{
    AWSCURRENT, AWSPENDING, KeyEvent, KeyEventKind, KeyEventSink, OPERATOR_CHANGE, RotationError, RotationTarget,
    SecretMetadata,
};
use crate::secrets::SecretString;

/// The Secrets Manager rotation target.
pub struct SecretsManagerRotationTarget {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerRotationTarget {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> RotationError {
    RotationError::SecretsManager(error.code().unwrap_or("no error code").to_string())
}

#[async_trait]
impl RotationTarget for SecretsManagerRotationTarget {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, RotationError> {
        let output = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(SecretMetadata {
            rotation_enabled: output.rotation_enabled().unwrap_or(false),
            versions: output.version_ids_to_stages().cloned().unwrap_or_default(),
        })
    }

    async fn value_of_version(
        &self,
        secret_id: &str,
        version_id: &str,
        stage: Option<&str>,
    ) -> Result<Option<SecretString>, RotationError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_id(version_id)
            .set_version_stage(stage.map(String::from))
            .send()
            .await;
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

    async fn put_current(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        replacing: &str,
    ) -> Result<(), RotationError> {
        // Written under a label of its own, then AWSCURRENT moved explicitly, as finishSecret
        // does: a version with no label could be cleaned up by Secrets Manager, and the explicit
        // move keeps exactly one AWSCURRENT (moto's PutSecretValue with AWSCURRENT leaves the
        // label on a version an earlier UpdateSecretVersionStage made current).
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(OPERATOR_CHANGE)
            .send()
            .await
            .map_err(sdk_error)?;
        self.move_current(secret_id, token, replacing).await?;
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(OPERATOR_CHANGE)
            .remove_from_version_id(token)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

/// Publishes key events to an SNS topic (the template's `KeyEventsTopic`).
pub struct SnsKeyEvents {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsKeyEvents {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

#[async_trait]
impl KeyEventSink for SnsKeyEvents {
    async fn publish(&self, event: &KeyEvent) -> Result<(), RotationError> {
        let subject = match event.event {
            KeyEventKind::ScheduledRotation => "whoscalling: signing keys rotated (pinned keys unchanged)".to_string(),
            KeyEventKind::PinnedKeyStaged => format!(
                "whoscalling: a successor is staged for pinned key {}",
                event.pinned_key.as_ref().map(PinName::as_str).unwrap_or("-")
            ),
            KeyEventKind::PinnedKeySwitched => format!(
                "whoscalling: pinned key {} switched: paste the new key now",
                event.pinned_key.as_ref().map(PinName::as_str).unwrap_or("-")
            ),
        };
        let message = serde_json::to_string_pretty(event)
            .map_err(|_| RotationError::Notification("unserializable event".into()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|error| RotationError::Notification(error.code().unwrap_or("no error code").to_string()))?;
        Ok(())
    }
}
