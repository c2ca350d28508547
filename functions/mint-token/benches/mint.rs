//! The warm mint paths, end to end through the real handler or service:
//! - Connect: decode an API Gateway event, verify the visitor's RS256 bearer token against a
//!   cached JWKS, map claims, sign HS256, serialize the API Gateway response;
//! - LivePerson: map claims into `lp_sdes` and sign RS256 (key parsed once per container), plus
//!   the ES256 signer with the same claims; and the same RS256 token with `jsonwebtoken::encode`,
//!   which parses the key per token.

// A benchmark, like a test, should stop loudly on a broken invariant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use mint_token::{Deps, function_handler};
use serde_json::{Value, json};
use std::hint::black_box;
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::identity::{JwksError, JwksSource};
use whoscalling::keys::{KeyRing, KeySetDocument};
use whoscalling::signing::SigningAlgorithm;
use whoscalling::{IdentityVerifier, MintService, ServiceConfig, SystemClock, VerifiedClaims};

struct StaticJwks(Value);

#[async_trait]
impl JwksSource for StaticJwks {
    async fn fetch(&self) -> Result<Value, JwksError> {
        Ok(self.0.clone())
    }
}

const ISSUER: &str = "https://idp.example.com";

/// An identity provider's RS256 key: the JWKS it publishes and a visitor token it signed.
fn visitor_token_and_jwks() -> (String, Value) {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "idp-1", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())}]});
    let signer =
        whoscalling::signing::JwsSigner::from_pkcs8(SigningAlgorithm::RS256, "idp-1", pair.as_der().unwrap().as_ref())
            .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = signer
        .sign_jwt(
            &json!({"iss": ISSUER, "aud": "web", "sub": "alice", "iat": now, "exp": now + 3600,
            "given_name": "Alice", "family_name": "Nordmann", "email": "alice@example.com", "nin": "12345678901"}),
        )
        .unwrap();
    (token, jwks)
}

fn connect_event(token: &str) -> String {
    json!({
        "version": "2.0", "routeKey": "GET /token/{profile}", "rawPath": "/token/connect", "rawQueryString": "",
        "headers": {"origin": "https://www.example.com", "authorization": format!("Bearer {token}"), "host": "api.example.com"},
        "pathParameters": {"profile": "connect"}, "isBase64Encoded": false,
        "requestContext": {"requestId": "bench", "http": {"method": "GET", "path": "/token/connect", "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10", "userAgent": "bench"}, "timeEpoch": 0}
    })
    .to_string()
}

fn config() -> ServiceConfig {
    ServiceConfig::from_json("bench", &json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["bearer_token"], "issuer": ISSUER, "audiences": ["web"], "algorithms": ["RS256"], "leeway_seconds": 30},
        "signing_keys": {"secret": "keys"},
        "profiles": {
            "connect": {"platform": "amazon-connect", "widget_id": "widget", "security_key_secret": "connect-key",
                "token_lifetime_seconds": 500, "customer_id": {"claim": "sub"},
                "attributes": {"firstName": {"claim": "given_name"}, "lastName": {"claim": "family_name"}, "nationalId": {"claim": "nin"}}},
            "liveperson": {"platform": "liveperson", "issuer": "https://www.example.com", "token_lifetime_seconds": 600,
                "claims": {"given_name": {"claim": "given_name"}, "family_name": {"claim": "family_name"}, "email": {"claim": "email"}},
                "customer_info": {"customerId": {"claim": "sub"}, "socialId": {"claim": "nin"}},
                "personal": {"firstname": {"claim": "given_name"}, "lastname": {"claim": "family_name"}, "email": {"claim": "email"}}}
        }
    }).to_string()).unwrap()
}

/// Serializes a handler's answer as the runtime sends it back to API Gateway.
fn api_gateway_response(response: lambda_http::Response<lambda_http::Body>) -> Vec<u8> {
    assert_eq!(response.status(), 200);
    let (parts, body) = response.into_parts();
    let lambda_http::Body::Text(text) = body else {
        unreachable!()
    };
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.body = Some(text.into());
    serde_json::to_vec(&out).unwrap()
}

