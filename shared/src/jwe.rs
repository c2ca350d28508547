//! Compact JWE (RFC 7516) around the signed JWTs we mint, for platforms that want them encrypted.
//!
//! LivePerson can be configured to receive the id_token encrypted to an RSA public key that it
//! shows in its console. This module wraps our compact JWS in a compact JWE for that key:
//! key management `RSA-OAEP-256` (default) or `RSA-OAEP` (SHA-1 OAEP, for recipients that need
//! it), content encryption `A256GCM` (default) or `A128GCM`, protected header
//! `{"alg":..,"enc":..,"kid":..,"cty":"JWT"}` (RFC 7519 5.2: `cty` says the payload is a JWT).
//!
//! No maintained pure-Rust JWE crate fits (josekit needs OpenSSL), so this is written directly on
//! the aws-lc-rs primitives the rest of the crate already uses. It is proven against the published
//! vectors of RFC 7516 A.1 and RFC 7520 5.2 and against jwcrypto (`tests/peers/verify_jwt.py`).
//! [`decrypt_compact`] exists for the local run's demo page and for the tests; the Lambda only
//! encrypts.

use std::fmt;

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// Smallest RSA modulus we encrypt to or decrypt with (NIST SP 800-131A; aws-lc-rs refuses
/// smaller keys too, but the policy is ours and should not silently follow a library default).
pub const MIN_RSA_BITS: usize = 2048;

/// AES-GCM IV length fixed by RFC 7518 5.3 (96 bits).
const IV_LEN: usize = 12;
/// AES-GCM tag length fixed by RFC 7518 5.3 (128 bits).
const TAG_LEN: usize = 16;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

pub use crate::values::{ContentEncryption, KeyEncryption};

/// The aws-lc-rs OAEP parameters for a key-management algorithm.
fn oaep(alg: KeyEncryption) -> &'static OaepAlgorithm {
    match alg {
        KeyEncryption::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
        KeyEncryption::RsaOaep => &OAEP_SHA1_MGF1SHA1,
    }
}

/// The aws-lc-rs AEAD for a content-encryption algorithm.
fn aead(enc: ContentEncryption) -> &'static aws_lc_rs::aead::Algorithm {
    match enc {
        ContentEncryption::A256Gcm => &AES_256_GCM,
        ContentEncryption::A128Gcm => &AES_128_GCM,
    }
}

