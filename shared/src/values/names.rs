//! Names that are not secret and may be logged: a secret's name or ARN, a pasted-key slot.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name or ARN of a secret in the store. Names are not secret and may be logged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct SecretName(String);

impl SecretName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        // Secrets Manager allows 1-512 characters of this set for names and ARNs.
        let valid = !value.is_empty()
            && value.len() <= 2048
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c));
        if valid {
            Ok(Self(value))
        } else {
            Err(format!("`{value}` is not a valid secret name or ARN"))
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a pasted-key slot: 1-64 of `a-z`, `0-9` and `-` (a profile name by default).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PinName(String);

impl PinName {
    /// A name already checked to be a pin name's subset (a profile name: `PinName::from_profile`
    /// in `config`).
    pub(crate) fn from_checked(value: &str) -> Self {
        Self(value.to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PinName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PinName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("a pinned key name is 1-64 of a-z, 0-9 and -"))
    }
}
