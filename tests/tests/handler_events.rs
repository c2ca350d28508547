//! Runs the real `mint-token` handler on every file in `events/mint-token/`, with the
//! configuration of `events/env.json`, and checks each answer against `expected.json`.
//! Every event file must have an expectation, so a new sample cannot go untested.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use lambda_http::http::header;
use mint_token::{Deps, function_handler};
use serde_json::{Value, json};
use whoscalling::identity::{JwksError, JwksSource};
use whoscalling::secrets::InMemorySecretStore;
use whoscalling::{IdentityVerifier, SystemClock};
use whoscalling_tests::{CapturedLogs, events_config, json_body, load_event, verify_independently, workspace_root};

const CONNECT_KEY: &str = "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ";

/// The bearer path never needs these keys for the sample refusals (they fail before a key is
/// looked up, or on an unknown key), but counts fetches so the test can prove it.
struct EmptyJwks(std::sync::atomic::AtomicUsize);

#[async_trait]
impl JwksSource for EmptyJwks {
    async fn fetch(&self) -> Result<Value, JwksError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(json!({"keys": []}))
    }
}

fn deps(secrets: Arc<InMemorySecretStore>) -> Deps {
    let config = events_config();
    let clock = Arc::new(SystemClock);
    let jwks: Arc<dyn JwksSource> = Arc::new(EmptyJwks(Default::default()));
    let identity = IdentityVerifier::with_jwks_source(&config, Some(jwks), clock.clone()).expect("identity");
    Deps::new(&config, identity, secrets, clock).expect("deps")
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let logs = CapturedLogs::install();
    let expected: BTreeMap<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events/mint-token/expected.json")).expect("expected.json"),
    )
    .expect("expected.json JSON");
    let mut files: Vec<String> = std::fs::read_dir(workspace_root().join("events/mint-token"))
        .expect("events dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && name != "expected.json")
        .collect();
    files.sort();
    assert_eq!(files, expected.keys().cloned().collect::<Vec<_>>(), "every event needs an expectation and vice versa");

    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/connect-widget-key", CONNECT_KEY));
    let deps = deps(secrets.clone());
    let mut minted = Vec::new();
    for file in &files {
        let expectation = &expected[file];
        let response = function_handler(&deps, load_event(&format!("mint-token/{file}"))).await.expect("handler");
        let status = response.status().as_u16();
        assert_eq!(status, expectation["status"].as_u64().expect("status") as u16, "{file}");
        let body = json_body(&response);
        match expectation.get("error") {
            Some(code) => {
                assert_eq!(&body["error"], code, "{file}: {body}");
                assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{file}");
                assert!(body.get("data").is_none(), "{file}: an error must not carry a token");
                assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            }
            None if status == 200 => minted.push(body["data"].as_str().expect("data").to_string()),
            None => assert!(body.is_null(), "{file}: {body}"),
        }
        // Every answer to the allowed origin carries CORS, errors included.
        let origin = load_event(&format!("mint-token/{file}")).headers().get(header::ORIGIN).cloned();
        if origin.as_ref().is_some_and(|o| o == "https://www.example.com") {
            assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://www.example.com", "{file}");
        } else {
            assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{file}");
        }
        match status {
            401 => assert!(response.headers().contains_key(header::WWW_AUTHENTICATE), "{file}"),
            405 => assert!(response.headers().contains_key(header::ALLOW), "{file}"),
            204 => assert!(response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().contains("POST")),
            _ => {}
        }
    }
    // Only the two valid samples minted, and only they read the key.
    assert_eq!(minted.len(), 2);
    assert_eq!(secrets.reads(), 2);

    for token in &minted {
        let verdict = verify_independently(&json!({
            "token": token,
            "key": {"hmac_utf8": CONNECT_KEY},
            "rules": "amazon-connect",
            "expect": {"sub": "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11", "customerId": "alice"}
        }));
        assert_eq!(verdict["ok"], true, "{verdict}");
        assert_eq!(verdict["header"], json!({"alg": "HS256", "typ": "JWT"}));
        let claims = &verdict["claims"];
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 500);
        assert_eq!(claims["attributes"], json!({"firstName": "Alice", "lastName": "Nordmann", "nationalId": "123456*****"}));
    }
    let mut needles: Vec<&str> = minted.iter().map(String::as_str).collect();
    needles.extend([CONNECT_KEY, "alice@example.com", "12345678901", "Nordmann"]);
    logs.assert_free_of(&needles);
}

#[tokio::test]
async fn secret_store_outage_without_cache_is_a_503_with_retry_after() {
    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/connect-widget-key", CONNECT_KEY));
    secrets.set_unavailable(true);
    let deps = deps(secrets);
    let response = function_handler(&deps, load_event("mint-token/valid-authorizer-get.json")).await.expect("handler");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://www.example.com");
    let body = json_body(&response);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(!body.to_string().contains("whoscalling/connect-widget-key"), "5xx bodies say nothing internal");
}

#[tokio::test]
async fn missing_secret_is_an_opaque_500() {
    let deps = deps(Arc::new(InMemorySecretStore::default()));
    let response = function_handler(&deps, load_event("mint-token/valid-authorizer-get.json")).await.expect("handler");
    assert_eq!(response.status(), 500);
    let body = json_body(&response);
    assert_eq!(body, json!({"error": "server_error", "error_description": "the service could not complete the request"}));
}
