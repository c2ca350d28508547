//! JWE algorithm names (RFC 7518): which key wrapping and content encryption a platform asks for.
//! The cryptography behind each name lives in `jwe`.

/// JWE key management algorithm (`alg`): how the random content-encryption key is wrapped for
/// the recipient's RSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub enum KeyEncryption {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 7518 4.3). The default.
    #[default]
    #[serde(rename = "RSA-OAEP-256")]
    RsaOaep256,
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1 (RFC 7518 4.3), for recipients that only know this.
    #[serde(rename = "RSA-OAEP")]
    RsaOaep,
}

impl KeyEncryption {
    /// The JOSE name, as written in the `alg` header member.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::RsaOaep => "RSA-OAEP",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Self::RsaOaep256, Self::RsaOaep]
            .into_iter()
            .find(|alg| alg.name() == name)
    }
}

/// JWE content encryption algorithm (`enc`): how the JWT itself is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
pub enum ContentEncryption {
    /// AES-256-GCM (RFC 7518 5.3). The default.
    #[default]
    #[serde(rename = "A256GCM")]
    A256Gcm,
    /// AES-128-GCM (RFC 7518 5.3).
    #[serde(rename = "A128GCM")]
    A128Gcm,
}

impl ContentEncryption {
    /// The JOSE name, as written in the `enc` header member.
    pub fn name(self) -> &'static str {
        match self {
            Self::A256Gcm => "A256GCM",
            Self::A128Gcm => "A128GCM",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Self::A256Gcm, Self::A128Gcm]
            .into_iter()
            .find(|enc| enc.name() == name)
    }

    /// Content-encryption key length in bytes (RFC 7518 5.3).
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::A256Gcm => 32,
            Self::A128Gcm => 16,
        }
    }
}
