//! Signing the tokens we mint.
//!
//! Connect's widget token is HS256 with the header exactly `{"alg":"HS256","typ":"JWT"}` (the
//! byte order of Amazon's samples), so the header segment is a constant and only the signature is
//! delegated to `jsonwebtoken`'s crypto backend (aws-lc-rs).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;

use crate::secrets::SecretString;

/// `base64url({"alg":"HS256","typ":"JWT"})`.
pub const HS256_JWT_HEADER_SEGMENT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("claims could not be serialized")]
    Serialize(#[source] serde_json::Error),
    #[error("the signing backend failed")]
    Backend(#[source] jsonwebtoken::errors::Error),
    #[error("the signing key is empty")]
    EmptyKey,
}

/// Signs `claims` as a compact HS256 JWT with the UTF-8 bytes of `key` (as every Amazon Connect
/// sample does: the security key is not base64-decoded).
pub fn sign_hs256_jwt<C: Serialize>(claims: &C, key: &SecretString) -> Result<String, SigningError> {
    if key.expose().is_empty() {
        return Err(SigningError::EmptyKey);
    }
    let payload = serde_json::to_vec(claims).map_err(SigningError::Serialize)?;
    let mut token = String::with_capacity(HS256_JWT_HEADER_SEGMENT.len() + payload.len() * 4 / 3 + 48);
    token.push_str(HS256_JWT_HEADER_SEGMENT);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signing_key = EncodingKey::from_secret(key.expose().as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(token.as_bytes(), &signing_key, Algorithm::HS256).map_err(SigningError::Backend)?;
    token.push('.');
    token.push_str(&signature);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn header_segment_is_the_exact_connect_header() {
        let decoded = URL_SAFE_NO_PAD.decode(HS256_JWT_HEADER_SEGMENT).unwrap();
        assert_eq!(decoded, br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn hs256_token_verifies_with_the_utf8_key_bytes() {
        let key = SecretString::new("c2VjdXJpdHkta2V5LXRoYXQtbG9va3MtYmFzZTY0IQ==".into());
        let token = sign_hs256_jwt(&serde_json::json!({"sub": "w", "iat": 1, "exp": 2}), &key).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let decoded =
            jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_secret(key.expose().as_bytes()), &validation)
                .unwrap();
        assert_eq!(decoded.claims["sub"], "w");
        // The base64-decoded key must NOT verify: Connect uses the string as-is.
        let decoded_key = base64::engine::general_purpose::STANDARD.decode(key.expose()).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_secret(&decoded_key), &validation).is_err());
    }

    #[test]
    fn empty_key_is_refused() {
        assert!(matches!(sign_hs256_jwt(&1, &SecretString::new(String::new())), Err(SigningError::EmptyKey)));
    }
}
