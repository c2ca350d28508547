//! Runs the real `visitor-login` handler on every file in `events/visitor-login/` with the
//! configuration `events/env.json` gives `VisitorLoginFunction`, and checks each answer against
//! `expected.json`. The login-state cookies in the callback events were sealed by Python's
//! `cryptography` (HKDF-SHA256 + AES-256-GCM, as `shared/src/session.rs` documents), so these
//! events also prove the cookie format against an independent implementation.

use std::sync::Arc;

use lambda_http::http::header;
use serde_json::Value;
use whoscalling::SystemClock;
use whoscalling::adapters::InMemorySecretStore;
use whoscalling_tests::{CapturedLogs, event_expectations, events_config_for, load_event};

/// The session-key secret the sample cookies were sealed with.
const SAMPLE_SESSION_KEY: &str = "sample-session-key-for-events-0123456789abcdef";

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let logs = CapturedLogs::install();
    let config = events_config_for("VisitorLoginFunction");
    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/session-key", SAMPLE_SESSION_KEY));
    secrets.put("whoscalling/upstream/bankid", "sample-upstream-client-secret");
    let deps = visitor_login::Deps::new(&config, secrets, Arc::new(SystemClock)).expect("deps");

    let expected = event_expectations("visitor-login");

    for (file, expectation) in expected {
        let response = visitor_login::function_handler(&deps, load_event(&format!("visitor-login/{file}")))
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            u64::from(status),
            expectation["status"].as_u64().unwrap(),
            "{file}: {:?}",
            response.body()
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store", "{file}");
        let cookies: Vec<&str> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            cookies
                .iter()
                .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure")),
            "{file}: {cookies:?}"
        );
        assert!(
            !cookies
                .iter()
                .any(|c| c.starts_with("whoscalling_session=") && !c.contains("Max-Age=0")),
            "{file}: no session"
        );
        if let Some(code) = expectation.get("error").and_then(Value::as_str) {
            let lambda_http::Body::Text(body) = response.body() else {
                panic!("{file}: a body")
            };
            match serde_json::from_str::<Value>(body) {
                Ok(json) => assert_eq!(json["error"], code, "{file}"),
                Err(_) => assert!(
                    body.contains(&format!("<code>{code}</code>")),
                    "{file}: the page names {code}"
                ),
            }
            if file.starts_with("callback-") {
                assert!(
                    cookies
                        .iter()
                        .any(|c| c.starts_with("whoscalling_login=;") && c.contains("Max-Age=0")),
                    "{file}: login state cleared"
                );
            }
        }
        if let Some(location) = expectation.get("location").and_then(Value::as_str) {
            assert_eq!(response.headers()[header::LOCATION], location, "{file}");
            assert!(
                cookies
                    .iter()
                    .any(|c| c.starts_with("whoscalling_session=;") && c.contains("Max-Age=0")),
                "{file}: session cleared"
            );
        }
    }
    logs.assert_free_of_material("sample-upstream-client-secret");
    logs.assert_free_of_material("The user cancelled");
}
