//! The local run: every endpoint on 127.0.0.1 through the same handlers the Lambdas run, with
//! secrets from `<state-dir>/secrets.json` and a development identity provider under `/dev/`.
//! No AWS account, no Docker.

pub mod check;
mod dev_idp;
mod rotation;
mod server;
mod state;

pub use dev_idp::{DEV_AUDIENCE, DevIdentityProvider};
pub use server::{LocalServer, Options, Stores, serve};
pub use state::FRESHCHAT_KEY_SECRET;
pub use state::{
    CCAI_COMPANY_SECRET, CONNECT_KEY_SECRET, DEV_IDP_KEY_SECRET, DEV_LIVEPERSON_KEY_SECRET, SIGNING_KEYS_SECRET,
    ensure_secrets_file,
};

/// Problems that stop the local run from starting.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0}")]
    Usage(String),
    #[error("state directory: {0}")]
    State(String),
    #[error(transparent)]
    Config(#[from] whoscalling::ConfigError),
    #[error(transparent)]
    DevIdp(#[from] dev_idp::DevIdpError),
    #[error("could not listen: {0}")]
    Listen(#[from] std::io::Error),
}
