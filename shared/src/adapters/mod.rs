//! Adapters: the domain's store and source traits implemented over real infrastructure (AWS
//! Secrets Manager, DynamoDB, SNS, HTTP(S) to identity providers), plus the file and in-memory
//! stores for the local run and tests. Each takes its SDK client or settings in its constructor.

pub mod dynamodb_grants;
pub mod dynamodb_used_states;
pub mod file_secrets;
pub mod http_client;
pub mod jwks;
#[cfg(any(test, feature = "test-util"))]
pub mod memory_secrets;
pub mod oidc_discovery;
pub mod sdk_http;
pub mod secrets_manager;
pub mod secrets_rotation;
pub mod trust_roots;

pub use dynamodb_grants::DynamoGrantStore;
pub use dynamodb_used_states::DynamoUsedStates;
pub use file_secrets::FileSecretStore;
pub use jwks::{HttpJwksSource, JwksCache, JwksCacheSettings};
#[cfg(any(test, feature = "test-util"))]
pub use memory_secrets::InMemorySecretStore;
pub use secrets_manager::SecretsManagerStore;
pub use secrets_rotation::{SecretsManagerRotationTarget, SnsKeyEvents};