/// Why a JWE could not be made or opened. Every message is fixed text: none carries key
/// material, plaintext or attacker-chosen header values.
#[derive(Debug, thiserror::Error)]
pub enum JweError {
    #[error("the RSA public key is not base64 of a DER SubjectPublicKeyInfo (nor a PEM PUBLIC KEY)")]
    PublicKeyEncoding,
    #[error("the RSA public key is not an acceptable RSA key")]
    PublicKeyRejected,
    #[error("the RSA private key is not an acceptable PKCS#8 RSA key")]
    PrivateKeyRejected,
    #[error("the RSA key is smaller than 2048 bits")]
    KeyTooSmall,
    #[error("the value to encrypt is not a compact JWS")]
    NotCompactJws,
    #[error("the system random number generator failed")]
    Random,
    #[error("RSA-OAEP encryption of the content-encryption key failed")]
    KeyWrap,
    #[error("AES-GCM encryption failed")]
    ContentEncryption,
    #[error("the protected header could not be serialized")]
    HeaderSerialize(#[source] serde_json::Error),
    #[error("the token is not a compact JWE (five dot-separated parts)")]
    PartCount,
    #[error("the JWE {0} is not unpadded base64url")]
    NotBase64Url(&'static str),
    #[error("the JWE protected header is not a UTF-8 JSON object with unique member names")]
    InvalidHeader,
    #[error("the JWE alg is missing or not RSA-OAEP-256 / RSA-OAEP")]
    UnsupportedAlg,
    #[error("the JWE enc is missing or not A256GCM / A128GCM")]
    UnsupportedEnc,
    #[error("compressed JWE (zip header) is refused")]
    Compressed,
    #[error("JWE with a crit header is refused (no extensions are understood)")]
    Critical,
    #[error("the JWE {0} has the wrong length")]
    BadLength(&'static str),
    /// The encrypted key did not unwrap to a key of the right length, or the AES-GCM tag did not
    /// verify. The two are deliberately one error (RFC 7516 11.5).
    #[error("the JWE could not be decrypted (wrong key or altered token)")]
    Decryption,
}

/// The protected header. Members in a fixed order (serde writes struct fields in declaration
/// order) so every token to a recipient carries the same header bytes, which are also the AAD.
#[derive(serde::Serialize)]
struct ProtectedHeader<'a> {
    alg: &'static str,
    enc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    cty: &'static str,
}

/// A recipient's RSA public key, parsed once (at cold start), with the algorithms to use.
#[derive(Debug)]
pub struct JweRecipient {
    key: OaepPublicEncryptingKey,
    alg: KeyEncryption,
    enc: ContentEncryption,
    kid: Option<String>,
    /// BASE64URL(UTF8(protected header)): the same for every token to this recipient, so it is
    /// built once; it is both the first part of the JWE and its AAD.
    protected_b64: String,
}

impl JweRecipient {
    /// `public_key` is the base64 of a DER SubjectPublicKeyInfo, either single-line (the PEM body
    /// without BEGIN/END lines and newlines, as vendor consoles show it) or a full PEM
    /// ("-----BEGIN PUBLIC KEY-----..."). RSA keys under 2048 bits are refused.
    ///
    /// Whitespace anywhere in the base64 (line breaks of a pasted PEM, CRLF) is ignored. A PEM of
    /// another type (`RSA PUBLIC KEY`, `CERTIFICATE`) is refused rather than guessed at.
    pub fn from_public_key(
        public_key: &str,
        alg: KeyEncryption,
        enc: ContentEncryption,
        kid: Option<String>,
    ) -> Result<Self, JweError> {
        let der = spki_der_from_text(public_key)?;
        let public = PublicEncryptingKey::from_der(&der).map_err(|e| {
            // aws-lc-rs only tells us why through this description; the size refusal is the one
            // an operator can act on, so it gets its own error.
            if e.description_() == "TooSmall" {
                JweError::KeyTooSmall
            } else {
                JweError::PublicKeyRejected
            }
        })?;
        if public.key_size_bits() < MIN_RSA_BITS {
            return Err(JweError::KeyTooSmall);
        }
        let key = OaepPublicEncryptingKey::new(public).map_err(|_| JweError::PublicKeyRejected)?;
        let header = ProtectedHeader {
            alg: alg.name(),
            enc: enc.name(),
            kid: kid.as_deref(),
            cty: "JWT",
        };
        let header_json = serde_json::to_vec(&header).map_err(JweError::HeaderSerialize)?;
        let protected_b64 = URL_SAFE_NO_PAD.encode(header_json);
        Ok(Self {
            key,
            alg,
            enc,
            kid,
            protected_b64,
        })
    }

    /// The key management algorithm tokens to this recipient use.
    pub fn alg(&self) -> KeyEncryption {
        self.alg
    }

    /// The content encryption algorithm tokens to this recipient use.
    pub fn enc(&self) -> ContentEncryption {
        self.enc
    }

    /// The `kid` written into the protected header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Wraps a compact JWS in a compact JWE. Protected header members in this order:
    /// {"alg":..,"enc":..,"kid":.. (only when set),"cty":"JWT"}. Fresh random CEK and 96-bit IV
    /// per call; AAD = ASCII(BASE64URL(protected header)) (RFC 7516 5.1 step 14).
    ///
    /// The input must look like a compact JWS (three base64url parts, none empty): the header
    /// promises `cty: JWT`, so anything else is a caller bug worth failing on.
    pub fn encrypt_jwt(&self, compact_jws: &str) -> Result<String, JweError> {
        if !looks_like_compact_jws(compact_jws) {
            return Err(JweError::NotCompactJws);
        }
        let rng = SystemRandom::new();
        let mut cek = Zeroizing::new(vec![0u8; self.enc.key_len()]);
        rng.fill(cek.as_mut_slice()).map_err(|_| JweError::Random)?;
        // A random 96-bit IV per fresh key: the key is never reused, so IV collisions cannot hurt.
        let mut iv = [0u8; IV_LEN];
        rng.fill(&mut iv).map_err(|_| JweError::Random)?;

        let mut encrypted_key = vec![0u8; self.key.ciphertext_size()];
        let wrapped_len = self
            .key
            .encrypt(oaep(self.alg), cek.as_slice(), &mut encrypted_key, None)
            .map_err(|_| JweError::KeyWrap)?
            .len();
        encrypted_key.truncate(wrapped_len);

        let (ciphertext, tag) = seal(
            self.enc,
            cek.as_slice(),
            &iv,
            self.protected_b64.as_bytes(),
            compact_jws.as_bytes(),
        )?;

        let mut token = String::with_capacity(
            self.protected_b64.len() + (encrypted_key.len() + IV_LEN + ciphertext.len() + TAG_LEN) * 4 / 3 + 8,
        );
        token.push_str(&self.protected_b64);
        for part in [encrypted_key.as_slice(), &iv, &ciphertext, &tag] {
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(part, &mut token);
        }
        Ok(token)
    }
}

/// Decrypts a compact JWE with an RSA private key given as PKCS#8 DER (used by the local run's
/// demo page and by tests). Refuses: wrong number of parts, non-base64url parts, a header that is
/// not a JSON object, unknown alg/enc, a `zip` member, any `crit`, CEK/IV/tag of the wrong length,
/// and authentication failure. Returns the protected header and the plaintext.
///
/// A bad encrypted key (OAEP failure, or a CEK of the wrong length) is not reported as such: as
/// RFC 7516 11.5 asks, a random CEK is used instead and the token then fails authentication, so
/// the error and the timing do not tell an attacker which step failed.
pub fn decrypt_compact(token: &str, private_key_pkcs8_der: &[u8]) -> Result<(Map<String, Value>, Vec<u8>), JweError> {
    let key = private_key(private_key_pkcs8_der)?;

    let parts: Vec<&str> = token.split('.').collect();
    let [protected_b64, encrypted_key_b64, iv_b64, ciphertext_b64, tag_b64] = parts.as_slice() else {
        return Err(JweError::PartCount);
    };
    let header_json = b64url(protected_b64, "protected header")?;
    let encrypted_key = b64url(encrypted_key_b64, "encrypted key")?;
    let iv = b64url(iv_b64, "initialization vector")?;
    let ciphertext = b64url(ciphertext_b64, "ciphertext")?;
    let tag = b64url(tag_b64, "authentication tag")?;

    let header = parse_header(&header_json)?;
    if header.contains_key("crit") {
        return Err(JweError::Critical);
    }
    if header.contains_key("zip") {
        return Err(JweError::Compressed);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(KeyEncryption::from_name);
    let alg = alg.ok_or(JweError::UnsupportedAlg)?;
    let enc = header
        .get("enc")
        .and_then(Value::as_str)
        .and_then(ContentEncryption::from_name);
    let enc = enc.ok_or(JweError::UnsupportedEnc)?;
    let iv: [u8; IV_LEN] = iv
        .as_slice()
        .try_into()
        .map_err(|_| JweError::BadLength("initialization vector"))?;
    let tag: [u8; TAG_LEN] = tag
        .as_slice()
        .try_into()
        .map_err(|_| JweError::BadLength("authentication tag"))?;

    let cek = unwrap_cek(&key, alg, enc, &encrypted_key)?;
    let plaintext = open(enc, cek.as_slice(), &iv, protected_b64.as_bytes(), &ciphertext, &tag)?;
    Ok((header, plaintext))
}

/// The DER out of a single-line base64 SPKI or a `PUBLIC KEY` PEM.
fn spki_der_from_text(text: &str) -> Result<Vec<u8>, JweError> {
    let text = text.trim();
    let body = if let Some(rest) = text.strip_prefix(PEM_BEGIN) {
        rest.strip_suffix(PEM_END).ok_or(JweError::PublicKeyEncoding)?
    } else if text.starts_with("-----") {
        return Err(JweError::PublicKeyEncoding);
    } else {
        text
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(JweError::PublicKeyEncoding);
    }
    STANDARD.decode(compact).map_err(|_| JweError::PublicKeyEncoding)
}

fn private_key(pkcs8_der: &[u8]) -> Result<OaepPrivateDecryptingKey, JweError> {
    let key = PrivateDecryptingKey::from_pkcs8(pkcs8_der).map_err(|e| {
        if e.description_() == "TooSmall" {
            JweError::KeyTooSmall
        } else {
            JweError::PrivateKeyRejected
        }
    })?;
    if key.key_size_bits() < MIN_RSA_BITS {
        return Err(JweError::KeyTooSmall);
    }
    OaepPrivateDecryptingKey::new(key).map_err(|_| JweError::PrivateKeyRejected)
}

/// Three dot-separated, non-empty base64url parts. Not decoded: this only catches passing the
/// wrong string (an already-encrypted token, a bare payload), not a forged JWS.
fn looks_like_compact_jws(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Strict base64url: no padding, no whitespace, no non-canonical trailing bits (the engine's
/// defaults), so one token has exactly one encoding.
fn b64url(part: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| JweError::NotBase64Url(what))
}

/// The protected header as a JSON object, refusing duplicate member names (RFC 7516 4: a header
/// with duplicates must be rejected or read by the last one; rejecting leaves no ambiguity
/// between us and a peer that reads the first).
fn parse_header(json: &[u8]) -> Result<Map<String, Value>, JweError> {
    serde_json::from_slice::<UniqueMembers>(json)
        .map(|h| h.0)
        .map_err(|_| JweError::InvalidHeader)
}

struct UniqueMembers(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueMembers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut members = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if members.contains_key(&name) {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    members.insert(name, value);
                }
                Ok(UniqueMembers(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// RSA-OAEP-unwraps the CEK. Never fails on a bad encrypted key: it returns a random CEK of the
/// right length instead (RFC 7516 11.5), generated before the unwrap so both paths do the same
/// work, and the AES-GCM tag check then fails.
fn unwrap_cek(
    key: &OaepPrivateDecryptingKey,
    alg: KeyEncryption,
    enc: ContentEncryption,
    encrypted_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let mut fallback = Zeroizing::new(vec![0u8; enc.key_len()]);
    SystemRandom::new()
        .fill(fallback.as_mut_slice())
        .map_err(|_| JweError::Random)?;
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    match key.decrypt(oaep(alg), encrypted_key, out.as_mut_slice(), None) {
        Ok(cek) if cek.len() == enc.key_len() => Ok(Zeroizing::new(cek.to_vec())),
        _ => Ok(fallback),
    }
}

/// AES-GCM content encryption, deterministic given its inputs so the published vectors can test
/// it. Returns the ciphertext and the 128-bit tag.
fn seal(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8; IV_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; TAG_LEN]), JweError> {
    let key = LessSafeKey::new(UnboundKey::new(aead(enc), cek).map_err(|_| JweError::ContentEncryption)?);
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), &mut in_out)
        .map_err(|_| JweError::ContentEncryption)?;
    let split = in_out.len().checked_sub(TAG_LEN).ok_or(JweError::ContentEncryption)?;
    let tag: [u8; TAG_LEN] = in_out[split..].try_into().map_err(|_| JweError::ContentEncryption)?;
    in_out.truncate(split);
    Ok((in_out, tag))
}

/// AES-GCM content decryption; the inverse of [`seal`]. Any failure is [`JweError::Decryption`].
fn open(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8; IV_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<Vec<u8>, JweError> {
    let key = LessSafeKey::new(UnboundKey::new(aead(enc), cek).map_err(|_| JweError::Decryption)?);
    // Zeroizing: on failure the buffer may hold unauthenticated plaintext, which must not linger.
    let mut in_out = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
    in_out.extend_from_slice(ciphertext);
    in_out.extend_from_slice(tag);
    let len = key
        .open_in_place(Nonce::assume_unique_for_key(*iv), Aad::from(aad), in_out.as_mut_slice())
        .map_err(|_| JweError::Decryption)?
        .len();
    in_out.truncate(len);
    Ok(std::mem::take(&mut *in_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::rsa::KeySize;
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;

    // ---- RFC 7516 Appendix A.1 (RSA-OAEP + A256GCM), as in jwcrypto's tests.py (E_A1_*) ----

    const A1_PRIVATE_PK8_B64: &str = include_str!("../testdata/rfc7516-a1-rsa-private.pk8.b64");
    const A1_PLAINTEXT: &str = "The true sign of intelligence is not knowledge but imagination.";
    const A1_PROTECTED: &str = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ";
    const A1_ENCRYPTED_KEY: &str = concat!(
        "OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe",
        "ipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDb",
        "Sv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaV",
        "mqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je8",
        "1860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi",
        "6UklfCpIMfIjf7iGdXKHzg",
    );
    const A1_IV: &str = "48V1_ALb6US04U3b";
    const A1_CIPHERTEXT: &str = concat!(
        "5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji",
        "SdiwkIr3ajwQzaBtQD_A",
    );
    const A1_TAG: &str = "XFBoMYUZodetZdvTiFvSkQ";
    /// RFC 7516 A.1.2.
    const A1_CEK: [u8; 32] = [
        177, 161, 244, 128, 84, 143, 225, 115, 63, 180, 3, 255, 107, 154, 212, 246, 138, 7, 110, 91, 112, 46, 34, 105,
        47, 130, 203, 46, 122, 234, 64, 252,
    ];

    // ---- RFC 7520 5.2 (RSA-OAEP + A256GCM), as in jwcrypto's tests-cookbook.py ----

    const C52_PRIVATE_PK8_B64: &str = include_str!("../testdata/rfc7520-5-2-rsa-private.pk8.b64");
    /// RFC 7520 5 (Figure 72), the cookbook's `Payload_plaintext_5`; the dashes are U+2013.
    const C5_PLAINTEXT: &str = "You can trust us to stick with you through thick and thin\u{2013}to the bitter end. \
        And you can trust us to keep any secret of yours\u{2013}closer than you keep it yourself. \
        But you cannot trust us to let you face trouble alone, and go off without a word. We are your friends, Frodo.";
    const C52_PROTECTED: &str = concat!(
        "eyJhbGciOiJSU0EtT0FFUCIsImtpZCI6InNhbXdpc2UuZ2FtZ2VlQGhvYmJpdG",
        "9uLmV4YW1wbGUiLCJlbmMiOiJBMjU2R0NNIn0",
    );
    const C52_ENCRYPTED_KEY: &str = concat!(
        "rT99rwrBTbTI7IJM8fU3Eli7226HEB7IchCxNuh7lCiud48LxeolRdtFF4nzQi",
        "beYOl5S_PJsAXZwSXtDePz9hk-BbtsTBqC2UsPOdwjC9NhNupNNu9uHIVftDyu",
        "cvI6hvALeZ6OGnhNV4v1zx2k7O1D89mAzfw-_kT3tkuorpDU-CpBENfIHX1Q58",
        "-Aad3FzMuo3Fn9buEP2yXakLXYa15BUXQsupM4A1GD4_H4Bd7V3u9h8Gkg8Bpx",
        "KdUV9ScfJQTcYm6eJEBz3aSwIaK4T3-dwWpuBOhROQXBosJzS1asnuHtVMt2pK",
        "IIfux5BC6huIvmY7kzV7W7aIUrpYm_3H4zYvyMeq5pGqFmW2k8zpO878TRlZx7",
        "pZfPYDSXZyS0CfKKkMozT_qiCwZTSz4duYnt8hS4Z9sGthXn9uDqd6wycMagnQ",
        "fOTs_lycTWmY-aqWVDKhjYNRf03NiwRtb5BE-tOdFwCASQj3uuAgPGrO2AWBe3",
        "8UjQb0lvXn1SpyvYZ3WFc7WOJYaTa7A8DRn6MC6T-xDmMuxC0G7S2rscw5lQQU",
        "06MvZTlFOt0UvfuKBa03cxA_nIBIhLMjY2kOTxQMmpDPTr6Cbo8aKaOnx6ASE5",
        "Jx9paBpnNmOOKH35j_QlrQhDWUN6A2Gg8iFayJ69xDEdHAVCGRzN3woEI2ozDR",
        "s",
    );
    const C52_IV: &str = "-nBoKLH0YkLZPSI9";
    const C52_CIPHERTEXT: &str = concat!(
        "o4k2cnGN8rSSw3IDo1YuySkqeS_t2m1GXklSgqBdpACm6UJuJowOHC5ytjqYgR",
        "L-I-soPlwqMUf4UgRWWeaOGNw6vGW-xyM01lTYxrXfVzIIaRdhYtEMRBvBWbEw",
        "P7ua1DRfvaOjgZv6Ifa3brcAM64d8p5lhhNcizPersuhw5f-pGYzseva-TUaL8",
        "iWnctc-sSwy7SQmRkfhDjwbz0fz6kFovEgj64X1I5s7E6GLp5fnbYGLa1QUiML",
        "7Cc2GxgvI7zqWo0YIEc7aCflLG1-8BboVWFdZKLK9vNoycrYHumwzKluLWEbSV",
        "maPpOslY2n525DxDfWaVFUfKQxMF56vn4B9QMpWAbnypNimbM8zVOw",
    );
    const C52_TAG: &str = "UCGiqJxhBI3IFVdPalHHvA";
    /// RFC 7520 Figure 85.
    const C52_CEK: &str = "mYMfsggkTAm0TbvtlFh2hyoXnbEzJQjMxmgLN3d8xXA";

    /// A 1024-bit RSA SubjectPublicKeyInfo (see testdata/README.md).
    const RSA_1024_SPKI_B64: &str = include_str!("../testdata/rsa-1024-public.spki.b64");

    fn pk8(b64_file: &str) -> Vec<u8> {
        STANDARD.decode(b64_file.trim()).unwrap()
    }

    fn compact(parts: [&str; 5]) -> String {
        parts.join(".")
    }

    fn d(part: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(part).unwrap()
    }

    /// Checks a published vector both ways: the whole token decrypts to the plaintext, and `seal`
    /// with the CEK recovered from the encrypted key (and the vector's IV and header) reproduces
    /// the vector's ciphertext and tag byte for byte.
    fn check_vector(key_b64: &str, parts: [&str; 5], plaintext: &str, published_cek: &[u8], header: serde_json::Value) {
        let der = pk8(key_b64);
        let (got_header, got_plaintext) = decrypt_compact(&compact(parts), &der).unwrap();
        assert_eq!(serde_json::Value::Object(got_header), header);
        assert_eq!(String::from_utf8(got_plaintext).unwrap(), plaintext);

        let [protected, encrypted_key, iv, ciphertext, tag] = parts;
        let cek = unwrap_cek(
            &private_key(&der).unwrap(),
            KeyEncryption::RsaOaep,
            ContentEncryption::A256Gcm,
            &d(encrypted_key),
        )
        .unwrap();
        assert_eq!(cek.as_slice(), published_cek, "the unwrapped CEK is the published one");
        let iv: [u8; IV_LEN] = d(iv).try_into().unwrap();
        let (sealed, sealed_tag) = seal(
            ContentEncryption::A256Gcm,
            &cek,
            &iv,
            protected.as_bytes(),
            plaintext.as_bytes(),
        )
        .unwrap();
        assert_eq!(sealed, d(ciphertext));
        assert_eq!(sealed_tag.as_slice(), d(tag).as_slice());
    }

    #[test]
    fn rfc7516_a1_vector_decrypts_and_seal_reproduces_ciphertext_and_tag() {
        check_vector(
            A1_PRIVATE_PK8_B64,
            [A1_PROTECTED, A1_ENCRYPTED_KEY, A1_IV, A1_CIPHERTEXT, A1_TAG],
            A1_PLAINTEXT,
            &A1_CEK,
            serde_json::json!({"alg": "RSA-OAEP", "enc": "A256GCM"}),
        );
    }

    #[test]
    fn rfc7520_5_2_vector_decrypts_and_seal_reproduces_ciphertext_and_tag() {
        check_vector(
            C52_PRIVATE_PK8_B64,
            [C52_PROTECTED, C52_ENCRYPTED_KEY, C52_IV, C52_CIPHERTEXT, C52_TAG],
            C5_PLAINTEXT,
            &d(C52_CEK),
            serde_json::json!({"alg": "RSA-OAEP", "kid": "samwise.gamgee@hobbiton.example", "enc": "A256GCM"}),
        );
    }

    #[test]
    fn seal_and_open_are_inverse_for_a128gcm() {
        let cek = [7u8; 16];
        let iv = [9u8; IV_LEN];
        let (ciphertext, tag) = seal(ContentEncryption::A128Gcm, &cek, &iv, b"aad", b"hello").unwrap();
        assert_eq!(
            open(ContentEncryption::A128Gcm, &cek, &iv, b"aad", &ciphertext, &tag).unwrap(),
            b"hello"
        );
        assert!(open(ContentEncryption::A128Gcm, &cek, &iv, b"aae", &ciphertext, &tag).is_err());
        // A 16-byte key is not an A256GCM key.
        assert!(seal(ContentEncryption::A256Gcm, &cek, &iv, b"aad", b"hello").is_err());
    }

    // ---- Round trips with a freshly generated key ----

    struct TestKey {
        pkcs8: Vec<u8>,
        spki_b64: String,
    }

    fn generate_key() -> TestKey {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der = key.as_der().unwrap();
        let spki: PublicKeyX509Der = key.public_key().as_der().unwrap();
        TestKey {
            pkcs8: pkcs8.as_ref().to_vec(),
            spki_b64: STANDARD.encode(spki.as_ref()),
        }
    }

    /// One 2048-bit key for the whole test run: generating is the slow part.
    fn test_key() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(generate_key)
    }

    /// A real HS256 JWS (signed here with aws-lc-rs HMAC, independently of `crate::signing`).
    fn hs256_jws(secret: &str, claims: &serde_json::Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    const SAMPLE_JWS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ2aXNpdG9yLTQyIn0.c2lnbmF0dXJl";

    fn recipient(alg: KeyEncryption, enc: ContentEncryption, kid: Option<&str>) -> JweRecipient {
        JweRecipient::from_public_key(&test_key().spki_b64, alg, enc, kid.map(str::to_owned)).unwrap()
    }

    fn protected_header_bytes(token: &str) -> Vec<u8> {
        d(token.split('.').next().unwrap())
    }

    #[test]
    fn round_trip_rsa_oaep_256_a256gcm_with_kid_and_exact_header() {
        let r = recipient(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, Some("lp-2025"));
        let token = r.encrypt_jwt(SAMPLE_JWS).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(d(parts[1]).len(), 256, "encrypted key is one 2048-bit RSA block");
        assert_eq!(d(parts[2]).len(), IV_LEN);
        assert_eq!(d(parts[4]).len(), TAG_LEN);
        assert_eq!(
            protected_header_bytes(&token),
            br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"lp-2025","cty":"JWT"}"#
        );
        let (header, plaintext) = decrypt_compact(&token, &test_key().pkcs8).unwrap();
        assert_eq!(plaintext, SAMPLE_JWS.as_bytes());
        assert_eq!(header.len(), 4);
        assert_eq!(header["kid"], "lp-2025");
    }

    #[test]
    fn round_trip_rsa_oaep_a128gcm_without_kid_omits_it() {
        let r = recipient(KeyEncryption::RsaOaep, ContentEncryption::A128Gcm, None);
        let token = r.encrypt_jwt(SAMPLE_JWS).unwrap();
        assert_eq!(
            protected_header_bytes(&token),
            br#"{"alg":"RSA-OAEP","enc":"A128GCM","cty":"JWT"}"#
        );
        let (header, plaintext) = decrypt_compact(&token, &test_key().pkcs8).unwrap();
        assert_eq!(plaintext, SAMPLE_JWS.as_bytes());
        assert_eq!(
            serde_json::Value::Object(header),
            serde_json::json!({"alg": "RSA-OAEP", "enc": "A128GCM", "cty": "JWT"})
        );
    }

    #[test]
    fn kid_is_json_escaped_in_the_header() {
        let r = recipient(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, Some("a\"b\\c"));
        let token = r.encrypt_jwt(SAMPLE_JWS).unwrap();
        let (header, _) = decrypt_compact(&token, &test_key().pkcs8).unwrap();
        assert_eq!(header["kid"], "a\"b\\c");
    }

    #[test]
    fn two_encryptions_of_the_same_jwt_differ_in_every_random_part() {
        let r = recipient(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, None);
        let a = r.encrypt_jwt(SAMPLE_JWS).unwrap();
        let b = r.encrypt_jwt(SAMPLE_JWS).unwrap();
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
        assert_eq!(a[0], b[0], "same protected header");
        for i in 1..5 {
            assert_ne!(a[i], b[i], "part {i} must differ (fresh CEK and IV)");
        }
    }

    #[test]
    fn algorithm_names_and_serde_names_agree() {
        for alg in [KeyEncryption::RsaOaep256, KeyEncryption::RsaOaep] {
            assert_eq!(serde_json::to_value(alg).unwrap(), alg.name());
            assert_eq!(serde_json::from_value::<KeyEncryption>(alg.name().into()).unwrap(), alg);
        }
        for enc in [ContentEncryption::A256Gcm, ContentEncryption::A128Gcm] {
            assert_eq!(serde_json::to_value(enc).unwrap(), enc.name());
            assert_eq!(
                serde_json::from_value::<ContentEncryption>(enc.name().into()).unwrap(),
                enc
            );
        }
        assert_eq!(KeyEncryption::default(), KeyEncryption::RsaOaep256);
        assert_eq!(ContentEncryption::default(), ContentEncryption::A256Gcm);
    }

    // ---- Public key forms ----

    fn pem(b64: &str, line_end: &str) -> String {
        let mut out = format!("-----BEGIN PUBLIC KEY-----{line_end}");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push_str(line_end);
        }
        out.push_str("-----END PUBLIC KEY-----");
        out.push_str(line_end);
        out
    }

    #[test]
    fn public_key_is_accepted_as_single_line_base64_and_as_pem() {
        let b64 = &test_key().spki_b64;
        for form in [b64.clone(), format!("  {b64}\n"), pem(b64, "\n"), pem(b64, "\r\n")] {
            let r = JweRecipient::from_public_key(&form, KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, None)
                .unwrap();
            let token = r.encrypt_jwt(SAMPLE_JWS).unwrap();
            assert_eq!(
                decrypt_compact(&token, &test_key().pkcs8).unwrap().1,
                SAMPLE_JWS.as_bytes()
            );
        }
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        let b64 = &test_key().spki_b64;
        let cases = [
            String::new(),
            "not base64!".to_owned(),
            pem(b64, "\n").replace("PUBLIC KEY", "RSA PUBLIC KEY"),
            pem(b64, "\n").replace("-----END PUBLIC KEY-----", ""),
            STANDARD.encode(b"not DER"),
            b64.replace('+', "-").replace('/', "_"),
        ];
        for case in cases {
            let result =
                JweRecipient::from_public_key(&case, KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, None);
            assert!(
                matches!(result, Err(JweError::PublicKeyEncoding | JweError::PublicKeyRejected)),
                "{case:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn rsa_1024_public_key_is_refused_as_too_small() {
        let result = JweRecipient::from_public_key(
            RSA_1024_SPKI_B64,
            KeyEncryption::RsaOaep256,
            ContentEncryption::A256Gcm,
            None,
        );
        assert!(matches!(result, Err(JweError::KeyTooSmall)), "{result:?}");
    }

    #[test]
    fn encrypt_refuses_what_is_not_a_compact_jws() {
        let r = recipient(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, None);
        for bad in ["", "a.b", "a.b.c.d.e", "a..c", "a.b.", "a b.c.d", "{\"sub\":\"x\"}"] {
            assert!(matches!(r.encrypt_jwt(bad), Err(JweError::NotCompactJws)), "{bad:?}");
        }
    }

    // ---- Refusals ----

    fn fresh_token() -> String {
        recipient(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, Some("k1"))
            .encrypt_jwt(SAMPLE_JWS)
            .unwrap()
    }

    fn replace_part(token: &str, index: usize, new: &str) -> String {
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[index] = new;
        parts.join(".")
    }

    /// Flips the low bit of the middle byte of part `index` (keeping valid base64url).
    fn flip_bit(token: &str, index: usize) -> String {
        let mut bytes = d(token.split('.').nth(index).unwrap());
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        replace_part(token, index, &URL_SAFE_NO_PAD.encode(bytes))
    }

    fn decrypt(token: &str) -> Result<(Map<String, Value>, Vec<u8>), JweError> {
        decrypt_compact(token, &test_key().pkcs8)
    }

    fn with_header(token: &str, header: &str) -> String {
        replace_part(token, 0, &URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn tampered_encrypted_key_iv_ciphertext_or_tag_fails_authentication() {
        let token = fresh_token();
        assert!(decrypt(&token).is_ok());
        for (index, what) in [(1, "encrypted key"), (2, "iv"), (3, "ciphertext"), (4, "tag")] {
            let result = decrypt(&flip_bit(&token, index));
            assert!(
                matches!(result, Err(JweError::Decryption)),
                "tampered {what}: {result:?}"
            );
        }
    }

    #[test]
    fn tampered_protected_header_fails_authentication() {
        let token = fresh_token();
        // Same members, different bytes: the AAD is the encoded header, so this must fail.
        let reordered = r#"{"enc":"A256GCM","alg":"RSA-OAEP-256","kid":"k1","cty":"JWT"}"#;
        let other_kid = r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k2","cty":"JWT"}"#;
        let spaced = r#"{"alg":"RSA-OAEP-256", "enc":"A256GCM","kid":"k1","cty":"JWT"}"#;
        for header in [reordered, other_kid, spaced] {
            let result = decrypt(&with_header(&token, header));
            assert!(matches!(result, Err(JweError::Decryption)), "{header}: {result:?}");
        }
    }

    #[test]
    fn a_token_for_another_key_fails_authentication() {
        let other = generate_key();
        let result = decrypt_compact(&fresh_token(), &other.pkcs8);
        assert!(matches!(result, Err(JweError::Decryption)), "{result:?}");
    }

    #[test]
    fn an_encrypted_key_holding_a_cek_of_the_wrong_length_fails_authentication() {
        // A 16-byte CEK wrapped correctly and used for A128GCM, under a header claiming A256GCM.
        let public = PublicEncryptingKey::from_der(&STANDARD.decode(&test_key().spki_b64).unwrap()).unwrap();
        let public = OaepPublicEncryptingKey::new(public).unwrap();
        let cek = [5u8; 16];
        let mut wrapped = vec![0u8; public.ciphertext_size()];
        let wrapped = public
            .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut wrapped, None)
            .unwrap()
            .to_vec();
        let protected = URL_SAFE_NO_PAD.encode(r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}"#);
        let iv = [1u8; IV_LEN];
        let (ciphertext, tag) = seal(
            ContentEncryption::A128Gcm,
            &cek,
            &iv,
            protected.as_bytes(),
            SAMPLE_JWS.as_bytes(),
        )
        .unwrap();
        let token = [
            protected.as_str(),
            &URL_SAFE_NO_PAD.encode(wrapped),
            &URL_SAFE_NO_PAD.encode(iv),
        ]
        .into_iter()
        .chain([
            URL_SAFE_NO_PAD.encode(ciphertext).as_str(),
            &URL_SAFE_NO_PAD.encode(tag),
        ])
        .collect::<Vec<_>>()
        .join(".");
        let result = decrypt(&token);
        assert!(matches!(result, Err(JweError::Decryption)), "{result:?}");
    }

    #[test]
    fn wrong_number_of_parts_is_refused() {
        let token = fresh_token();
        let parts: Vec<&str> = token.split('.').collect();
        for n in [1, 3, 4] {
            assert!(
                matches!(decrypt(&parts[..n].join(".")), Err(JweError::PartCount)),
                "{n} parts"
            );
        }
        let six = format!("{token}.AAAA");
        assert!(matches!(decrypt(&six), Err(JweError::PartCount)));
        assert!(matches!(decrypt(""), Err(JweError::PartCount)));
        assert!(matches!(decrypt(SAMPLE_JWS), Err(JweError::PartCount)));
    }

    #[test]
    fn padded_or_non_base64url_parts_are_refused() {
        let token = fresh_token();
        for index in 0..5 {
            let part = token.split('.').nth(index).unwrap().to_owned();
            for bad in [
                format!("{part}="),
                format!("{part}=="),
                format!("{part}+"),
                format!("a/{part}"),
            ] {
                let result = decrypt(&replace_part(&token, index, &bad));
                assert!(
                    matches!(result, Err(JweError::NotBase64Url(_))),
                    "part {index} {bad:?}: {result:?}"
                );
            }
        }
        // The published tag is 16 bytes, i.e. 22 chars; the padded form must not be accepted.
        let padded_tag = compact([
            A1_PROTECTED,
            A1_ENCRYPTED_KEY,
            A1_IV,
            A1_CIPHERTEXT,
            "XFBoMYUZodetZdvTiFvSkQ==",
        ]);
        assert!(matches!(
            decrypt_compact(&padded_tag, &pk8(A1_PRIVATE_PK8_B64)),
            Err(JweError::NotBase64Url(_))
        ));
    }

    #[test]
    fn header_that_is_not_a_unique_member_json_object_is_refused() {
        let token = fresh_token();
        for header in [
            "[1]",
            "\"RSA-OAEP-256\"",
            "null",
            "not json",
            "",
            r#"{"alg":"RSA-OAEP-256","enc":"A256GCM""#,
            r#"{"alg":"RSA1_5","alg":"RSA-OAEP-256","enc":"A256GCM"}"#,
        ] {
            let result = decrypt(&with_header(&token, header));
            assert!(matches!(result, Err(JweError::InvalidHeader)), "{header}: {result:?}");
        }
        let invalid_utf8 = replace_part(&token, 0, &URL_SAFE_NO_PAD.encode(b"{\"alg\":\"\xff\"}"));
        assert!(matches!(decrypt(&invalid_utf8), Err(JweError::InvalidHeader)));
    }

    #[test]
    fn zip_crit_and_unknown_algorithms_are_refused_before_decrypting() {
        let token = fresh_token();
        let cases = [
            (
                r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","zip":"DEF"}"#,
                JweError::Compressed,
            ),
            (
                r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","crit":["exp"],"exp":1}"#,
                JweError::Critical,
            ),
            (
                r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","crit":[]}"#,
                JweError::Critical,
            ),
            (
                r#"{"alg":"RSA-OAEP-256","enc":"A128CBC-HS256"}"#,
                JweError::UnsupportedEnc,
            ),
            (r#"{"alg":"RSA-OAEP-256","enc":"a256gcm"}"#, JweError::UnsupportedEnc),
            (r#"{"alg":"RSA-OAEP-256"}"#, JweError::UnsupportedEnc),
            (r#"{"alg":"RSA1_5","enc":"A256GCM"}"#, JweError::UnsupportedAlg),
            (r#"{"alg":"dir","enc":"A256GCM"}"#, JweError::UnsupportedAlg),
            (r#"{"alg":["RSA-OAEP"],"enc":"A256GCM"}"#, JweError::UnsupportedAlg),
        ];
        for (header, expected) in cases {
            let result = decrypt(&with_header(&token, header));
            let matches = result
                .as_ref()
                .is_err_and(|e| std::mem::discriminant(e) == std::mem::discriminant(&expected));
            assert!(matches, "{header}: {result:?}, expected {expected:?}");
        }
    }

    #[test]
    fn iv_or_tag_of_the_wrong_length_is_refused() {
        let token = fresh_token();
        let short_iv = replace_part(&token, 2, &URL_SAFE_NO_PAD.encode([0u8; 8]));
        assert!(matches!(
            decrypt(&short_iv),
            Err(JweError::BadLength("initialization vector"))
        ));
        let long_iv = replace_part(&token, 2, &URL_SAFE_NO_PAD.encode([0u8; 16]));
        assert!(matches!(
            decrypt(&long_iv),
            Err(JweError::BadLength("initialization vector"))
        ));
        let tag = d(token.split('.').nth(4).unwrap());
        let short_tag = replace_part(&token, 4, &URL_SAFE_NO_PAD.encode(&tag[..12]));
        assert!(matches!(
            decrypt(&short_tag),
            Err(JweError::BadLength("authentication tag"))
        ));
        let empty_tag = replace_part(&token, 4, "");
        assert!(matches!(
            decrypt(&empty_tag),
            Err(JweError::BadLength("authentication tag"))
        ));
        // A truncated or empty encrypted key is indistinguishable from a wrong one (RFC 7516 11.5).
        let enc_key = d(token.split('.').nth(1).unwrap());
        let short_key = replace_part(&token, 1, &URL_SAFE_NO_PAD.encode(&enc_key[..200]));
        assert!(matches!(decrypt(&short_key), Err(JweError::Decryption)));
        assert!(matches!(
            decrypt(&replace_part(&token, 1, "")),
            Err(JweError::Decryption)
        ));
    }

    #[test]
    fn bad_private_keys_are_refused() {
        assert!(matches!(
            decrypt_compact(&fresh_token(), b"not der"),
            Err(JweError::PrivateKeyRejected)
        ));
        assert!(matches!(
            decrypt_compact(&fresh_token(), &[]),
            Err(JweError::PrivateKeyRejected)
        ));
    }

    #[test]
    fn error_messages_carry_no_token_or_key_material() {
        let token = fresh_token();
        let errors = [
            decrypt(&flip_bit(&token, 3)).unwrap_err(),
            decrypt(&with_header(&token, r#"{"alg":"secret-alg","enc":"A256GCM"}"#)).unwrap_err(),
            JweRecipient::from_public_key("-----BEGIN x", KeyEncryption::RsaOaep, ContentEncryption::A128Gcm, None)
                .unwrap_err(),
        ];
        for e in errors {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("secret-alg") && !text.contains(&token[..20]), "{text}");
        }
    }

    // ---- Independent implementation: jwcrypto via tests/peers/verify_jwt.py ----

    const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/venv/bin/python");
    const VERIFY_JWT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/verify_jwt.py");

    fn verify_jwt_py(request: &serde_json::Value) -> (bool, serde_json::Value) {
        assert!(
            std::path::Path::new(PYTHON).exists(),
            "{PYTHON} is missing: run scripts/setup-tools (the test tools are installed before tests run)"
        );
        let mut child = Command::new(PYTHON)
            .arg(VERIFY_JWT)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {PYTHON}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let reply: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "verify_jwt.py printed no JSON ({e}): {stdout} / {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), reply)
    }

    #[test]
    fn jwcrypto_decrypts_and_verifies_what_we_encrypt() {
        let secret = "connect-style-security-key";
        let claims = serde_json::json!({"sub": "visitor-42", "iat": 1_700_000_000, "exp": 1_700_000_300});
        let jws = hs256_jws(secret, &claims);
        let cases = [
            (KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, Some("lp-2025")),
            (KeyEncryption::RsaOaep, ContentEncryption::A128Gcm, None),
        ];
        for (alg, enc, kid) in cases {
            let token = recipient(alg, enc, kid).encrypt_jwt(&jws).unwrap();
            let (ok, reply) = verify_jwt_py(&serde_json::json!({
                "token": token,
                "decrypt": {"pkcs8_b64": STANDARD.encode(&test_key().pkcs8)},
                "key": {"hmac_utf8": secret},
                "rules": "none",
                "expect": {"sub": "visitor-42"},
            }));
            assert!(ok, "{alg:?}/{enc:?}: {reply}");
            assert_eq!(reply["ok"], true);
            assert_eq!(reply["claims"], claims);
            assert_eq!(reply["header"], serde_json::json!({"alg": "HS256", "typ": "JWT"}));
            let mut want = serde_json::json!({"alg": alg.name(), "enc": enc.name(), "cty": "JWT"});
            if let Some(kid) = kid {
                want["kid"] = kid.into();
            }
            assert_eq!(reply["jwe_header"], want);
        }
    }

    #[test]
    fn jwcrypto_refuses_our_token_with_the_wrong_private_key() {
        let jws = hs256_jws("k", &serde_json::json!({"sub": "v"}));
        let token = recipient(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm, None)
            .encrypt_jwt(&jws)
            .unwrap();
        let (ok, reply) = verify_jwt_py(&serde_json::json!({
            "token": token,
            "decrypt": {"pkcs8_b64": STANDARD.encode(generate_key().pkcs8)},
            "key": {"hmac_utf8": "k"},
        }));
        assert!(!ok, "{reply}");
        assert_eq!(reply["ok"], false);
        assert!(
            reply["error"].as_str().unwrap().contains("JWE decryption failed"),
            "{reply}"
        );
    }
}
