//! Grants in DynamoDB: one item per grant, partition key `grant_id`, TTL attribute `expires_at`.
//!
//! Single use rests on DynamoDB's conditional writes, not on a read followed by a write:
//! redemption is one `UpdateItem` whose condition is "issued, code hash matches, not expired",
//! so two concurrent exchanges of one code cannot both succeed. TTL deletion is lazy (hours), so
//! expiry is always checked in the condition too; TTL only keeps the table small.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::grants::{Grant, GrantStatus, GrantStore, GrantStoreError, StoredGrant};

pub struct DynamoGrantStore {
    client: Client,
    table: String,
}

impl DynamoGrantStore {
    pub fn new(config: aws_sdk_dynamodb::Config, table: impl Into<String>) -> Self {
        Self {
            client: Client::from_conf(config),
            table: table.into(),
        }
    }
}

/// The SDK's error text names the operation and the cause (never item values); the
/// distinction callers need is only "conditional check failed" versus "unavailable".
fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(error: SdkError<E, R>) -> GrantStoreError {
    let kind = match &error {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "unreachable",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "request failed",
    };
    let detail = std::error::Error::source(&error)
        .map(ToString::to_string)
        .unwrap_or_default();
    GrantStoreError::Unavailable(format!("{kind}: {detail}"))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}
fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &'static str) -> Result<&'a str, GrantStoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or(GrantStoreError::Corrupt(name))
}
fn get_n(item: &HashMap<String, AttributeValue>, name: &'static str) -> Result<u64, GrantStoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(GrantStoreError::Corrupt(name))
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<StoredGrant, GrantStoreError> {
    let grant: Grant = serde_json::from_str(get_s(item, "grant")?).map_err(|_| GrantStoreError::Corrupt("grant"))?;
    let status = GrantStatus::parse(get_s(item, "status")?).ok_or(GrantStoreError::Corrupt("status"))?;
    let access_hash = item
        .contains_key("access_hash")
        .then(|| get_s(item, "access_hash").map(str::to_string))
        .transpose()?;
    let access_expires_at = item
        .contains_key("access_expires_at")
        .then(|| get_n(item, "access_expires_at"))
        .transpose()?;
    Ok(StoredGrant {
        grant,
        status,
        code_hash: get_s(item, "code_hash")?.to_string(),
        code_expires_at: get_n(item, "code_expires_at")?,
        access_hash,
        access_expires_at,
    })
}

#[async_trait]
impl GrantStore for DynamoGrantStore {
    async fn create(
        &self,
        grant_id: &str,
        grant: &Grant,
        code_hash: &str,
        code_expires_at: u64,
    ) -> Result<(), GrantStoreError> {
        let grant_json = serde_json::to_string(grant).map_err(|_| GrantStoreError::Corrupt("grant"))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("grant_id", s(grant_id))
            .item("status", s(GrantStatus::Issued.as_str()))
            .item("code_hash", s(code_hash))
            .item("code_expires_at", n(code_expires_at))
            .item("expires_at", n(code_expires_at))
            .item("grant", s(&grant_json))
            .condition_expression("attribute_not_exists(grant_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(GrantStoreError::Collision)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn load(&self, grant_id: &str) -> Result<Option<StoredGrant>, GrantStoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("grant_id", s(grant_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item().map(from_item).transpose()
    }

    async fn redeem(
        &self,
        grant_id: &str,
        code_hash: &str,
        now: u64,
        access_hash: &str,
        access_expires_at: u64,
    ) -> Result<bool, GrantStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("grant_id", s(grant_id))
            .update_expression("SET #status = :redeemed, access_hash = :access_hash, access_expires_at = :access_exp, expires_at = :access_exp")
            .condition_expression("#status = :issued AND code_hash = :code_hash AND code_expires_at > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":redeemed", s(GrantStatus::Redeemed.as_str()))
            .expression_attribute_values(":issued", s(GrantStatus::Issued.as_str()))
            .expression_attribute_values(":access_hash", s(access_hash))
            .expression_attribute_values(":access_exp", n(access_expires_at))
            .expression_attribute_values(":code_hash", s(code_hash))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn revoke(&self, grant_id: &str) -> Result<(), GrantStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("grant_id", s(grant_id))
            .update_expression("SET #status = :revoked")
            .condition_expression("#status = :redeemed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":revoked", s(GrantStatus::Revoked.as_str()))
            .expression_attribute_values(":redeemed", s(GrantStatus::Redeemed.as_str()))
            .send()
            .await;
        match result {
            // Already revoked (or gone): the outcome the caller wants.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(unavailable(error)),
            Ok(_) => Ok(()),
        }
    }
}
