//! Runs the real `exchange-code` handler on every file in `events/exchange-code/` (in name
//! order, so `token-1-valid` redeems the code `token-2-valid-replayed` then replays), with the
//! configuration `events/env.json` gives `ExchangeCodeFunction`, and checks each answer against
//! `expected.json`. The sample codes are seeded into the grant store as an authorization would
//! have stored them; the id_token issued is checked by jwcrypto against the published JWKS.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::header;
use serde_json::{Value, json};
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::grants::{Grant, hash_secret};
use whoscalling::identity::{JwksError, JwksSource};
use whoscalling::keys::KeySetDocument;
use whoscalling::openid_provider::{GrantStore, MemoryGrantStore};
use whoscalling::signing::SigningAlgorithm;
use whoscalling::{IdentityVerifier, SystemClock};
use whoscalling_tests::{
    CapturedLogs, event_expectations, events_config_for, json_body, load_event, verify_independently,
};

const PUZZEL_SECRET: &str = "sampleclientsecretforpuzzel0123456789abcdefABCDEF";
const GENESYS_SECRET: &str = "sampleclientsecretforgenesys0123456789abcdefABCDE";
/// RFC 7636 appendix B's challenge (the events' verifier is the appendix's verifier).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct EmptyJwks;

#[async_trait]
impl JwksSource for EmptyJwks {
    async fn fetch(&self) -> Result<Value, JwksError> {
        Ok(json!({"keys": []}))
    }
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// Stores the two sample grants the token events present.
async fn seed(grants: &MemoryGrantStore) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub": "alice", "name": "Alice Nordmann", "nin": "123456*****"})
        .as_object()
        .cloned()
        .unwrap();
    for (grant_id, secret, client, redirect_uri, challenge) in [
        (
            "sample-grant-one",
            "sample-code-secret-for-grant-001",
            "puzzel",
            "https://chat.puzzel.example/v1/auth/redirect",
            None,
        ),
        (
            "sample-grant-two",
            "sample-code-secret-for-grant-002",
            "genesys",
            "https://www.example.com/genesys-callback",
            Some(CHALLENGE),
        ),
    ] {
        let grant = Grant {
            client_id: client.into(),
            redirect_uri: redirect_uri.into(),
            scope: "openid profile".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            code_challenge: challenge.map(String::from),
            auth_time: now - 30,
            claims: claims.clone(),
        };
        grants
            .create(&b64(grant_id), &grant, &hash_secret(&b64(secret)), now + 3600)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let logs = CapturedLogs::install();
    let config = events_config_for("ExchangeCodeFunction");
    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/clients/puzzel", PUZZEL_SECRET));
    secrets.put("whoscalling/clients/genesys", GENESYS_SECRET);
    secrets.put("whoscalling/clients/liveperson", "sampleclientsecretforliveperson");
    let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_795_000_000).unwrap();
    secrets.put("whoscalling/signing-keys", keys.to_secret_string().expose());
    let grants = Arc::new(MemoryGrantStore::new());
    seed(&grants).await;
    let clock = Arc::new(SystemClock);
    let jwks_source: Arc<dyn JwksSource> = Arc::new(EmptyJwks);
    let identity = IdentityVerifier::with_jwks_source(&config, Some(jwks_source), clock.clone()).unwrap();
    let deps = exchange_code::Deps::new(&config, identity, grants, secrets.clone(), clock).unwrap();
    let published = publish_keys::Deps::new(&config, secrets.clone()).unwrap();
    let jwks_response = publish_keys::function_handler(&published, load_event("publish-keys/jwks.json"))
        .await
        .unwrap();
    let jwks: Value = json_body(&jwks_response);

    let expected = event_expectations("exchange-code");

    let mut issued = Vec::new();
    for (file, expectation) in expected {
        let response = exchange_code::function_handler(&deps, load_event(&format!("exchange-code/{file}")))
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            u64::from(status),
            expectation["status"].as_u64().unwrap(),
            "{file}: {:?}",
            response.body()
        );
        assert!(response.headers().contains_key(header::CACHE_CONTROL), "{file}");
        if let Some(code) = expectation.get("error") {
            let body = json_body(&response);
            assert_eq!(&body["error"], code, "{file}: {body}");
            assert!(
                body.get("access_token").is_none() && body.get("id_token").is_none() && body.get("ssoKey").is_none(),
                "{file}"
            );
            if status == 401 {
                assert!(response.headers().contains_key(header::WWW_AUTHENTICATE), "{file}");
            }
        } else if let Some(code) = expectation.get("page") {
            assert!(
                response.headers().get(header::LOCATION).is_none(),
                "{file}: never a redirect"
            );
            let lambda_http::Body::Text(html) = response.body() else {
                panic!("{file}: page expected")
            };
            assert!(html.contains(code.as_str().unwrap()), "{file}");
        } else if let Some(what) = expectation.get("redirect") {
            let location = url::Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
            let query: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
            assert_eq!(
                query["iss"], "https://abc123def4.execute-api.eu-west-1.amazonaws.com",
                "{file}: RFC 9207 iss"
            );
            match what.as_str().unwrap() {
                "code" => assert!(
                    query.contains_key("code") && query["state"] == "af0ifjsldkj",
                    "{file}: {query:?}"
                ),
                error => assert_eq!(query.get("error").map(String::as_str), Some(error), "{file}"),
            }
        } else if file.starts_with("token-") {
            let body = json_body(&response);
            assert_eq!(response.headers()[header::PRAGMA], "no-cache");
            issued.push(body["id_token"].as_str().unwrap().to_string());
        } else if file.starts_with("code-") {
            let body = json_body(&response);
            assert_eq!(body["redirect_uri"], "https://liveperson.net");
            assert!(body["ssoKey"].as_str().is_some_and(|c| c.len() == 66), "{file}");
        } else {
            assert_eq!(
                json_body(&response)["issuer"],
                "https://abc123def4.execute-api.eu-west-1.amazonaws.com"
            );
        }
    }
    assert_eq!(issued.len(), 1, "one valid exchange");
    let verdict = verify_independently(&json!({"token": issued[0], "key": {"jwks": jwks}, "rules": "none",
        "expect": {"aud": "puzzel", "sub": "alice", "nonce": "n-0S6_WzA2Mj", "nin": "123456*****"}}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    logs.assert_free_of(&[
        &issued[0],
        PUZZEL_SECRET,
        GENESYS_SECRET,
        "12345678901",
        "alice@example.com",
        &b64("sample-code-secret-for-grant-001"),
    ]);
}
