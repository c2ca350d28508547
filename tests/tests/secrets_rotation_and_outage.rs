//! The Connect key through the real AWS SDK against moto's Secrets Manager: an operator's new
//! key version is picked up after the cache TTL without a restart, a brief outage is served
//! from the warm cache, and a long one fails closed with 503 and `Retry-After`. Zendesk's `{kid,
//! secret}` key rotates the same way, the key id and the secret switching together.
//!
//! The cache's ages run on an injected clock that moves only when the test says so: "inside the
//! TTL" then holds however slowly a loaded machine starts Python or answers from moto.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::header;
use mint_token::{Deps, function_handler};
use serde_json::json;
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::clock::FixedClock;
use whoscalling::secrets::SecretCacheSettings;
use whoscalling::{Clock, ServiceConfig, SystemClock};
use whoscalling_tests::{
    CapturedLogs, create_secret, json_body, load_event, moto, random_token, secrets_manager_config,
    verify_independently,
};

const SECRET_NAME: &str = "whoscalling/connect-widget-key";

fn config() -> ServiceConfig {
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["api_gateway_authorizer"]},
        "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11",
            "security_key_secret": SECRET_NAME, "token_lifetime_seconds": 300,
            "attributes": {"firstName": {"claim": "given_name"}}}}
    });
    ServiceConfig::from_json("test", &document.to_string()).expect("config")
}

async fn mint(deps: &Deps) -> lambda_http::Response<lambda_http::Body> {
    function_handler(deps, load_event("mint-token/valid-authorizer-get.json"))
        .await
        .expect("handler")
}

/// The mint function's dependencies as its bootstrap builds them from a Lambda-like environment.
async fn deps_from_environment(environment: &[(&str, &str)]) -> Deps {
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(5))
        .build();
    let sdk = whoscalling::bootstrap::SdkEnvironment(aws_types::os_shim_internal::Env::from_slice(environment))
        .config(timeouts);
    let store = SecretsManagerStore::new(
        aws_sdk_secretsmanager::config::Builder::from(&sdk),
        SecretCacheSettings::default(),
    )
    .await
    .expect("store");
    Deps::from_config(&config(), Arc::new(store), Arc::new(SystemClock)).expect("deps")
}

fn signed_with(token: &str, key: &str) -> bool {
    verify_independently(&json!({"token": token, "key": {"hmac_utf8": key}, "rules": "amazon-connect"}))["ok"] == true
}

#[tokio::test]
async fn new_key_version_is_picked_up_after_the_ttl_and_outages_are_bounded() {
    let logs = CapturedLogs::install();
    let mut moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let (first_key, second_key) = (format!("{}=", random_token()), format!("{}=", random_token()));
    create_secret(&client, SECRET_NAME, &first_key).await;

    let settings = SecretCacheSettings {
        ttl: Duration::from_secs(1),
        max_stale: Duration::from_secs(3),
        retry_after_failure: Duration::from_millis(200),
    };
    // The cache's clock; tokens are still stamped with the real time, as the verifier expects.
    let cache_clock = Arc::new(FixedClock::at(SystemClock.now_unix()));
    let store = SecretsManagerStore::new(secrets_manager_config(&moto.url), settings)
        .await
        .expect("store");
    let store = store.with_clock(cache_clock.clone());
    let deps = Deps::from_config(&config(), Arc::new(store), Arc::new(SystemClock)).expect("deps");

    let first = mint(&deps).await;
    assert_eq!(first.status(), 200);
    let first_token = json_body(&first)["data"].as_str().expect("token").to_string();
    assert!(signed_with(&first_token, &first_key));

    // The operator stores the new key as the secret's new current version.
    client
        .put_secret_value()
        .secret_id(SECRET_NAME)
        .secret_string(&second_key)
        .send()
        .await
        .expect("put");
    let cached = json_body(&mint(&deps).await)["data"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(
        signed_with(&cached, &first_key),
        "within the TTL the cached key still signs"
    );

    cache_clock.advance_by(Duration::from_millis(1300));
    let rotated = json_body(&mint(&deps).await)["data"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(
        signed_with(&rotated, &second_key),
        "after the TTL the new version signs, without a restart"
    );
    assert!(!signed_with(&rotated, &first_key));

    // Secrets Manager goes away. Past the TTL, the warm cache still mints.
    moto.stop();
    cache_clock.advance_by(Duration::from_millis(1300));
    let during_outage = mint(&deps).await;
    assert_eq!(during_outage.status(), 200, "{:?}", json_body(&during_outage));
    assert!(signed_with(
        json_body(&during_outage)["data"].as_str().expect("token"),
        &second_key
    ));

    // Past ttl + max_stale, the cached key is too old to trust: a clean 503.
    cache_clock.advance_by(Duration::from_millis(3500));
    let too_stale = mint(&deps).await;
    assert_eq!(too_stale.status(), 503);
    assert_eq!(too_stale.headers()[header::RETRY_AFTER], "5");
    let body = json_body(&too_stale);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("data").is_none());

    logs.assert_free_of(&[&first_key, &second_key, &first_token, &rotated]);
    assert!(
        logs.text().contains("serving the cached value"),
        "the outage is visible in the logs"
    );
}

/// The cache at work: continuous minting for several TTLs costs one `GetSecretValue` (the value
/// never changed) and at most one `DescribeSecret` per TTL, whatever the request rate.
#[tokio::test]
async fn secrets_manager_is_read_at_most_once_per_secret_per_ttl() {
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    create_secret(&client, SECRET_NAME, format!("{}=", random_token())).await;
    let settings = SecretCacheSettings {
        ttl: Duration::from_secs(1),
        ..SecretCacheSettings::default()
    };
    let store = Arc::new(
        SecretsManagerStore::new(secrets_manager_config(&moto.url), settings)
            .await
            .expect("store"),
    );
    let deps = Deps::from_config(&config(), store.clone(), Arc::new(SystemClock)).expect("deps");

    let started = std::time::Instant::now();
    let mut minted = 0;
    while started.elapsed() < Duration::from_millis(3500) {
        assert_eq!(mint(&deps).await.status(), 200);
        minted += 1;
    }
    let calls = store.calls();
    let ttls = 4; // 3.5 s with a 1 s TTL: at most 4 windows
    // Kept for docs/PERFORMANCE.md (scripts/perf reads it).
    let report = serde_json::json!({"seconds": 3.5, "ttl_seconds": 1, "mints": minted, "calls": calls});
    let dir = whoscalling_tests::workspace_root().join("target/perf");
    std::fs::create_dir_all(&dir).expect("target/perf");
    std::fs::write(dir.join("secrets-manager-calls.json"), report.to_string()).expect("write report");
    assert!(minted > 100, "only {minted} tokens");
    assert_eq!(calls.get("GetSecretValue"), Some(&1), "{calls:?}");
    assert!(calls.get("DescribeSecret").copied().unwrap_or(0) <= ttls, "{calls:?}");
}

/// The functions' own SDK configuration (`bootstrap`, built from a Lambda-like environment
/// without aws-config) reaches moto through the real SDK: the service's endpoint variable wins
/// over the global one (which points at a closed port), and the environment's credentials and
/// region sign the request moto accepts.
#[tokio::test]
async fn the_functions_sdk_configuration_reaches_secrets_manager_from_the_environment() {
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    create_secret(&client, SECRET_NAME, format!("{}=", random_token())).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let environment = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL", nowhere.as_str()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.url.as_str()),
    ];
    assert_eq!(mint(&deps_from_environment(&environment).await).await.status(), 200);

    // Control: with only the closed global endpoint, the same read fails (503, never a token).
    let environment = [&environment[..4], &[("AWS_MAX_ATTEMPTS", "1")]].concat();
    let unreachable = mint(&deps_from_environment(&environment).await).await;
    assert_eq!(unreachable.status(), 503);
    assert_eq!(unreachable.headers()[header::RETRY_AFTER], "5");
    let body = json_body(&unreachable);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("data").is_none(), "no token when the key cannot be read");
}

