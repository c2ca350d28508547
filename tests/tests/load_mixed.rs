//! Load with a hostile fraction, in the test command: the local run over loopback, concurrency 64,
//! 10,000 requests spread over every token profile, one in ten of them hostile (forged or
//! tampered tokens, a foreign origin, a token in the query string, an oversized body, an unknown
//! profile). Every valid request must get a 2xx and every hostile one a 4xx: no errors, nothing
//! accepted. Throughput is measured by `scripts/load` (release build), never asserted here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use whoscalling_local::{Options, serve};
use whoscalling_tests::{CapturedLogs, random_token};

const REQUESTS: usize = 10_000;
const CONCURRENCY: usize = 64;
const HOSTILE_EVERY: usize = 10;
const PROFILES: [&str; 4] = ["connect", "liveperson", "liveperson-encrypted", "live-assist"];

#[derive(Clone, Copy, Debug)]
enum Hostile {
    AlgNone,
    TamperedPayload,
    ForeignOrigin,
    TokenInQuery,
    OversizedBody,
    UnknownProfile,
    NoToken,
}

const HOSTILE: [Hostile; 7] = [
    Hostile::AlgNone,
    Hostile::TamperedPayload,
    Hostile::ForeignOrigin,
    Hostile::TokenInQuery,
    Hostile::OversizedBody,
    Hostile::UnknownProfile,
    Hostile::NoToken,
];

fn alg_none(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    format!(
        "{}.{payload}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    )
}

fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap_or('A');
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_profiles_with_a_hostile_fraction() {
    let logs = CapturedLogs::install();
    let state_dir = std::env::temp_dir().join(format!("whoscalling-load-test-{}", random_token()));
    let server = serve(Options {
        port: 0,
        state_dir: state_dir.clone(),
        config_file: None,
        stores: None,
    })
    .await
    .expect("serve");
    let base = server.base_url.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let login: Value = http
        .post(format!("{base}/dev/login"))
        .json(
            &json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann", "nin": "12345678901",
                      "crm_contact_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = Arc::new(login["id_token"].as_str().unwrap().to_string());

    let next = Arc::new(AtomicUsize::new(0));
    let valid_failures = Arc::new(AtomicUsize::new(0));
    let hostile_accepted = Arc::new(AtomicUsize::new(0));
    let hostile_not_4xx = Arc::new(AtomicUsize::new(0));
    let transport_errors = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, base, token, next) = (http.clone(), base.clone(), token.clone(), next.clone());
        let (valid_failures, hostile_accepted, hostile_not_4xx, transport_errors) = (
            valid_failures.clone(),
            hostile_accepted.clone(),
            hostile_not_4xx.clone(),
            transport_errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= REQUESTS {
                    break;
                }
                let profile = PROFILES[n % PROFILES.len()];
                let hostile =
                    (n % HOSTILE_EVERY == HOSTILE_EVERY - 1).then(|| HOSTILE[(n / HOSTILE_EVERY) % HOSTILE.len()]);
                let url = format!("{base}/token/{profile}");
                let request = match hostile {
                    None => http
                        .get(&url)
                        .bearer_auth(token.as_str())
                        .header("origin", base.as_str()),
                    Some(Hostile::AlgNone) => http
                        .get(&url)
                        .bearer_auth(alg_none(&token))
                        .header("origin", base.as_str()),
                    Some(Hostile::TamperedPayload) => http
                        .get(&url)
                        .bearer_auth(tampered(&token))
                        .header("origin", base.as_str()),
                    Some(Hostile::ForeignOrigin) => http
                        .get(&url)
                        .bearer_auth(token.as_str())
                        .header("origin", "https://evil.example"),
                    Some(Hostile::TokenInQuery) => http
                        .get(format!("{url}?access_token={token}"))
                        .header("origin", base.as_str()),
                    Some(Hostile::OversizedBody) => http
                        .post(&url)
                        .bearer_auth(token.as_str())
                        .header("origin", base.as_str())
                        .header("content-type", "application/json")
                        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(64 * 1024))),
                    Some(Hostile::UnknownProfile) => http
                        .get(format!("{base}/token/{profile}-nope"))
                        .bearer_auth(token.as_str())
                        .header("origin", base.as_str()),
                    Some(Hostile::NoToken) => http.get(&url).header("origin", base.as_str()),
                };
                match request.send().await {
                    Err(_) => {
                        transport_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => {
                        let status = response.status();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        let carries_token = body.get("data").is_some() || body.get("token").is_some();
                        match hostile {
                            None if !status.is_success() => {
                                valid_failures.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(_) if status.is_success() || carries_token => {
                                hostile_accepted.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(_) if !status.is_client_error() => {
                                hostile_not_4xx.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(transport_errors.load(Ordering::Relaxed), 0, "transport errors");
    assert_eq!(
        valid_failures.load(Ordering::Relaxed),
        0,
        "valid requests that did not get a 2xx"
    );
    assert_eq!(
        hostile_accepted.load(Ordering::Relaxed),
        0,
        "hostile requests that got a token"
    );
    assert_eq!(
        hostile_not_4xx.load(Ordering::Relaxed),
        0,
        "hostile requests answered other than 4xx"
    );
    logs.assert_free_of(&[token.as_str(), &alg_none(&token), &tampered(&token), "12345678901"]);
    std::fs::remove_dir_all(&state_dir).ok();
}
