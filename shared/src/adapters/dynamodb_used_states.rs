//! The used-state store over DynamoDB: one conditional `PutItem` per login state, so two
//! concurrent callbacks cannot both win (see `used_states` for why).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::used_states::{UsedStates, UsedStatesUnavailable};

/// DynamoDB table with partition key `state_hash` (S) and TTL attribute `expires_at` (N).
pub struct DynamoUsedStates {
    client: Client,
    table: String,
}

impl DynamoUsedStates {
    pub fn new(config: aws_sdk_dynamodb::Config, table: impl Into<String>) -> Self {
        Self {
            client: Client::from_conf(config),
            table: table.into(),
        }
    }
}

#[async_trait]
impl UsedStates for DynamoUsedStates {
    async fn first_use(&self, key: &str, expires_at: u64, now: u64) -> Result<bool, UsedStatesUnavailable> {
        // TTL deletes only within days of `expires_at`, so an expired item still present must not
        // block a (different, later) use: the condition lets an expired item be overwritten.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("state_hash", AttributeValue::S(key.to_string()))
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .condition_expression("attribute_not_exists(state_hash) OR expires_at <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
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
            Err(error) => {
                // The SDK's text names the operation and cause, never item values.
                let kind = match &error {
                    SdkError::TimeoutError(_) => "timeout",
                    SdkError::DispatchFailure(_) => "unreachable",
                    SdkError::ServiceError(_) => "service error",
                    _ => "request failed",
                };
                let detail = std::error::Error::source(&error)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Err(UsedStatesUnavailable(format!("{kind}: {detail}")))
            }
        }
    }
}
