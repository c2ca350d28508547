//! whoscalling: hand a verified visitor identity to a contact-centre chat platform.
//!
//! The functions under `functions/` are thin handlers over this crate: configuration
//! ([`config`]), verified identity ([`identity`]), claim mapping and masking ([`mapping`]), the
//! chat platforms, one module each ([`platforms`]), signing ([`signing`]), secrets ([`secrets`])
//! and the HTTP conventions shared by every endpoint ([`http`]).
//!
//! The modules are layered, each using only those below it: infrastructure ([`clock`],
//! [`logging`], [`metrics`]) <- [`values`] <- pure ([`mapping`], [`platforms`]) <- domain (identity,
//! keys, signing, sessions, secrets, rotation, grants, with their store traits) <- [`adapters`]
//! <- [`config`] <- services ([`mint`], [`openid_provider`], [`upstream_login`]) <- [`http`].
//! `tests/tests/architecture.rs` enforces it; `docs/ARCHITECTURE.md` explains it.

pub mod adapters;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod grants;
pub mod http;
pub mod identity;
pub mod jwe;
pub mod keys;
pub mod logging;
pub mod mapping;
pub mod metrics;
pub mod mint;
pub mod openid_provider;
pub mod platforms;
pub mod rotation;
pub mod secrets;
pub mod session;
pub mod session_rotation;
pub mod signing;
pub mod upstream_login;
pub mod used_states;
pub mod values;

pub use clock::{Clock, SystemClock};
pub use config::{ConfigError, ServiceConfig};
pub use identity::{IdentityError, IdentityVerifier};
pub use mint::{MintError, MintService, MintedToken};
pub use secrets::{SecretError, SecretName, SecretStore, SecretString};
pub use values::VerifiedClaims;
