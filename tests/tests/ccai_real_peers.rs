//! Google Cloud CCAI Platform end to end against real peers: a visitor logs in at npm
//! `oidc-provider`, the handler verifies the ID token through discovery, reads the company secret
//! through the real AWS SDK from moto's Secrets Manager, and jwcrypto checks the minted token with
//! CCAI Platform's rules: the UTF-8 bytes of the secret verify it, its base64-decoded bytes do not.

use std::sync::Arc;

use base64::Engine as _;
use mint_token::{Deps, function_handler};
use serde_json::{Value, json};
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::secrets::{PLACEHOLDER_VALUE, SecretCacheSettings};
use whoscalling::{ServiceConfig, SystemClock};
use whoscalling_tests::{
    CapturedLogs, OIDC_CLIENT_ID, create_secret, json_body, log_in_at_provider, moto,
    oidc_provider_with_id_token_claims, secrets_manager_config, verify_independently,
};

const ORIGIN: &str = "https://shop.example.com";
/// Base64 text, as the portal shows a company secret.
const SECRET: &str = "Q0NBSSBQbGF0Zm9ybSBjb21wYW55IHNlY3JldCBmb3IgdGVzdHM=";

fn config(issuer: &str, secret_arn: &str) -> ServiceConfig {
    let document = json!({
        "allowed_origins": [ORIGIN],
        "secret_cache": {"ttl_seconds": 300},
        "identity": {"sources": ["bearer_token"], "issuer": issuer, "audiences": [OIDC_CLIENT_ID],
                     "algorithms": ["RS256", "ES256"], "leeway_seconds": 30},
        "profiles": {"ccai": {"platform": "ccai-platform", "company_name": "Example Shop",
            "company_secret_secret": secret_arn, "token_lifetime_seconds": 3600}}
    });
    ServiceConfig::from_json("test", &document.to_string()).expect("config")
}

fn request(bearer: &str) -> lambda_http::Request {
    let event = json!({
        "version": "2.0", "routeKey": "POST /token/{profile}", "rawPath": "/token/ccai",
        "rawQueryString": "", "headers": {"origin": ORIGIN, "host": "api.example.com",
            "authorization": format!("Bearer {bearer}")},
        "pathParameters": {"profile": "ccai"}, "isBase64Encoded": false,
        "requestContext": {"requestId": "test-request", "http": {"method": "POST", "path": "/token/ccai",
            "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}, "timeEpoch": 0}
    });
    lambda_http::request::from_str(&event.to_string()).expect("event")
}

#[tokio::test]
async fn company_secret_from_secrets_manager_signs_a_token_ccai_rules_accept() {
    let logs = CapturedLogs::install();
    let provider = oidc_provider_with_id_token_claims();
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let mut arns = Vec::new();
    for (name, value) in [("ccai-company-secret", SECRET), ("ccai-placeholder", PLACEHOLDER_VALUE)] {
        arns.push(create_secret(&client, name, value).await);
    }
    let store = SecretsManagerStore::new(secrets_manager_config(&moto.url), SecretCacheSettings::default())
        .await
        .expect("store");
    let store = Arc::new(store);
    let deps = Deps::from_config(&config(&provider.url, &arns[0]), store.clone(), Arc::new(SystemClock)).expect("deps");
    let id_token = log_in_at_provider(&provider.url, "alice").await;

    let response = function_handler(&deps, request(&id_token)).await.expect("handler");
    assert_eq!(response.status(), 200, "{:?}", json_body(&response));
    let body = json_body(&response);
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "exactly {{\"token\": ...}}: {body}"
    );
    let token = body["token"].as_str().expect("token").to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let verdict = verify_independently(
        &json!({"token": token, "key": {"hmac_utf8": SECRET}, "rules": "ccai-platform",
        "expect": {"iss": "Example Shop", "identifier": "alice", "name": "Alice Nordmann"}, "now": now}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["header"], json!({"alg": "HS256", "typ": "JWT"}));
    let claims: &Value = &verdict["claims"];
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
    let decoded = base64::engine::general_purpose::STANDARD.decode(SECRET).unwrap();
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(decoded);
    let wrong = verify_independently(&json!({"token": token, "key": {"jwks": {"keys": [{"kty": "oct", "k": k}]}}}));
    assert_eq!(wrong["ok"], false, "signed with the base64-decoded secret: {wrong}");

    // The template's placeholder is never signed with: a 500 that says nothing internal.
    let placeholder = Deps::from_config(&config(&provider.url, &arns[1]), store, Arc::new(SystemClock)).expect("deps");
    let refused = function_handler(&placeholder, request(&id_token))
        .await
        .expect("handler");
    assert_eq!(refused.status(), 500);
    let body = json_body(&refused);
    assert_eq!(body["error"], "server_error", "{body}");
    assert!(body.get("token").is_none());

    logs.assert_free_of(&[&id_token, &token, SECRET]);
}
