//! Cold-start wiring shared by the Lambda binaries: the AWS SDK configuration, with timeouts a
//! waiting caller can afford (a slow Secrets Manager is served from the cache meanwhile).
//! Local endpoints come only through the SDK's standard `AWS_ENDPOINT_URL` variables.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::timeout::TimeoutConfig;

use crate::adapters::sdk_http::sdk_http_client;

/// Loads the SDK configuration from the Lambda environment with these timeouts.
///
/// Lambda puts the execution role's credentials and the region in the environment, so those are
/// the only providers: the default chain's profile files, SSO, web-identity (STS), container and
/// instance-metadata providers are never tried (no IMDS probe when credentials are missing).
/// Every client it configures sends through [`sdk_http_client`], the functions' one HTTP/TLS
/// stack, whose trust roots are read on the first request rather than at client construction.
pub async fn aws_sdk_config(connect: Duration, operation: Duration) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(connect)
        .operation_attempt_timeout(operation.min(Duration::from_secs(2)).max(connect))
        .operation_timeout(operation)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .region(EnvironmentVariableRegionProvider::new())
        .timeout_config(timeouts)
        .http_client(sdk_http_client())
        .load()
        .await
}

/// Timeouts for functions on a visitor's request path.
pub const REQUEST_PATH_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const REQUEST_PATH_OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
