//! The JWS algorithms a token we verify may use: one list, named as in RFC 7518. Converted to
//! each library's own type at the verification edge (`jsonwebtoken` in identity and signing,
//! `openidconnect` in the upstream login), never compared as strings elsewhere.

use std::fmt;

/// An asymmetric JWS algorithm we accept from an identity provider. Symmetric (`HS*`) and
/// `none` are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JwsAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
}

/// The key type an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    /// With the curve the algorithm implies (`P-256` for ES256, `P-384` for ES384).
    Ec(Curve),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl JwsAlgorithm {
    pub const ALL: [JwsAlgorithm; 8] = [
        JwsAlgorithm::RS256,
        JwsAlgorithm::RS384,
        JwsAlgorithm::RS512,
        JwsAlgorithm::PS256,
        JwsAlgorithm::PS384,
        JwsAlgorithm::PS512,
        JwsAlgorithm::ES256,
        JwsAlgorithm::ES384,
    ];

    /// The RFC 7518 name, exactly (case-sensitive: `es256` is not an algorithm).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlgorithm::RS256 => "RS256",
            JwsAlgorithm::RS384 => "RS384",
            JwsAlgorithm::RS512 => "RS512",
            JwsAlgorithm::PS256 => "PS256",
            JwsAlgorithm::PS384 => "PS384",
            JwsAlgorithm::PS512 => "PS512",
            JwsAlgorithm::ES256 => "ES256",
            JwsAlgorithm::ES384 => "ES384",
        }
    }

    pub fn family(self) -> KeyFamily {
        match self {
            JwsAlgorithm::ES256 => KeyFamily::Ec(Curve::P256),
            JwsAlgorithm::ES384 => KeyFamily::Ec(Curve::P384),
            _ => KeyFamily::Rsa,
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for algorithm in JwsAlgorithm::ALL {
            assert_eq!(JwsAlgorithm::parse(algorithm.as_str()), Some(algorithm));
        }
        for name in ["HS256", "none", "es256", "RS256 ", "", "EdDSA"] {
            assert_eq!(JwsAlgorithm::parse(name), None, "{name}");
        }
    }
}

/// The asymmetric algorithms of keys we own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
}

impl SigningAlgorithm {
    pub fn name(self) -> &'static str {
        JwsAlgorithm::from(self).as_str()
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
