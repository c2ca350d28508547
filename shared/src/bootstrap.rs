//! Cold-start wiring shared by the Lambda binaries: the AWS SDK configuration, with timeouts a
//! waiting caller can afford (a slow Secrets Manager is served from the cache meanwhile).
//! Local endpoints come only through the SDK's standard `AWS_ENDPOINT_URL` variables.
//!
//! Built from the environment alone, without `aws-config`: Lambda puts the execution role's
//! credentials and the region in the environment, so the default chain's profile files, SSO,
//! web-identity (STS), container and instance-metadata providers are never needed, and `aws-config`
//! linked them (and an STS client) into every binary anyway. The standard environment settings an
//! operator may use are read here as the SDK documents them (see [`SdkEnvironment`]).

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_runtime::env_config::EnvConfigValue;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::os_shim_internal::Env;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::adapters::sdk_http::sdk_http_client;

/// The SDK configuration from the Lambda environment, with these timeouts. Every client it
/// configures sends through [`sdk_http_client`], the functions' one HTTP/TLS stack.
pub async fn aws_sdk_config(connect: Duration, operation: Duration) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(connect)
        .operation_attempt_timeout(operation.min(Duration::from_secs(2)).max(connect))
        .operation_timeout(operation)
        .build();
    SdkEnvironment(Env::real()).config(timeouts)
}

/// The SDK settings of an environment (the process's, or a test's):
///
/// - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, read at each
///   request for credentials as the SDK's environment provider does;
/// - region: `AWS_REGION`, else `AWS_DEFAULT_REGION`;
/// - endpoints: `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, ...), else
///   `AWS_ENDPOINT_URL`, both ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`;
/// - `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT` (`true`/`false`);
/// - retries: `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE` (`standard`, the default, or `adaptive`).
#[derive(Debug, Clone)]
pub struct SdkEnvironment(pub Env);

impl SdkEnvironment {
    /// The configuration, with these timeouts.
    pub fn config(&self, timeouts: TimeoutConfig) -> SdkConfig {
        let region = self
            .value("AWS_REGION")
            .or_else(|| self.value("AWS_DEFAULT_REGION"))
            .map(Region::new);
        let mut retries = match self.value("AWS_RETRY_MODE").as_deref() {
            Some(mode) if mode.eq_ignore_ascii_case("adaptive") => RetryConfig::adaptive(),
            _ => RetryConfig::standard(),
        };
        if let Some(attempts) = self.value("AWS_MAX_ATTEMPTS").and_then(|n| n.parse::<u32>().ok()) {
            retries = retries.with_max_attempts(attempts.max(1));
        }
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(SharedCredentialsProvider::new(EnvironmentCredentials(self.0.clone())))
            .region(region)
            .retry_config(retries)
            .timeout_config(timeouts)
            .http_client(sdk_http_client())
            .service_config(EnvironmentEndpoints {
                env: self.0.clone(),
                ignore: self.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").unwrap_or(false),
            });
        if let Some(fips) = self.flag("AWS_USE_FIPS_ENDPOINT") {
            builder = builder.use_fips(fips);
        }
        if let Some(dual_stack) = self.flag("AWS_USE_DUALSTACK_ENDPOINT") {
            builder = builder.use_dual_stack(dual_stack);
        }
        builder.build()
    }

    fn value(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .ok()
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.value(name)
            .and_then(|value| match value.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
    }
}

/// Credentials from the environment, read on each request for them (the SDK caches them).
#[derive(Debug)]
struct EnvironmentCredentials(Env);

impl ProvideCredentials for EnvironmentCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let read = |name: &str| {
            self.0
                .get(name)
                .ok()
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        };
        let credentials = match (read("AWS_ACCESS_KEY_ID"), read("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Ok(Credentials::new(
                access_key,
                secret_key,
                read("AWS_SESSION_TOKEN"),
                None,
                "EnvironmentVariable",
            )),
            _ => Err(CredentialsError::not_loaded(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set",
            )),
        };
        future::ProvideCredentials::ready(credentials)
    }
}

