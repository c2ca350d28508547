//! Plain values every layer may use: the verified visitor's claims, claim names, JWS algorithm
//! names. Pure: this layer imports nothing from the rest of the crate.

pub mod algorithm;
pub mod claims;
pub mod hygiene;
pub mod source;

pub use algorithm::JwsAlgorithm;
pub use claims::{VerifiedClaims, valid_subject};
pub use source::IdentitySource;
