//! The development identity provider: local run only, never in a Lambda build.
//!
//! `POST /dev/login` with a JSON object of claims (at least `sub`) returns an ES256 `id_token`
//! signed by a key kept in the local `secrets.json`; discovery and JWKS are served under `/dev/`,
//! so the local run's token endpoint runs the real bearer verification path against it.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use whoscalling::Clock;

/// The audience the dev provider issues tokens for (the default config trusts it).
pub const DEV_AUDIENCE: &str = "whoscalling-local";
const KID: &str = "dev-es256-1";
/// An hour, like a typical login session's ID token.
const ID_TOKEN_LIFETIME: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    #[error("the development identity provider key is not a P-256 PKCS#8 key")]
    BadKey,
    #[error("could not sign")]
    Signing,
}

pub struct DevIdentityProvider {
    issuer: String,
    signing_key: EncodingKey,
    jwks: Value,
    clock: Arc<dyn Clock>,
}

/// A fresh RSA-2048 key as base64 PKCS#8 (the LivePerson encryption stand-in).
pub fn generate_rsa_key() -> Result<String, DevIdpError> {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| DevIdpError::BadKey)?;
    let der = pair.as_der().map_err(|_| DevIdpError::BadKey)?;
    Ok(STANDARD.encode(der.as_ref()))
}

/// The single-line base64 SPKI public key of a base64 PKCS#8 RSA key.
pub fn rsa_public_key_spki(key_base64_pkcs8: &str) -> Result<String, DevIdpError> {
    use aws_lc_rs::encoding::AsDer;
    let der = STANDARD.decode(key_base64_pkcs8.trim()).map_err(|_| DevIdpError::BadKey)?;
    let pair = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&der).map_err(|_| DevIdpError::BadKey)?;
    let spki = pair.public_key().as_der().map_err(|_| DevIdpError::BadKey)?;
    Ok(STANDARD.encode(spki.as_ref()))
}

/// A fresh P-256 key as base64 PKCS#8, for `secrets.json`.
pub fn generate_key() -> Result<String, DevIdpError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| DevIdpError::BadKey)?;
    Ok(STANDARD.encode(pkcs8.as_ref()))
}

impl DevIdentityProvider {
    pub fn new(issuer: String, key_base64_pkcs8: &str, clock: Arc<dyn Clock>) -> Result<Self, DevIdpError> {
        let pkcs8 = STANDARD.decode(key_base64_pkcs8.trim()).map_err(|_| DevIdpError::BadKey)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(|_| DevIdpError::BadKey)?;
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(DevIdpError::BadKey);
        }
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KID,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        Ok(Self { issuer, signing_key: EncodingKey::from_ec_der(&pkcs8), jwks, clock })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks.json", self.issuer),
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
        })
    }

    /// Signs the given claims as an ID token; `iss`, `aud`, `iat` and `exp` are always ours.
    pub fn login(&self, mut claims: serde_json::Map<String, Value>) -> Result<String, DevIdpError> {
        let now = self.clock.now_unix();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(DEV_AUDIENCE));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ID_TOKEN_LIFETIME));
        claims.remove("nbf");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(&header, &claims, &self.signing_key).map_err(|_| DevIdpError::Signing)
    }
}
