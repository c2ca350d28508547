//! Plain values every layer may use: the verified visitor's claims and their hygiene, where an
//! identity comes from, JWS algorithm names. Pure: this layer imports nothing from the crate.

pub mod algorithm;
pub mod claims;
pub mod hygiene;
pub mod source;

pub use algorithm::JwsAlgorithm;
pub use claims::VerifiedClaims;
pub(crate) use claims::valid_subject;
pub use source::IdentitySource;
