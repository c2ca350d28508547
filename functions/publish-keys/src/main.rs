//! Lambda bootstrap for `publish-keys`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use lambda_http::{Error, run, service_fn};
use publish_keys::{Deps, function_handler};
use whoscalling::ServiceConfig;
use whoscalling::secrets::SecretsManagerStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    whoscalling::logging::init_json_logging();
    let config = ServiceConfig::from_env()?;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build();
    let sdk = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    let secrets =
        SecretsManagerStore::new(aws_sdk_secretsmanager::config::Builder::from(&sdk), config.secret_cache_settings()).await?;
    let deps = Deps::new(&config, Arc::new(secrets))?;
    run(service_fn(|request| function_handler(&deps, request))).await
}