/// Service endpoints from the environment, as the SDK's clients ask for them.
#[derive(Debug)]
struct EnvironmentEndpoints {
    env: Env,
    ignore: bool,
}

impl LoadServiceConfig for EnvironmentEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if self.ignore && key.env() == "AWS_ENDPOINT_URL" {
            return None;
        }
        // The service's own variable first (AWS_ENDPOINT_URL_SECRETS_MANAGER), then the global one.
        let (value, _) = EnvConfigValue::new()
            .env(key.env())
            .service_id(key.service_id())
            .load(&self.env, None)?;
        Some(value.to_string())
    }
}

/// Timeouts for functions on a visitor's request path.
pub const REQUEST_PATH_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const REQUEST_PATH_OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

#[cfg(test)]
mod tests {
    use aws_smithy_types::retry::RetryMode;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        SdkEnvironment(Env::from_slice(vars)).config(TimeoutConfig::disabled())
    }

    fn endpoint(config: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        config.service_config()?.load_config(key)
    }

    #[test]
    fn region_comes_from_aws_region_then_aws_default_region() {
        let both = config(&[("AWS_REGION", "eu-north-1"), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(both.region().map(Region::as_ref), Some("eu-north-1"));
        let default = config(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(default.region().map(Region::as_ref), Some("us-east-1"));
        let blank = config(&[("AWS_REGION", " ")]);
        assert_eq!(blank.region(), None);
    }

    #[tokio::test]
    async fn credentials_come_from_the_environment_or_are_not_loaded() {
        let with_token = config(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        let credentials = with_token
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
        for vars in [
            &[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")][..],
            &[("AWS_SECRET_ACCESS_KEY", "secret")],
            &[],
        ] {
            let error = config(vars)
                .credentials_provider()
                .unwrap()
                .provide_credentials()
                .await
                .unwrap_err();
            assert!(matches!(error, CredentialsError::CredentialsNotLoaded(_)), "{error:?}");
            assert!(!format!("{error:?}").contains("secret"));
        }
    }

    #[test]
    fn endpoints_follow_the_service_variable_then_the_global_one_unless_ignored() {
        let global = config(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]);
        assert_eq!(
            endpoint(&global, "Secrets Manager").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let both = config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:6000"),
        ]);
        assert_eq!(
            endpoint(&both, "Secrets Manager").as_deref(),
            Some("http://127.0.0.1:6000")
        );
        assert_eq!(endpoint(&both, "DynamoDB").as_deref(), Some("http://127.0.0.1:5000"));
        let ignored = config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:6000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(endpoint(&ignored, "Secrets Manager"), None);
        assert_eq!(endpoint(&config(&[]), "Secrets Manager"), None);
    }

    #[test]
    fn fips_dual_stack_and_retries_follow_their_variables() {
        let defaults = config(&[]);
        assert_eq!(defaults.use_fips(), None);
        assert_eq!(defaults.use_dual_stack(), None);
        let retries = defaults.retry_config().unwrap();
        assert_eq!((retries.mode(), retries.max_attempts()), (RetryMode::Standard, 3));
        let set = config(&[
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "FALSE"),
            ("AWS_RETRY_MODE", "adaptive"),
            ("AWS_MAX_ATTEMPTS", "5"),
        ]);
        assert_eq!(set.use_fips(), Some(true));
        assert_eq!(set.use_dual_stack(), Some(false));
        let retries = set.retry_config().unwrap();
        assert_eq!((retries.mode(), retries.max_attempts()), (RetryMode::Adaptive, 5));
        let unreadable = config(&[("AWS_USE_FIPS_ENDPOINT", "yes"), ("AWS_MAX_ATTEMPTS", "many")]);
        assert_eq!(unreadable.use_fips(), None);
        assert_eq!(unreadable.retry_config().unwrap().max_attempts(), 3);
    }
}
