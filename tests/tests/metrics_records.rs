//! The metric records (CloudWatch EMF) the real mint-token handler writes, with the real AWS SDK
//! against moto's Secrets Manager: a cold read counts as a secret-cache miss and a warm one does
//! not, a minted token is counted for its profile, and the Connect key still holding the
//! deployment placeholder counts as a missing pasted key (the pasted-key alarm's metric).

use std::sync::Arc;
use std::time::Duration;

use mint_token::{Deps, function_handler};
use serde_json::{Value, json};
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::secrets::{PLACEHOLDER_VALUE, SecretCacheSettings};
use whoscalling::{ServiceConfig, SystemClock};
use whoscalling_tests::{CapturedLogs, json_body, load_event, moto, random_token, secrets_manager_config};

fn config(secret: &str) -> ServiceConfig {
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["api_gateway_authorizer"]},
        "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11",
            "security_key_secret": secret, "token_lifetime_seconds": 300,
            "attributes": {"firstName": {"claim": "given_name"}}}}
    });
    ServiceConfig::from_json("test", &document.to_string()).expect("config")
}

/// The EMF records captured so far, oldest first.
fn records(logs: &CapturedLogs) -> Vec<Value> {
    logs.text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect()
}

#[tokio::test]
async fn records_count_cache_misses_tokens_and_a_placeholder_key() {
    let logs = CapturedLogs::install();
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let (real, placeholder) = ("whoscalling/metrics/connect-key", "whoscalling/metrics/placeholder-key");
    client
        .create_secret()
        .name(real)
        .secret_string(format!("{}=", random_token()))
        .send()
        .await
        .expect("create");
    client
        .create_secret()
        .name(placeholder)
        .secret_string(PLACEHOLDER_VALUE)
        .send()
        .await
        .expect("create");
    let settings = SecretCacheSettings {
        ttl: Duration::from_secs(300),
        ..SecretCacheSettings::default()
    };
    let store = Arc::new(
        SecretsManagerStore::new(secrets_manager_config(&moto.url), settings)
            .await
            .expect("store"),
    );

    let deps = Deps::from_config(&config(real), store.clone(), Arc::new(SystemClock)).expect("deps");
    for _ in 0..2 {
        let response = function_handler(&deps, load_event("mint-token/valid-authorizer-get.json"))
            .await
            .expect("handler");
        assert_eq!(response.status(), 200, "{:?}", json_body(&response));
    }
    let minted = records(&logs);
    assert_eq!(minted.len(), 2, "one record per request: {minted:?}");
    for record in &minted {
        assert_eq!(record["function"], "mint-token");
        assert_eq!(record["profile"], "connect");
        assert_eq!(record["TokensMinted"], 1);
        assert_eq!(record["PastedKeyMissing"], 0);
        assert!(record.get("error").is_none(), "{record}");
    }
    assert!(
        minted[0]["SecretCacheMisses"].as_u64().expect("a count") >= 1,
        "the cold read asks Secrets Manager: {}",
        minted[0]
    );
    assert_eq!(
        minted[1]["SecretCacheMisses"], 0,
        "the warm read is the cache's alone: {}",
        minted[1]
    );
    assert_eq!(
        minted[0]["api_request_id"], minted[1]["api_request_id"],
        "the event's API Gateway id (the same file twice)"
    );

    let deps = Deps::from_config(&config(placeholder), store, Arc::new(SystemClock)).expect("deps");
    let refused = function_handler(&deps, load_event("mint-token/valid-authorizer-get.json"))
        .await
        .expect("handler");
    assert_eq!(refused.status(), 500);
    assert_eq!(json_body(&refused)["error"], "server_error");
    let all = records(&logs);
    let last = all.last().expect("a record");
    assert_eq!(last["PastedKeyMissing"], 1, "{last}");
    assert_eq!(last["TokensMinted"], 0);
    assert_eq!(last["error"], "server_error");
    assert_eq!(last["Refusals"], 1);
    logs.assert_free_of(&[PLACEHOLDER_VALUE]);
}
