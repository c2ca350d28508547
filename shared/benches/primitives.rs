//! The crypto primitives alone, so each mint path can be compared with the cost of its crypto:
//! HS256 sign, RS256 verify, RS256 sign, ES256 sign, and RS256 with the key parsed per token (what
//! `jsonwebtoken::encode` does) to show what parsing once per container saves.

// A benchmark, like a test, should stop loudly on a broken invariant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use std::hint::black_box;

/// A realistic JWS signing input: a header and a ~400-byte payload, base64url-encoded.
fn signing_input() -> Vec<u8> {
    let header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzMjU2LWFiY2RlZmdoaWprbCJ9";
    format!("{header}.{}", "eyJ".repeat(180)).into_bytes()
}

fn primitives(c: &mut Criterion) {
    let message = signing_input();
    let rng = SystemRandom::new();

    let hmac_key = EncodingKey::from_secret(b"c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ==");
    c.bench_function("primitive/hs256_sign", |b| {
        b.iter(|| jsonwebtoken::crypto::sign(black_box(&message), &hmac_key, Algorithm::HS256).unwrap())
    });

    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = rsa.as_der().unwrap();
    let signer = RsaKeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut signature = vec![0; signer.public_modulus_len()];
    c.bench_function("primitive/rs256_sign", |b| {
        b.iter(|| {
            signer
                .sign(&RSA_PKCS1_SHA256, &rng, black_box(&message), &mut signature)
                .unwrap()
        })
    });
    c.bench_function("primitive/rs256_sign_parsing_key_each_time", |b| {
        b.iter(|| {
            let parsed = RsaKeyPair::from_pkcs8(black_box(pkcs8.as_ref())).unwrap();
            parsed.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature).unwrap()
        })
    });

    signer.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature).unwrap();
    let public = signer.public_key();
    let n = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        public.modulus().big_endian_without_leading_zero(),
    );
    let verify_key = DecodingKey::from_rsa_components(&n, "AQAB").unwrap();
    let signature_b64 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &signature);
    c.bench_function("primitive/rs256_verify", |b| {
        b.iter(|| {
            assert!(
                jsonwebtoken::crypto::verify(black_box(&signature_b64), &message, &verify_key, Algorithm::RS256)
                    .unwrap()
            )
        })
    });

    let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref()).unwrap();
    c.bench_function("primitive/es256_sign", |b| {
        b.iter(|| ec.sign(&rng, black_box(&message)).unwrap())
    });
}

criterion_group!(benches, primitives);
criterion_main!(benches);
