//! The cold-start checks of every function, without AWS: what `check-config` runs on an
//! operator's document before a deploy, and what the template test runs on each function's
//! rendered environment.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use whoscalling::openid_provider::MemoryGrantStore;
use whoscalling::secrets::{SecretError, SecretName, SecretStore, SecretValue};
use whoscalling::{ServiceConfig, SystemClock};

/// Cold start reads no secret (they are read through the cache on the first request), so the
/// wiring gets a store that has none.
struct NoSecrets;

#[async_trait]
impl SecretStore for NoSecrets {
    async fn get(&self, name: &SecretName) -> Result<Arc<SecretValue>, SecretError> {
        Err(SecretError::NotFound { name: name.clone() })
    }
}

/// A function of `template.yaml`, by its logical id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    MintToken,
    PublishKeys,
    RotateKeys,
    ExchangeCode,
    VisitorLogin,
}

impl Function {
    pub fn logical_id(self) -> &'static str {
        match self {
            Function::MintToken => "MintTokenFunction",
            Function::PublishKeys => "PublishKeysFunction",
            Function::RotateKeys => "RotateKeysFunction",
            Function::ExchangeCode => "ExchangeCodeFunction",
            Function::VisitorLogin => "VisitorLoginFunction",
        }
    }

    pub fn from_logical_id(id: &str) -> Option<Self> {
        [
            Function::MintToken,
            Function::PublishKeys,
            Function::RotateKeys,
            Function::ExchangeCode,
            Function::VisitorLogin,
        ]
        .into_iter()
        .find(|f| f.logical_id() == id)
    }
}

/// What a function's `main` does with its environment at cold start, short of AWS clients: the
/// config loader, then the function's own wiring (in-memory stores; nothing is read). The error
/// is the one the function would stop with.
pub fn cold_start(function: Function, lookup: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    let secrets: Arc<dyn SecretStore> = Arc::new(NoSecrets);
    let clock = Arc::new(SystemClock);
    if function == Function::RotateKeys {
        return rotate_keys::Config::from_lookup(&lookup)
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let config = ServiceConfig::from_lookup(&lookup).map_err(|e| e.to_string())?;
    let wired = match function {
        Function::MintToken => mint_token::Deps::from_config(&config, secrets, clock).map(drop),
        Function::PublishKeys => publish_keys::Deps::new(&config, secrets).map(drop),
        Function::ExchangeCode => config.grants_table().and_then(|_| {
            exchange_code::Deps::from_config(&config, Arc::new(MemoryGrantStore::new()), secrets, clock).map(drop)
        }),
        Function::VisitorLogin => visitor_login::used_states_table(&lookup)
            .and_then(|_| visitor_login::Deps::new(&config, secrets, clock).map(drop)),
        Function::RotateKeys => Ok(()),
    };
    wired.map_err(|e| e.to_string())
}

/// Values the template gives every function that `check-config` cannot know before the deploy
/// (names CloudFormation generates); stand-ins of the same shape. Template parameters
/// (`WHOSCALLING_ALLOWED_ORIGINS`, `WHOSCALLING_PUBLIC_URL`, ...) have none: they must be given,
/// so a malformed origin or URL is caught here rather than at cold start.
pub fn generated_stand_ins(stack_name: &str) -> BTreeMap<String, String> {
    [
        ("WHOSCALLING_SECRET_PREFIX", format!("whoscalling/{stack_name}")),
        (
            "WHOSCALLING_SIGNING_KEYS_SECRET",
            format!("whoscalling/{stack_name}/signing-keys"),
        ),
        (
            "WHOSCALLING_GRANTS_TABLE",
            format!("{stack_name}-GrantsTable-1A2B3C4D5E6F7"),
        ),
        (
            "WHOSCALLING_USED_STATES_TABLE",
            format!("{stack_name}-UsedLoginStatesTable-1A2B3C4D5E6F7"),
        ),
        (
            "WHOSCALLING_KEY_EVENTS_TOPIC",
            format!("arn:aws:sns:eu-west-1:123456789012:{stack_name}-KeyEventsTopic-1A2B3C4D5E6F"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The functions a document makes the template create: the OpenID provider's with a `provider`
/// section, the visitor login's with an `upstream` one.
pub fn functions_for(config: &ServiceConfig) -> Vec<Function> {
    let mut functions = vec![Function::MintToken, Function::PublishKeys, Function::RotateKeys];
    if config.provider.is_some() {
        functions.push(Function::ExchangeCode);
    }
    if config.upstream.is_some() {
        functions.push(Function::VisitorLogin);
    }
    functions
}