fn paths(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (token, jwks) = visitor_token_and_jwks();
    let config = config();
    let key_set = KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], 0).unwrap();
    let store = Arc::new(InMemorySecretStore::with(
        "connect-key",
        "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ",
    ));
    store.put("keys", key_set.to_secret_string().expose());
    let clock = Arc::new(SystemClock);
    let source: Arc<dyn JwksSource> = Arc::new(StaticJwks(jwks));
    let identity = IdentityVerifier::with_jwks_source(&config, Some(source), clock.clone()).unwrap();
    let deps = Deps::new(&config, identity, store.clone(), clock.clone()).unwrap();
    let event = connect_event(&token);

    let mint_connect = || async {
        let request = lambda_http::request::from_str(black_box(&event)).unwrap();
        api_gateway_response(function_handler(&deps, request).await.unwrap())
    };
    runtime.block_on(mint_connect()); // warm: JWKS fetched, secret cached
    c.bench_function("path/connect_warm_mint", |b| {
        b.iter(|| runtime.block_on(mint_connect()))
    });

    // The same work as the Python and Node references do per request: the sample event with API
    // Gateway authorizer claims (no bearer verification), the events/env.json configuration.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env: Value = serde_json::from_str(&std::fs::read_to_string(root.join("events/env.json")).unwrap()).unwrap();
    let document = env["MintTokenFunction"]["WHOSCALLING_CONFIG"]
        .as_str()
        .unwrap()
        .to_string();
    let events_config = ServiceConfig::from_json("events/env.json", &document).unwrap();
    let events_store = Arc::new(InMemorySecretStore::with(
        "whoscalling/connect-widget-key",
        "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ",
    ));
    let events_identity = IdentityVerifier::with_jwks_source(&events_config, None, clock.clone()).unwrap();
    let events_deps = Deps::new(&events_config, events_identity, events_store, clock.clone()).unwrap();
    let sample = std::fs::read_to_string(root.join("events/mint-token/valid-authorizer-get.json")).unwrap();
    let mint_sample = || async {
        let request = lambda_http::request::from_str(black_box(&sample)).unwrap();
        api_gateway_response(function_handler(&events_deps, request).await.unwrap())
    };
    runtime.block_on(mint_sample());
    c.bench_function("path/connect_warm_mint_authorizer", |b| {
        b.iter(|| runtime.block_on(mint_sample()))
    });
    // The part of that path that is lambda_http decoding the event (the runtime's work, not ours).
    c.bench_function("path/decode_api_gateway_event", |b| {
        b.iter(|| lambda_http::request::from_str(black_box(&sample)).unwrap())
    });

    let minter = MintService::new(&config, store, clock).unwrap();
    let visitor = VerifiedClaims::from_json(json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann",
        "email": "alice@example.com", "nin": "12345678901"}))
    .unwrap();
    runtime
        .block_on(minter.mint_named("liveperson", visitor.clone()))
        .unwrap();
    c.bench_function("path/liveperson_rs256_mint", |b| {
        b.iter(|| {
            runtime
                .block_on(minter.mint_named("liveperson", black_box(visitor.clone())))
                .unwrap()
        })
    });

    let ring = KeyRing::from_document(&key_set).unwrap();
    let claims = whoscalling::platforms::liveperson::liveperson_claims(
        match config.profiles.values().nth(1).unwrap() {
            whoscalling::platforms::ProfileConfig::LivePerson(p) => p,
            _ => unreachable!(),
        },
        &visitor,
        0,
    )
    .unwrap();
    let es256 = ring.signer(SigningAlgorithm::ES256).unwrap();
    c.bench_function("path/liveperson_es256_sign", |b| {
        b.iter(|| es256.sign_jwt(black_box(&claims)).unwrap())
    });
    let rs256 = ring.signer(SigningAlgorithm::RS256).unwrap();
    c.bench_function("path/liveperson_rs256_sign", |b| {
        b.iter(|| rs256.sign_jwt(black_box(&claims)).unwrap())
    });

    // jsonwebtoken::encode for comparison: it re-parses the private key on every call.
    let pkcs1 = {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        // PKCS#1 RSAPrivateKey is inside the PKCS#8 OCTET STRING; jsonwebtoken wants PKCS#1.
        let pkcs8 = pair.as_der().unwrap();
        pkcs8.as_ref()[26..].to_vec()
    };
    let encoding_key = jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    if jsonwebtoken::encode(&header, &claims, &encoding_key).is_ok() {
        c.bench_function("path/liveperson_rs256_jsonwebtoken_encode", |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding_key).unwrap())
        });
    }
}

criterion_group!(benches, paths);
criterion_main!(benches);
