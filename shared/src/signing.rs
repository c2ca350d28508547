//! Signing the tokens we mint.
//!
//! Connect's widget token is HS256 with the header exactly `{"alg":"HS256","typ":"JWT"}` (the
//! byte order of Amazon's samples), so the header segment is a constant and only the signature is
//! delegated to `jsonwebtoken`'s crypto backend (aws-lc-rs).
//!
//! RS256 and ES256 tokens are signed with aws-lc-rs key pairs parsed once per key version
//! ([`JwsSigner`]): `jsonwebtoken` re-parses the private key on every signature, which roughly
//! triples the cost of an RS256 token. The compact serialization around the signature is the
//! same three base64url segments as above; everything we sign this way is verified by jsonwebtoken
//! in unit tests and by jwcrypto in the integration tests.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;

use crate::secrets::SecretString;
use crate::values::JwsAlgorithm;

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
    #[error("the private key is not a usable {0} PKCS#8 key")]
    BadPrivateKey(SigningAlgorithm),
    #[error("the signature could not be computed")]
    Crypto,
}

pub use crate::values::SigningAlgorithm;

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A parsed private key with its `kid`; the protected header segment is computed once.
pub struct JwsSigner {
    kid: String,
    algorithm: SigningAlgorithm,
    key: PrivateKey,
    header_segment: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwsSigner")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl JwsSigner {
    /// Parses a PKCS#8 DER private key for `algorithm` (RSA keys of 2048 bits or more).
    pub fn from_pkcs8(algorithm: SigningAlgorithm, kid: &str, pkcs8: &[u8]) -> Result<Self, SigningError> {
        let key = match algorithm {
            SigningAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| SigningError::BadPrivateKey(algorithm))?;
                if pair.public_modulus_len() < 256 {
                    return Err(SigningError::BadPrivateKey(algorithm));
                }
                PrivateKey::Rsa(pair)
            }
            SigningAlgorithm::ES256 => PrivateKey::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| SigningError::BadPrivateKey(algorithm))?,
            ),
        };
        let header = serde_json::json!({"alg": algorithm.name(), "typ": "JWT", "kid": kid});
        Ok(Self {
            kid: kid.to_string(),
            algorithm,
            key,
            header_segment: URL_SAFE_NO_PAD.encode(header.to_string()),
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Signs `claims` as a compact JWS with header `{"alg","typ":"JWT","kid"}`.
    pub fn sign_jwt<C: Serialize>(&self, claims: &C) -> Result<String, SigningError> {
        let payload = serde_json::to_vec(claims).map_err(SigningError::Serialize)?;
        let mut token = String::with_capacity(self.header_segment.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_segment);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = match &self.key {
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature)
                    .map_err(|_| SigningError::Crypto)?;
                signature
            }
            // FIXED signing yields r || s, the JWS form (RFC 7518 3.4), not DER.
            PrivateKey::Ecdsa(pair) => pair
                .sign(&self.rng, token.as_bytes())
                .map_err(|_| SigningError::Crypto)?
                .as_ref()
                .to_vec(),
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// Signs `claims` as a compact HS256 JWT with the UTF-8 bytes of `key` (as every Amazon Connect
/// sample does: the security key is not base64-decoded).
pub fn sign_hs256_jwt<C: Serialize>(claims: &C, key: &SecretString) -> Result<String, SigningError> {
    sign_hs256_with_header(HS256_JWT_HEADER_SEGMENT, claims, key.expose())
}

/// Signs `claims` as HS256 with the header exactly `{"alg":"HS256","typ":"JWT","kid":<kid>}`
/// (Zendesk: the key id of the vendor secret), over the UTF-8 bytes of `secret`.
pub fn sign_hs256_jwt_with_kid<C: Serialize>(claims: &C, kid: &str, secret: &str) -> Result<String, SigningError> {
    #[derive(Serialize)]
    struct Header<'a> {
        alg: &'static str,
        typ: &'static str,
        kid: &'a str,
    }
    let header = serde_json::to_vec(&Header {
        alg: "HS256",
        typ: "JWT",
        kid,
    })
    .map_err(SigningError::Serialize)?;
    sign_hs256_with_header(&URL_SAFE_NO_PAD.encode(header), claims, secret)
}

fn sign_hs256_with_header<C: Serialize>(header_segment: &str, claims: &C, key: &str) -> Result<String, SigningError> {
    if key.is_empty() {
        return Err(SigningError::EmptyKey);
    }
    let payload = serde_json::to_vec(claims).map_err(SigningError::Serialize)?;
    let mut token = String::with_capacity(header_segment.len() + payload.len() * 4 / 3 + 48);
    token.push_str(header_segment);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signing_key = EncodingKey::from_secret(key.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(token.as_bytes(), &signing_key, Algorithm::HS256).map_err(SigningError::Backend)?;
    token.push('.');
    token.push_str(&signature);
    Ok(token)
}

/// The verification edge: our algorithm names as `jsonwebtoken`'s.
impl From<JwsAlgorithm> for Algorithm {
    fn from(algorithm: JwsAlgorithm) -> Self {
        match algorithm {
            JwsAlgorithm::RS256 => Algorithm::RS256,
            JwsAlgorithm::RS384 => Algorithm::RS384,
            JwsAlgorithm::RS512 => Algorithm::RS512,
            JwsAlgorithm::PS256 => Algorithm::PS256,
            JwsAlgorithm::PS384 => Algorithm::PS384,
            JwsAlgorithm::PS512 => Algorithm::PS512,
            JwsAlgorithm::ES256 => Algorithm::ES256,
            JwsAlgorithm::ES384 => Algorithm::ES384,
        }
    }
}

impl From<SigningAlgorithm> for JwsAlgorithm {
    fn from(algorithm: SigningAlgorithm) -> Self {
        match algorithm {
            SigningAlgorithm::RS256 => JwsAlgorithm::RS256,
            SigningAlgorithm::ES256 => JwsAlgorithm::ES256,
        }
    }
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
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(key.expose().as_bytes()),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "w");
        // The base64-decoded key must NOT verify: Connect uses the string as-is.
        let decoded_key = base64::engine::general_purpose::STANDARD.decode(key.expose()).unwrap();
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_secret(&decoded_key), &validation)
                .is_err()
        );
    }

    fn verify_with_public_key(token: &str, algorithm: Algorithm, spki_der: &[u8]) -> serde_json::Value {
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let key = match algorithm {
            // jsonwebtoken wants PKCS#1 RSAPublicKey DER for RSA and the raw point for EC.
            Algorithm::RS256 => DecodingKey::from_rsa_der(&spki_to_pkcs1(spki_der)),
            _ => DecodingKey::from_ec_der(&spki_der[spki_der.len() - 65..]),
        };
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k-1"));
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .unwrap()
            .claims
    }

    /// The RSAPublicKey inside an RSA SubjectPublicKeyInfo (a BIT STRING after the algorithm).
    fn spki_to_pkcs1(spki: &[u8]) -> Vec<u8> {
        // 2048-bit keys: 30 82 01 22 | 30 0d <rsaEncryption, NULL> | 03 82 01 0f 00 | RSAPublicKey
        spki[24..].to_vec()
    }

    #[test]
    fn rs256_and_es256_tokens_verify_with_the_public_key() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair as _;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let rsa_pkcs8 = rsa.as_der().unwrap();
        let signer = JwsSigner::from_pkcs8(SigningAlgorithm::RS256, "k-1", rsa_pkcs8.as_ref()).unwrap();
        let token = signer.sign_jwt(&serde_json::json!({"sub": "a"})).unwrap();
        let spki = rsa.public_key().as_der().unwrap();
        assert_eq!(
            verify_with_public_key(&token, Algorithm::RS256, spki.as_ref())["sub"],
            "a"
        );

        let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let signer = JwsSigner::from_pkcs8(SigningAlgorithm::ES256, "k-1", ec_pkcs8.as_ref()).unwrap();
        let token = signer.sign_jwt(&serde_json::json!({"sub": "b"})).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref()).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        assert_eq!(
            verify_with_public_key(&token, Algorithm::ES256, spki.as_ref())["sub"],
            "b"
        );
    }

    #[test]
    fn wrong_key_type_is_refused() {
        let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        assert!(JwsSigner::from_pkcs8(SigningAlgorithm::RS256, "k", ec_pkcs8.as_ref()).is_err());
        assert!(JwsSigner::from_pkcs8(SigningAlgorithm::ES256, "k", b"garbage").is_err());
    }

    #[test]
    fn empty_key_is_refused() {
        assert!(matches!(
            sign_hs256_jwt(&1, &SecretString::new(String::new())),
            Err(SigningError::EmptyKey)
        ));
    }
}
