//! Requests without an `Origin` header, per identity source, through the real mint-token handler.
//!
//! A server-side caller (no browser, so no `Origin`) proves the visitor with a token: a bearer
//! token or API Gateway's authorizer claims are accepted without `Origin`. The session cookie is
//! ambient (the browser attaches it to any request to us), so it counts only on a browser's CORS
//! request, which always carries `Origin`: without one it is 403 `origin_required`, before
//! anything is minted. Controls: the same cookie with the allowed `Origin` mints, and a bearer
//! token next to the cookie is judged as the bearer token.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::http::header;
use mint_token::{Deps, function_handler};
use serde_json::{Value, json};
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::clock::FixedClock;
use whoscalling::identity::{JwksError, JwksSource};
use whoscalling::session::{Purpose, SessionKeys, SessionPayload};
use whoscalling::{IdentityVerifier, SecretName, ServiceConfig};
use whoscalling_tests::json_body;

const NOW: u64 = 1_800_000_000;
const ORIGIN: &str = "https://www.example.com";
const ISSUER: &str = "https://idp.example.com";
const SESSION_SECRET: &str = "whoscalling/session-key";
const CONNECT_SECRET: &str = "whoscalling/connect-widget-key";

struct StaticJwks(Value);

#[async_trait]
impl JwksSource for StaticJwks {
    async fn fetch(&self) -> Result<Value, JwksError> {
        Ok(self.0.clone())
    }
}

struct World {
    deps: Deps,
    signing: EncodingKey,
    cookie: String,
}

fn config() -> ServiceConfig {
    let document = json!({
        "allowed_origins": [ORIGIN],
        "identity": {"sources": ["api_gateway_authorizer", "bearer_token", "session"], "issuer": ISSUER,
                     "audiences": ["web"], "algorithms": ["ES256"], "leeway_seconds": 30},
        "session": {"key_secret": SESSION_SECRET},
        "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "w-1", "security_key_secret": CONNECT_SECRET,
            "token_lifetime_seconds": 300, "attributes": {"firstName": {"claim": "given_name"}}}}
    });
    ServiceConfig::from_json("origin-policy", &document.to_string()).expect("config")
}

async fn world() -> World {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key");
    let point = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
    let secrets = Arc::new(InMemorySecretStore::with(
        CONNECT_SECRET,
        "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ",
    ));
    secrets.put(SESSION_SECRET, "a-session-key-secret-of-at-least-32-characters");
    let clock = Arc::new(FixedClock::at(NOW));
    let config = config();
    let source: Arc<dyn JwksSource> = Arc::new(StaticJwks(json!({"keys": [jwk]})));
    let identity = IdentityVerifier::with_jwks_source(&config, Some(source), clock.clone()).expect("identity");
    let deps = Deps::new(&config, identity, secrets.clone(), clock).expect("deps");
    // A session as the visitor login seals it.
    let keys = SessionKeys::new(
        secrets.clone(),
        SecretName::try_from(SESSION_SECRET.to_string()).expect("name"),
    );
    let claims = json!({"sub": "visitor-7", "given_name": "Kari"});
    let payload = SessionPayload {
        provider: "bankid".into(),
        claims: claims.as_object().expect("object").clone(),
        iat: NOW - 60,
        exp: NOW + 600,
    };
    let sealed = keys.seal_json(Purpose::Session, &payload).await.expect("seal");
    World {
        deps,
        signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
        cookie: format!("whoscalling_session={sealed}"),
    }
}

impl World {
    fn bearer(&self) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        let claims = json!({"iss": ISSUER, "aud": "web", "sub": "visitor-7", "iat": NOW - 10, "exp": NOW + 300, "given_name": "Kari"});
        jsonwebtoken::encode(&header, &claims, &self.signing).expect("sign")
    }
}

