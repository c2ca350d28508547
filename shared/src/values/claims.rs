//! The verified visitor's claims: a value every layer above may hold, built only from a
//! verified source (the identity layer decides which; this type only keeps them clean).

use std::fmt;

use serde_json::{Map, Value};

use super::hygiene;

/// Claims of a verified login. `Debug` shows claim names only: the values are personal data.
#[derive(Clone, PartialEq)]
pub struct VerifiedClaims(Map<String, Value>);

impl VerifiedClaims {
    /// Wraps already-verified claims; `None` unless a JSON object with a usable `sub`. Every
    /// identity source comes through here, so here claims carrying control or invisible
    /// formatting characters are dropped ([`hygiene::clean_claims`]).
    pub fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::Object(mut map) if map.get("sub").and_then(Value::as_str).is_some_and(valid_subject) => {
                hygiene::clean_claims(&mut map);
                Some(Self(map))
            }
            _ => None,
        }
    }

    pub fn get(&self, claim: &str) -> Option<&Value> {
        self.0.get(claim)
    }

    pub fn subject(&self) -> &str {
        self.0.get("sub").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// For the claim policy (masking) only: the claims stay verified, values only get less.
    pub(crate) fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }
}

impl fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("claims", &self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A `sub` we accept: 1-255 characters, no control or invisible formatting characters
/// ([`hygiene::is_forbidden_char`]).
pub(crate) fn valid_subject(sub: &str) -> bool {
    !sub.is_empty() && sub.chars().count() <= 255 && !hygiene::has_forbidden_char(sub)
}
