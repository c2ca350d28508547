//! Lambda bootstrap for `rotate-keys`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, run, service_fn};
use rotate_keys::{Config, Deps, function_handler};
use whoscalling::SystemClock;
use whoscalling::adapters::{SecretsManagerRotationTarget, SnsKeyEvents};
use whoscalling::rotation::{KeyEventSink, LogKeyEvents};

#[tokio::main]
async fn main() -> Result<(), Error> {
    whoscalling::logging::init_json_logging();
    let config = Config::from_env()?;
    // Rotation is not on a visitor's path: Secrets Manager waits, so allow more time.
    let sdk = whoscalling::bootstrap::aws_sdk_config(Duration::from_secs(2), Duration::from_secs(10)).await;
    let target = SecretsManagerRotationTarget::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let events: Arc<dyn KeyEventSink> = match &config.key_events_topic {
        Some(topic) => Arc::new(SnsKeyEvents::new(aws_sdk_sns::Client::new(&sdk), topic.clone())),
        None => Arc::new(LogKeyEvents),
    };
    let deps = Deps::new(&config, Arc::new(target), Arc::new(SystemClock), events);
    run(service_fn(|event| function_handler(&deps, event))).await
}
