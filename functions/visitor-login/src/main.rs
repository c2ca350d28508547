//! Lambda bootstrap for `visitor-login`: logging, configuration, AWS clients, then the runtime loop.

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use visitor_login::{Deps, function_handler, used_states_table};
use whoscalling::adapters::DynamoUsedStates;
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::bootstrap::{REQUEST_PATH_CONNECT_TIMEOUT, REQUEST_PATH_OPERATION_TIMEOUT, aws_sdk_config};
use whoscalling::{ServiceConfig, SystemClock};

#[tokio::main]
async fn main() -> Result<(), Error> {
    whoscalling::logging::init_json_logging();
    let config = ServiceConfig::from_env()?;
    let table = used_states_table(|name| std::env::var(name).ok())?;
    let sdk = aws_sdk_config(REQUEST_PATH_CONNECT_TIMEOUT, REQUEST_PATH_OPERATION_TIMEOUT).await;
    let secrets = SecretsManagerStore::new(
        aws_sdk_secretsmanager::config::Builder::from(&sdk),
        config.secret_cache_settings(),
    )
    .await?;
    let used_states = DynamoUsedStates::new(aws_sdk_dynamodb::config::Builder::from(&sdk).build(), table);
    let deps = Deps::with_used_states(&config, Arc::new(secrets), Arc::new(SystemClock), Arc::new(used_states))?;
    run(service_fn(|request| function_handler(&deps, request))).await
}
