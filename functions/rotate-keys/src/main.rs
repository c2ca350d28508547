//! Lambda bootstrap for `rotate-keys`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use lambda_runtime::{Error, run, service_fn};
use rotate_keys::{Config, Deps, function_handler};
use whoscalling::SystemClock;
use whoscalling::rotation::SecretsManagerRotationTarget;

#[tokio::main]
async fn main() -> Result<(), Error> {
    whoscalling::logging::init_json_logging();
    let config = Config::from_env()?;
    let timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).operation_timeout(Duration::from_secs(10)).build();
    let sdk = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    let target = SecretsManagerRotationTarget::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let deps = Deps::new(&config, Arc::new(target), Arc::new(SystemClock));
    run(service_fn(|event| function_handler(&deps, event))).await
}
