//! Lambda bootstrap for `mint-token`: logging, configuration, AWS clients, then the runtime loop.

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use mint_token::{Deps, function_handler};
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::bootstrap::{REQUEST_PATH_CONNECT_TIMEOUT, REQUEST_PATH_OPERATION_TIMEOUT, aws_sdk_config};
use whoscalling::{ServiceConfig, SystemClock};

#[tokio::main]
async fn main() -> Result<(), Error> {
    whoscalling::logging::init_json_logging();
    let config = ServiceConfig::from_env()?;

    let sdk = aws_sdk_config(REQUEST_PATH_CONNECT_TIMEOUT, REQUEST_PATH_OPERATION_TIMEOUT).await;
    let secrets = SecretsManagerStore::new(
        aws_sdk_secretsmanager::config::Builder::from(&sdk),
        config.secret_cache_settings(),
    )
    .await?;
    let deps = Deps::from_config(&config, Arc::new(secrets), Arc::new(SystemClock))?;

    run(service_fn(|request| function_handler(&deps, request))).await
}
