//! Lambda bootstrap for `exchange-code`: logging, configuration, AWS clients, then the runtime loop.

use std::sync::Arc;

use exchange_code::{Deps, function_handler};
use lambda_http::{Error, run, service_fn};
use whoscalling::adapters::DynamoGrantStore;
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::bootstrap::{REQUEST_PATH_CONNECT_TIMEOUT, REQUEST_PATH_OPERATION_TIMEOUT, aws_sdk_config};
use whoscalling::{ServiceConfig, SystemClock};

#[tokio::main]
async fn main() -> Result<(), Error> {
    whoscalling::logging::init_json_logging();
    let config = ServiceConfig::from_env()?;
    let table = config.grants_table()?;

    let sdk = aws_sdk_config(REQUEST_PATH_CONNECT_TIMEOUT, REQUEST_PATH_OPERATION_TIMEOUT).await;
    let secrets = SecretsManagerStore::new(
        aws_sdk_secretsmanager::config::Builder::from(&sdk),
        config.secret_cache_settings(),
    )
    .await?;
    let grants = DynamoGrantStore::new(aws_sdk_dynamodb::config::Builder::from(&sdk).build(), table);
    let deps = Deps::from_config(&config, Arc::new(grants), Arc::new(secrets), Arc::new(SystemClock))?;

    run(service_fn(|request| function_handler(&deps, request))).await
}