/// Zendesk's overlap rotation through the real SDK against moto: the operator stores the new key
/// id and secret together as the secret's new version; within the TTL the old pair still signs
/// (Zendesk still holds the old key then), after it the new pair signs with the new `kid`, so the
/// old key can be deleted in Zendesk once tokens signed with it have expired.
#[tokio::test]
async fn a_new_zendesk_key_version_switches_the_kid_and_the_secret_together() {
    const ZENDESK_SECRET: &str = "whoscalling/zendesk-key";
    let logs = CapturedLogs::install();
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let (old_secret, new_secret) = (random_token(), random_token());
    let stored = |kid: &str, secret: &str| json!({"kid": kid, "secret": secret}).to_string();
    create_secret(&client, ZENDESK_SECRET, stored("app_old", &old_secret)).await;
    let settings = SecretCacheSettings {
        ttl: Duration::from_secs(1),
        max_stale: Duration::from_secs(3),
        retry_after_failure: Duration::from_millis(200),
    };
    let cache_clock = Arc::new(FixedClock::at(SystemClock.now_unix()));
    let store = SecretsManagerStore::new(secrets_manager_config(&moto.url), settings)
        .await
        .expect("store")
        .with_clock(cache_clock.clone());
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["api_gateway_authorizer"]},
        "profiles": {"zendesk": {"platform": "zendesk-messaging", "key_secret": ZENDESK_SECRET,
            "external_id": {"claim": "customer_number"}}}
    });
    let config = ServiceConfig::from_json("test", &document.to_string()).expect("config");
    let deps = Deps::from_config(&config, Arc::new(store), Arc::new(SystemClock)).expect("deps");
    let mint_zendesk = || async {
        let response = function_handler(&deps, load_event("mint-token/zendesk-authorizer.json"))
            .await
            .expect("handler");
        assert_eq!(response.status(), 200, "{:?}", json_body(&response));
        json_body(&response)["token"].as_str().expect("token").to_string()
    };
    let verifies = |token: &str, kid: &str, secret: &str| {
        verify_independently(&json!({"token": token, "key": {"hmac_utf8": secret},
            "rules": "zendesk-messaging", "kid": kid}))["ok"]
            == true
    };

    let first = mint_zendesk().await;
    assert!(verifies(&first, "app_old", &old_secret));
    client
        .put_secret_value()
        .secret_id(ZENDESK_SECRET)
        .secret_string(stored("app_new", &new_secret))
        .send()
        .await
        .expect("put");
    let cached = mint_zendesk().await;
    assert!(
        verifies(&cached, "app_old", &old_secret),
        "within the TTL the old pair signs"
    );
    cache_clock.advance_by(Duration::from_millis(1300));
    let rotated = mint_zendesk().await;
    assert!(
        verifies(&rotated, "app_new", &new_secret),
        "after the TTL the new pair signs"
    );
    assert!(
        !verifies(&rotated, "app_new", &old_secret),
        "control: the old secret does not verify it"
    );
    assert!(
        !verifies(&rotated, "app_old", &new_secret),
        "control: the old kid is not in its header"
    );
    logs.assert_free_of(&[&old_secret, &new_secret, &first, &rotated]);
}
