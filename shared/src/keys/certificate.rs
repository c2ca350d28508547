//! Self-signed X.509 certificates of our RSA keys, derived deterministically from the key, its
//! `kid` and `created_at` (Salesforce's keyset takes each key as a JWK with `x5c`).
//!
//! The certificate is a v1 certificate (only the basic fields, as RFC 5280 4.1.2.1 advises when
//! there are no extensions): serial from SHA-256 of the `kid`, issuer = subject = `CN=whoscalling
//! signing key <kid>`, valid from an hour before `created_at` for the configured number of days,
//! signed with the key itself (RSA PKCS#1 v1.5 with SHA-256, which is deterministic). So the same
//! stored key always yields the same certificate and the secret's format does not change.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;

/// `sha256WithRSAEncryption` (1.2.840.113549.1.1.11) with NULL parameters.
const SHA256_WITH_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
/// `commonName` (2.5.4.3).
const COMMON_NAME: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];

/// How long before `created_at` a certificate is valid (clock skew at the verifier).
pub const NOT_BEFORE_MARGIN_SECONDS: u64 = 3600;

/// The DER certificate of `pair` for key `kid` created at `created_at`, valid for `validity_seconds`.
pub(crate) fn self_signed(pair: &KeyPair, kid: &str, created_at: u64, validity_seconds: u64) -> Result<Vec<u8>, ()> {
    let spki = pair.public_key().as_der().map_err(|_| ())?;
    let name = tlv(
        0x30,
        &tlv(
            0x31,
            &tlv(
                0x30,
                &[
                    COMMON_NAME,
                    &tlv(0x0c, format!("whoscalling signing key {kid}").as_bytes()),
                ]
                .concat(),
            ),
        ),
    );
    let validity = tlv(
        0x30,
        &[
            time(created_at.saturating_sub(NOT_BEFORE_MARGIN_SECONDS)),
            time(created_at.saturating_add(validity_seconds)),
        ]
        .concat(),
    );
    let tbs = tlv(
        0x30,
        &[
            serial(kid),
            SHA256_WITH_RSA.to_vec(),
            name.clone(),
            validity,
            name,
            spki.as_ref().to_vec(),
        ]
        .concat(),
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &tbs, &mut signature)
        .map_err(|_| ())?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&signature);
    Ok(tlv(0x30, &[tbs, SHA256_WITH_RSA.to_vec(), tlv(0x03, &bits)].concat()))
}

/// A positive 16-byte INTEGER from the `kid`'s SHA-256 (top bits `01`: positive and minimal).
fn serial(kid: &str) -> Vec<u8> {
    let hash = digest(&SHA256, kid.as_bytes());
    let mut value = hash.as_ref()[..16].to_vec();
    value[0] = (value[0] & 0x3f) | 0x40;
    tlv(0x02, &value)
}

/// UTCTime for 1950-2049, GeneralizedTime after (RFC 5280 4.1.2.5).
fn time(unix: u64) -> Vec<u8> {
    let days = (unix / 86_400) as i64;
    let seconds = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    let clock = format!(
        "{month:02}{day:02}{:02}{:02}{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if year < 2050 {
        tlv(0x17, format!("{:02}{clock}", year % 100).as_bytes())
    } else {
        tlv(0x18, format!("{year:04}{clock}").as_bytes())
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_lengths_are_encoded_as_der_wants() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(time(1_709_164_800 + 3661), tlv(0x17, b"240229010101Z"));
        assert_eq!(time(2_524_608_000), tlv(0x18, b"20500101000000Z"));
        assert_eq!(time(2_524_607_999), tlv(0x17, b"491231235959Z"));
        assert_eq!(tlv(0x04, &[7; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[7; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
        let serial = serial("rs256-abc");
        assert_eq!((serial[0], serial[1]), (0x02, 16));
        assert_eq!(serial[2] & 0xc0, 0x40, "positive, no leading zero needed");
    }

    #[test]
    fn the_same_key_always_gets_the_same_certificate() {
        let pair = KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let one = self_signed(&pair, "rs256-a", 1_795_000_000, 86_400 * 800).unwrap();
        let two = self_signed(&pair, "rs256-a", 1_795_000_000, 86_400 * 800).unwrap();
        assert_eq!(one, two);
        assert_ne!(one, self_signed(&pair, "rs256-b", 1_795_000_000, 86_400 * 800).unwrap());
        assert_eq!(one[0], 0x30);
    }
}
