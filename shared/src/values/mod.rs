//! Plain values every layer may use: the verified visitor's claims and their hygiene, where an
//! identity comes from, JWS and JWE algorithm names, secret and
//! key-slot names, and what the page sent in a token request's body. Pure: this layer imports
//! nothing from the crate.

pub mod algorithm;
pub mod claims;
pub mod encryption;
pub mod hygiene;
pub mod names;
pub mod page;
pub mod source;

pub use algorithm::{JwsAlgorithm, SigningAlgorithm};
pub use claims::VerifiedClaims;
pub(crate) use claims::valid_subject;
pub use encryption::{ContentEncryption, KeyEncryption};
pub use names::{PinName, SecretName};
pub use page::{PageInput, PageInputError};
pub use source::IdentitySource;
