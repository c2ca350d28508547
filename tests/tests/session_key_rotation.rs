//! Scheduled rotation of the session-key secret against moto's Secrets Manager through the real
//! SDK: the tests play Secrets Manager's part and call the real `rotate-keys` handler for each
//! step (moto cannot invoke a rotation Lambda; see key_rotation.rs for the two moto differences
//! bridged the same way here). A session sealed before the rotation, from the template's plain
//! generated value, still mints through the real mint-token handler after it; one sealed two
//! rotations ago does not; and a pending version is never used to seal.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::header;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use whoscalling::adapters::SecretsManagerRotationTarget;
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::rotation::LogKeyEvents;
use whoscalling::secrets::SecretCacheSettings;
use whoscalling::session::{Purpose, SessionKeyDocument, SessionKeys, SessionPayload};
use whoscalling::{ServiceConfig, SystemClock};
use whoscalling_tests::{CapturedLogs, json_body, load_event, moto, random_token, secrets_manager_config};

const SESSION_SECRET: &str = "whoscalling/session-key";
const WIDGET_SECRET: &str = "whoscalling/connect-widget-key";

fn config() -> ServiceConfig {
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["session"]},
        "session": {"key_secret": SESSION_SECRET, "secure_cookies": false, "lifetime_seconds": 900},
        "secret_cache": {"ttl_seconds": 1},
        "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11",
            "security_key_secret": WIDGET_SECRET, "token_lifetime_seconds": 300,
            "attributes": {"firstName": {"claim": "given_name"}}}}
    });
    ServiceConfig::from_json("test", &document.to_string()).expect("config")
}

/// The real mint-token handler with `cookie` as the visitor's session.
async fn mint(deps: &mint_token::Deps, cookie: &str) -> (u16, String) {
    let mut request = load_event("mint-token/valid-authorizer-get.json");
    request
        .headers_mut()
        .insert(header::COOKIE, format!("whoscalling_session={cookie}").parse().unwrap());
    let response = mint_token::function_handler(deps, request).await.expect("handler");
    let status = response.status().as_u16();
    (
        status,
        json_body(&response)["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_ends_no_session_and_a_key_two_rotations_old_opens_nothing() {
    let logs = CapturedLogs::install();
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let url = moto.url.clone();
    // As the template generates it: 64 letters and digits, a plain string.
    let legacy: String = format!("{}{}", random_token(), random_token())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    assert!(legacy.len() >= 40);
    let arn = client
        .create_secret()
        .name(SESSION_SECRET)
        .secret_string(&legacy)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    client
        .create_secret()
        .name(WIDGET_SECRET)
        .secret_string(format!("{}=", random_token()))
        .send()
        .await
        .unwrap();
    client
        .rotate_secret()
        .secret_id(SESSION_SECRET)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();

    let settings = SecretCacheSettings {
        ttl: Duration::from_secs(1),
        max_stale: Duration::from_secs(3),
        retry_after_failure: Duration::from_millis(200),
    };
    let store = Arc::new(
        SecretsManagerStore::new(secrets_manager_config(&url), settings)
            .await
            .expect("store"),
    );
    let config = config();
    let deps = mint_token::Deps::from_config(&config, store.clone(), Arc::new(SystemClock)).expect("mint-token deps");
    let deps = &deps;
    // What visitor-login seals a session with (its keys are built the same way, from the same secret).
    let session = config.session.clone().unwrap();
    let sealer = SessionKeys::from_config(store.clone(), &config, &session, Arc::new(SystemClock));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payload = SessionPayload {
        provider: "bankid".into(),
        claims: json!({"sub": "alice", "given_name": "Alice"})
            .as_object()
            .cloned()
            .unwrap(),
        iat: now,
        exp: now + 900,
    };
    let before = sealer.seal_json(Purpose::Session, &payload).await.unwrap();
    assert_eq!(
        mint(deps, &before).await,
        (200, String::new()),
        "the control: the session mints before any rotation"
    );

    // The rotate-keys function, configured as the template configures it.
    let rotation_config = rotate_keys::Config::from_lookup(|name| match name {
        rotate_keys::SESSION_KEY_SECRET_VARIABLE => Some(arn.clone()),
        _ => None,
    })
    .unwrap();
    let rotator = rotate_keys::Deps::new(
        &rotation_config,
        Arc::new(SecretsManagerRotationTarget::new(client.clone())),
        Arc::new(SystemClock),
        Arc::new(LogKeyEvents),
    );
    let rotate = |token: String| {
        let client = client.clone();
        let arn = arn.clone();
        let rotator = &rotator;
        let before = before.as_str();
        async move {
            // What Secrets Manager does before createSecret (a value-less AWSPENDING; moto needs a value).
            client
                .put_secret_value()
                .secret_id(SESSION_SECRET)
                .client_request_token(&token)
                .secret_string(" ")
                .version_stages("AWSPENDING")
                .send()
                .await
                .unwrap();
            for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
                let event: rotate_keys::Invocation =
                    serde_json::from_value(json!({"Step": step, "SecretId": arn, "ClientRequestToken": token}))
                        .unwrap();
                rotate_keys::function_handler(rotator, LambdaEvent::new(event, Context::default()))
                    .await
                    .unwrap_or_else(|f| panic!("{step}: {}", f.0));
                if step == "createSecret" {
                    // A second createSecret (Secrets Manager may repeat a step) writes nothing new.
                    let first = client
                        .get_secret_value()
                        .secret_id(SESSION_SECRET)
                        .version_id(&token)
                        .version_stage("AWSPENDING")
                        .send()
                        .await
                        .unwrap();
                    let event: rotate_keys::Invocation =
                        serde_json::from_value(json!({"Step": step, "SecretId": arn, "ClientRequestToken": token}))
                            .unwrap();
                    rotate_keys::function_handler(rotator, LambdaEvent::new(event, Context::default()))
                        .await
                        .unwrap_or_else(|f| panic!("again: {}", f.0));
                    let again = client
                        .get_secret_value()
                        .secret_id(SESSION_SECRET)
                        .version_id(&token)
                        .version_stage("AWSPENDING")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(
                        first.secret_string(),
                        again.secret_string(),
                        "createSecret is idempotent"
                    );
                    // The pending key is not in use yet: the session still mints, with the current key.
                    assert_eq!(mint(deps, before).await.0, 200);
                }
            }
        }
    };

    rotate("11111111-1111-4111-8111-111111111111".into()).await;
    let current = client
        .get_secret_value()
        .secret_id(SESSION_SECRET)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let document = SessionKeyDocument::parse(current.secret_string().unwrap()).unwrap();
    assert_eq!(
        document.previous.as_deref(),
        Some(legacy.as_str()),
        "the plain value became the previous key"
    );
    assert_ne!(document.current, legacy);

    // Past the cache TTL every container reads the new document.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        mint(deps, &before).await,
        (200, String::new()),
        "a session sealed before the rotation still mints"
    );
    let between = sealer.seal_json(Purpose::Session, &payload).await.unwrap();
    assert_eq!(
        mint(deps, &between).await.0,
        200,
        "the control: a session sealed with the new key"
    );

    // A second rotation: the legacy key is now two rotations old.
    rotate("22222222-2222-4222-8222-222222222222".into()).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        mint(deps, &before).await,
        (401, "invalid_token".to_string()),
        "two rotations old opens nothing"
    );
    assert_eq!(mint(deps, &between).await.0, 200, "one rotation old still mints");

    logs.assert_free_of(&[legacy.as_str(), document.current.as_str()]);
}