/// A `/token/connect` request with these headers (and authorizer claims when given).
fn event(method: &str, headers: &[(&str, &str)], authorizer: Option<Value>) -> lambda_http::Request {
    let headers: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let mut event = json!({
        "version": "2.0", "routeKey": format!("{method} /token/{{profile}}"), "rawPath": "/token/connect", "rawQueryString": "",
        "headers": headers, "pathParameters": {"profile": "connect"}, "isBase64Encoded": false,
        "requestContext": {"requestId": "origin-policy", "http": {"method": method, "path": "/token/connect",
            "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"}, "timeEpoch": 0}
    });
    if let Some(claims) = authorizer {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event")
}

#[tokio::test]
async fn a_session_cookie_needs_a_browser_origin_and_tokens_do_not() {
    let world = world().await;
    let bearer = format!("Bearer {}", world.bearer());
    let cookie = world.cookie.as_str();
    let authorizer = json!({"sub": "visitor-7", "iss": ISSUER, "aud": "web", "given_name": "Kari", "iat": "1799999990", "exp": "1800000300"});
    let cases: Vec<(&str, lambda_http::Request, u16, Option<&str>)> = vec![
        // Controls: what a browser page and a server-side caller send.
        (
            "session cookie, allowed Origin (the page's CORS fetch)",
            event("GET", &[("origin", ORIGIN), ("cookie", cookie)], None),
            200,
            None,
        ),
        (
            "session cookie, allowed Origin, POST",
            event("POST", &[("origin", ORIGIN), ("cookie", cookie)], None),
            200,
            None,
        ),
        (
            "bearer token, no Origin (server-side caller)",
            event("GET", &[("authorization", &bearer)], None),
            200,
            None,
        ),
        (
            "authorizer claims, no Origin (server-side caller)",
            event("GET", &[], Some(authorizer.clone())),
            200,
            None,
        ),
        (
            "bearer token and session cookie, no Origin (the token decides)",
            event("GET", &[("authorization", &bearer), ("cookie", cookie)], None),
            200,
            None,
        ),
        // The cookie alone, without Origin: not our page's fetch.
        (
            "session cookie, no Origin, GET",
            event("GET", &[("cookie", cookie)], None),
            403,
            Some("origin_required"),
        ),
        (
            "session cookie, no Origin, POST",
            event("POST", &[("cookie", cookie)], None),
            403,
            Some("origin_required"),
        ),
        (
            "session cookie among others, no Origin",
            event("GET", &[("cookie", &format!("a=1; {cookie}; b=2"))], None),
            403,
            Some("origin_required"),
        ),
        // Other refusals keep their own codes.
        (
            "session cookie, foreign Origin",
            event("GET", &[("origin", "https://evil.example"), ("cookie", cookie)], None),
            403,
            Some("origin_not_allowed"),
        ),
        (
            "session cookie, Origin null",
            event("GET", &[("origin", "null"), ("cookie", cookie)], None),
            403,
            Some("origin_not_allowed"),
        ),
        (
            "forged session cookie, no Origin",
            event("GET", &[("cookie", "whoscalling_session=AAAA")], None),
            401,
            Some("invalid_token"),
        ),
        (
            "no credentials, no Origin",
            event("GET", &[], None),
            401,
            Some("missing_token"),
        ),
    ];
    for (what, request, status, code) in cases {
        let response = function_handler(&world.deps, request).await.expect("a response");
        let body = json_body(&response);
        assert_eq!(response.status().as_u16(), status, "{what}: {body}");
        match code {
            Some(code) => {
                assert_eq!(body["error"], code, "{what}: {body}");
                assert!(
                    body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{what}"
                );
                assert!(body.get("data").is_none(), "{what}: nothing minted");
            }
            None => assert!(
                body["data"].as_str().is_some_and(|t| t.split('.').count() == 3),
                "{what}: {body}"
            ),
        }
        let acao = response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        assert_eq!(
            acao.is_some(),
            what.contains("allowed Origin"),
            "{what}: CORS only for the allowed origin, {acao:?}"
        );
    }
}
