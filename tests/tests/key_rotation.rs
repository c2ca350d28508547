//! Scheduled rotation of the keys we own, against moto's Secrets Manager through the real SDK.
//!
//! moto cannot invoke a Lambda for RotateSecret, so the tests play Secrets Manager's part and
//! call the real `rotate-keys` handler for each step, as Secrets Manager would. Two moto
//! differences are bridged explicitly: rotation is switched on with a RotateSecret that has no
//! Lambda (moto then promotes a copy of the value, which changes nothing), and the `AWSPENDING`
//! version that Secrets Manager creates without a value before `createSecret` is created holding a
//! single space, which the function treats exactly like "no value yet".

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::adapters::{SecretsManagerRotationTarget, SnsKeyEvents};
use whoscalling::keys::KeySetDocument;
use whoscalling::rotation::{LogKeyEvents, RotationError, RotationEvent, RotationTarget, SecretMetadata};
use whoscalling::secrets::{SecretCacheSettings, SecretString};
use whoscalling::{MintService, ServiceConfig, SystemClock, VerifiedClaims};
use whoscalling_tests::{CapturedLogs, LineVerifier, Peer, load_event, moto, secrets_manager_config};

const SECRET: &str = "whoscalling/signing-keys";

struct Stack {
    moto: Peer,
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

async fn stack() -> Stack {
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    // As the template creates it: empty until the first rotation.
    let arn = client
        .create_secret()
        .name(SECRET)
        .secret_string(r#"{"keys":[]}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    client
        .rotate_secret()
        .secret_id(SECRET)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    Stack { moto, client, arn }
}

impl Stack {
    /// What Secrets Manager does before calling `createSecret`: a new version labelled AWSPENDING.
    async fn start_rotation(&self, token: &str) {
        self.client
            .put_secret_value()
            .secret_id(SECRET)
            .client_request_token(token)
            .secret_string(" ")
            .version_stages("AWSPENDING")
            .send()
            .await
            .unwrap();
    }

    async fn labels(&self) -> std::collections::HashMap<String, Vec<String>> {
        self.client
            .describe_secret()
            .secret_id(SECRET)
            .send()
            .await
            .unwrap()
            .version_ids_to_stages()
            .cloned()
            .unwrap_or_default()
    }

    async fn current(&self) -> KeySetDocument {
        let value = self
            .client
            .get_secret_value()
            .secret_id(SECRET)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .unwrap();
        KeySetDocument::parse(value.secret_string().unwrap()).unwrap()
    }

    fn deps(&self, target: Arc<dyn RotationTarget>) -> rotate_keys::Deps {
        let config = rotate_keys::Config::from_lookup(|_| None).unwrap();
        rotate_keys::Deps::new(&config, target, Arc::new(SystemClock), Arc::new(LogKeyEvents))
    }

    fn real_target(&self) -> Arc<dyn RotationTarget> {
        Arc::new(SecretsManagerRotationTarget::new(self.client.clone()))
    }

    async fn step(&self, deps: &rotate_keys::Deps, step: &str, token: &str) -> Result<(), String> {
        let event: rotate_keys::Invocation =
            serde_json::from_value(json!({"Step": step, "SecretId": self.arn, "ClientRequestToken": token})).unwrap();
        rotate_keys::function_handler(deps, LambdaEvent::new(event, Context::default()))
            .await
            .map(|_| ())
            .map_err(|f| f.0.name().to_string())
    }

    async fn rotate(&self, token: &str) {
        self.rotate_with(&self.deps(self.real_target()), token).await;
    }

    /// One full scheduled rotation, as Secrets Manager runs it.
    async fn rotate_with(&self, deps: &rotate_keys::Deps, token: &str) {
        self.start_rotation(token).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            self.step(deps, step, token)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
    }
}

fn kids(document: &KeySetDocument) -> BTreeSet<String> {
    document.keys.iter().map(|k| k.kid.clone()).collect()
}

/// A target that fails once, as a Lambda timeout or a Secrets Manager hiccup would.
struct FailingOnce {
    inner: Arc<dyn RotationTarget>,
    failed: AtomicBool,
}

#[async_trait]
impl RotationTarget for FailingOnce {
    async fn describe(&self, id: &str) -> Result<SecretMetadata, RotationError> {
        if !self.failed.swap(true, Ordering::SeqCst) {
            return Err(RotationError::SecretsManager("ServiceUnavailable".into()));
        }
        self.inner.describe(id).await
    }
    async fn value_of_version(
        &self,
        id: &str,
        version: &str,
        stage: Option<&str>,
    ) -> Result<Option<SecretString>, RotationError> {
        self.inner.value_of_version(id, version, stage).await
    }
    async fn put_pending(&self, id: &str, token: &str, value: &SecretString) -> Result<(), RotationError> {
        self.inner.put_pending(id, token, value).await
    }
    async fn move_current(&self, id: &str, to: &str, from: &str) -> Result<(), RotationError> {
        self.inner.move_current(id, to, from).await
    }
    async fn clear_pending(&self, id: &str, version: &str) -> Result<(), RotationError> {
        self.inner.clear_pending(id, version).await
    }
    async fn put_current(
        &self,
        id: &str,
        token: &str,
        value: &SecretString,
        replacing: &str,
    ) -> Result<(), RotationError> {
        self.inner.put_current(id, token, value, replacing).await
    }
}

#[tokio::test]
async fn rotations_are_idempotent_and_survive_a_failure_and_retry() {
    let logs = CapturedLogs::install();
    let stack = stack().await;
    let deps = stack.deps(stack.real_target());

    // First rotation fills the empty secret; every step runs twice, as retries would.
    stack.start_rotation("00000000-0000-4000-8000-000000000001").await;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        stack
            .step(&deps, step, "00000000-0000-4000-8000-000000000001")
            .await
            .unwrap();
        stack
            .step(&deps, step, "00000000-0000-4000-8000-000000000001")
            .await
            .unwrap();
    }
    let labels = stack.labels().await;
    assert_eq!(
        labels["00000000-0000-4000-8000-000000000001"],
        vec!["AWSCURRENT".to_string()]
    );
    assert!(
        labels.values().all(|l| !l.contains(&"AWSPENDING".to_string())),
        "{labels:?}"
    );
    let first = stack.current().await;
    assert_eq!(first.keys.len(), 4, "current and next for RS256 and ES256");

    // Second rotation: 1, 2, a failure, then 1, 2, 3, 4.
    let token = "00000000-0000-4000-8000-000000000002";
    stack.start_rotation(token).await;
    stack.step(&deps, "createSecret", token).await.unwrap();
    stack.step(&deps, "setSecret", token).await.unwrap();
    let flaky = stack.deps(Arc::new(FailingOnce {
        inner: stack.real_target(),
        failed: AtomicBool::new(false),
    }));
    assert_eq!(
        stack.step(&flaky, "testSecret", token).await,
        Err("SecretsManager".to_string())
    );
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        stack.step(&deps, step, token).await.unwrap();
    }
    let second = stack.current().await;
    let new_kids: Vec<_> = kids(&second).difference(&kids(&first)).cloned().collect();
    assert_eq!(new_kids.len(), 2, "exactly one new key per algorithm: {new_kids:?}");
    assert!(
        kids(&first).is_subset(&kids(&second)),
        "nothing verifiers may meet was dropped"
    );
    let labels = stack.labels().await;
    assert_eq!(labels[token], vec!["AWSCURRENT".to_string()]);
    assert_eq!(
        labels["00000000-0000-4000-8000-000000000001"],
        vec!["AWSPREVIOUS".to_string()]
    );
    assert!(labels.values().all(|l| !l.contains(&"AWSPENDING".to_string())));

    // Finishing again is a no-op.
    stack.step(&deps, "finishSecret", token).await.unwrap();
    assert!(logs.text().contains("rotation step failed") && logs.text().contains("\"error\":\"SecretsManager\""));
    for key in &second.keys {
        logs.assert_free_of_material(key.private_key_pkcs8.as_str());
    }
}

fn liveperson_config(arn: &str) -> ServiceConfig {
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["api_gateway_authorizer"]},
        "signing_keys": {"secret": arn, "jwks_max_age_seconds": 60},
        "secret_cache": {"ttl_seconds": 1},
        "profiles": {"liveperson": {"platform": "liveperson", "issuer": "https://www.example.com", "token_lifetime_seconds": 600}}
    });
    ServiceConfig::from_json("test", &document.to_string()).unwrap()
}

async fn jwks(keys: &publish_keys::Deps) -> Result<Value, u16> {
    let response = publish_keys::function_handler(keys, load_event("publish-keys/jwks.json"))
        .await
        .unwrap();
    match response.body() {
        lambda_http::Body::Text(text) if response.status() == 200 => Ok(serde_json::from_str(text).unwrap()),
        _ => Err(response.status().as_u16()),
    }
}

fn cache_settings() -> SecretCacheSettings {
    SecretCacheSettings {
        ttl: Duration::from_secs(1),
        ..SecretCacheSettings::default()
    }
}

#[tokio::test]
async fn broken_pending_versions_break_neither_minting_nor_the_jwks() {
    let stack = stack().await;
    stack.rotate("00000000-0000-4000-8000-000000000001").await;
    let config = liveperson_config(&stack.arn);
    let store = Arc::new(
        SecretsManagerStore::new(secrets_manager_config(&stack.moto.url), cache_settings())
            .await
            .unwrap(),
    );
    let minter = MintService::new(&config, store.clone(), Arc::new(SystemClock)).unwrap();
    let keys = publish_keys::Deps::new(&config, store).unwrap();
    let visitor = || VerifiedClaims::from_json(json!({"sub": "alice"})).unwrap();
    let deps = stack.deps(stack.real_target());

    // A pending version without a value, then one with garbage.
    let empty = "00000000-0000-4000-8000-00000000000e";
    stack.start_rotation(empty).await;
    assert_eq!(
        stack.step(&deps, "testSecret", empty).await,
        Err("PendingMissing".to_string())
    );
    let garbage = "00000000-0000-4000-8000-00000000000f";
    stack.start_rotation(garbage).await;
    stack
        .client
        .put_secret_value()
        .secret_id(SECRET)
        .client_request_token(garbage)
        .secret_string("{not json")
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stack.step(&deps, "testSecret", garbage).await,
        Err("PendingInvalid".to_string())
    );

    tokio::time::sleep(Duration::from_millis(1200)).await; // past the cache TTL: the store re-reads
    assert!(minter.mint_named("liveperson", visitor()).await.is_ok());
    assert_eq!(jwks(&keys).await.unwrap()["keys"].as_array().unwrap().len(), 4);
}

/// A vendor's JWKS cache in logical seconds: it refreshes when its copy is `max_age` old and, if
/// `refetch_unknown_kid`, also on a `kid` it has not seen (as LivePerson-style verifiers do). With
/// `refetch_unknown_kid` off it refreshes only by age, as a plain HTTP cache does: a key that signs
/// before the publisher has served it long enough fails there, where a refetching verifier could
/// hide it.
struct VendorCache {
    max_age: u64,
    refetch_unknown_kid: bool,
    jwks: Value,
    fetched_at: u64,
    fetches: usize,
}

impl VendorCache {
    async fn new(max_age: u64, refetch_unknown_kid: bool, publisher: &publish_keys::Deps, now: u64) -> VendorCache {
        VendorCache {
            max_age,
            refetch_unknown_kid,
            jwks: jwks(publisher).await.unwrap(),
            fetched_at: now,
            fetches: 1,
        }
    }

    /// The JWKS this verifier checks a token signed by `kid` against at `now`.
    async fn keys_for(&mut self, kid: &str, publisher: &publish_keys::Deps, now: u64) -> &Value {
        let known = self.jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid);
        if now - self.fetched_at >= self.max_age || (self.refetch_unknown_kid && !known) {
            self.jwks = jwks(publisher).await.unwrap();
            self.fetched_at = now;
            self.fetches += 1;
        }
        &self.jwks
    }
}

/// Rotations while tokens are minted and verified, in logical seconds and the worst order: the
/// secret caches (minter and publisher, each its own container) live `TTL`, vendors cache the JWKS
/// for `MAX_AGE`, rotations come `PERIOD` apart, and `MAX_AGE + TTL <= PERIOD` is what the design
/// promises to survive. Around each rotation the publisher re-read the secret just before it and
/// the minter just after (so the minter signs with the new current key while the publisher still
/// serves the old set, and a vendor holds that old set for up to `MAX_AGE` more). Every token is
/// checked by jwcrypto against what two vendor caches hold: one that refetches on an unknown `kid`
/// and one that refreshes only by age. A fresh container also mints between the steps of each
/// rotation (pending versions present). No wall-clock timing: a cache's age is the tick count.
#[tokio::test]
async fn continuous_minting_across_two_rotations_has_zero_failed_verifications() {
    const TTL: u64 = 3;
    const MAX_AGE: u64 = 5;
    const PERIOD: u64 = 9;
    const ROTATIONS: [u64; 2] = [10, 10 + PERIOD];
    const END: u64 = 10 + 3 * PERIOD;
    // The publisher re-reads one tick before each rotation and the minter on it (t % TTL: 0 and 1).
    assert!(ROTATIONS.iter().all(|r| r % TTL == 1) && MAX_AGE + TTL <= PERIOD);

    let stack = stack().await;
    stack.rotate("00000000-0000-4000-8000-000000000001").await;
    let config = liveperson_config(&stack.arn);
    let (mut minter, mut publisher) = container(&stack, &config).await;
    let mut vendors = [
        VendorCache::new(MAX_AGE, true, &publisher, 0).await,
        VendorCache::new(MAX_AGE, false, &publisher, 0).await,
    ];
    let mut verifier = LineVerifier::start();
    let (mut failures, mut kids_seen, mut all) = (Vec::new(), BTreeSet::new(), Vec::new());

    for now in 0..END {
        if let Some(index) = ROTATIONS.iter().position(|r| *r == now) {
            let token = format!("00000000-0000-4000-8000-00000000000{}", index + 2);
            stack.start_rotation(&token).await;
            let deps = stack.deps(stack.real_target());
            for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
                stack
                    .step(&deps, step, &token)
                    .await
                    .unwrap_or_else(|e| panic!("{step}: {e}"));
                // A container started mid-rotation mints with what is AWSCURRENT.
                let (fresh, _) = container(&stack, &config).await;
                let minted = fresh
                    .mint_named("liveperson", visitor())
                    .await
                    .expect("minting mid-rotation")
                    .token;
                all.push((now, format!("mid-rotation after {step}"), minted));
            }
        }
        if now % TTL == 1 {
            minter = container(&stack, &config).await.0;
        }
        if now % TTL == 0 {
            // A container reads the secret on its first request: serve one now, so this is the
            // moment its copy is from (not whenever a vendor next asks).
            publisher = container(&stack, &config).await.1;
            jwks(&publisher).await.unwrap();
        }
        let minted = minter
            .mint_named("liveperson", visitor())
            .await
            .expect("minting never stops")
            .token;
        all.push((now, "minter".to_string(), minted));
        for (_, _, token) in all.iter().filter(|(t, _, _)| *t == now) {
            let kid = kid_of(token);
            for (which, vendor) in vendors.iter_mut().enumerate() {
                let keys = vendor.keys_for(&kid, &publisher, now).await.clone();
                let verdict = verifier.verify(&json!({"token": token, "key": {"jwks": keys}, "rules": "liveperson"}));
                if verdict["ok"] != true {
                    let cache = if which == 0 { "refetching" } else { "max-age only" };
                    failures.push(format!("t={now} {kid} ({cache} cache): {}", verdict["error"]));
                }
            }
            kids_seen.insert(kid);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} verifications failed: {failures:?}",
        failures.len(),
        2 * all.len()
    );
    assert!(
        vendors[1].fetches >= (END / MAX_AGE) as usize,
        "the max-age cache refreshed by age: {}",
        vendors[1].fetches
    );

    // Every token is still valid (600 s lifetime): each must still verify against the JWKS a new
    // container publishes after both rotations.
    let final_jwks = jwks(&container(&stack, &config).await.1).await.unwrap();
    let late_failures = all
        .iter()
        .filter(|(_, _, token)| {
            verifier.verify(&json!({"token": token, "key": {"jwks": final_jwks}, "rules": "liveperson"}))["ok"] != true
        })
        .count();
    assert_eq!(
        late_failures, 0,
        "{late_failures} still-valid tokens no longer verify against the latest JWKS"
    );
    assert_eq!(
        kids_seen.len(),
        3,
        "tokens were signed by the initial key and by each rotation's new key: {kids_seen:?}"
    );
}

/// The files in `events/rotate-keys/` (what Secrets Manager sends) drive a full rotation.
#[tokio::test]
async fn sample_rotation_events_drive_a_full_rotation() {
    let stack = stack().await;
    let deps = stack.deps(stack.real_target());
    let read = |step: &str| -> RotationEvent {
        let path = whoscalling_tests::workspace_root().join(format!("events/rotate-keys/{step}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let token = read("createSecret").token;
    assert!(
        ["setSecret", "testSecret", "finishSecret"]
            .iter()
            .all(|s| read(s).token == token && read(s).secret_id == SECRET)
    );
    stack.start_rotation(&token).await;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        rotate_keys::function_handler(
            &deps,
            LambdaEvent::new(rotate_keys::Invocation::Rotation(read(step)), Context::default()),
        )
        .await
        .unwrap_or_else(|f| panic!("{step}: {}", f.0.name()));
    }
    assert_eq!(stack.labels().await[&token], vec!["AWSCURRENT".to_string()]);
    assert_eq!(stack.current().await.keys.len(), 4);
}

/// A queue subscribed to an SNS topic in moto, read with boto3: what an operator's e-mail or
/// chat subscription would receive.
struct Subscription {
    endpoint: String,
    topic_arn: String,
    queue_url: String,
}

fn boto3(endpoint: &str, script: &str, arguments: &[&str]) -> Value {
    let output = std::process::Command::new(whoscalling_tests::python())
        .args(["-c", script, endpoint])
        .args(arguments)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("boto3 JSON")
}

impl Subscription {
    fn create(endpoint: &str) -> Subscription {
        let created = boto3(
            endpoint,
            r#"import boto3, json, sys
sns = boto3.client("sns", endpoint_url=sys.argv[1]); sqs = boto3.client("sqs", endpoint_url=sys.argv[1])
topic = sns.create_topic(Name="whoscalling-key-events")["TopicArn"]
queue = sqs.create_queue(QueueName="operators")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"})
print(json.dumps({"topic": topic, "queue": queue}))"#,
            &[],
        );
        Subscription {
            endpoint: endpoint.to_string(),
            topic_arn: created["topic"].as_str().unwrap().to_string(),
            queue_url: created["queue"].as_str().unwrap().to_string(),
        }
    }

    /// Every notification received so far (subject and parsed message), oldest first.
    fn drain(&self) -> Vec<(String, Value)> {
        let messages = boto3(
            &self.endpoint,
            r#"import boto3, json, sys
sqs = boto3.client("sqs", endpoint_url=sys.argv[1]); out = []
while True:
    got = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    if not got: break
    for m in got:
        out.append(json.loads(m["Body"])); sqs.delete_message(QueueUrl=sys.argv[2], ReceiptHandle=m["ReceiptHandle"])
print(json.dumps(out))"#,
            &[&self.queue_url],
        );
        messages
            .as_array()
            .unwrap()
            .iter()
            .map(|envelope| {
                let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                (envelope["Subject"].as_str().unwrap_or_default().to_string(), message)
            })
            .collect()
    }
}

fn pasted_keys_config(arn: &str) -> ServiceConfig {
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["api_gateway_authorizer"]},
        "signing_keys": {"secret": arn, "jwks_max_age_seconds": 60},
        "secret_cache": {"ttl_seconds": 300},
        "profiles": {
            "live-assist": {"platform": "live-assist", "issuer": "www.example.com", "token_lifetime_seconds": 7200,
                            "crm_contact_id_claim": "crm_contact_id"},
            "liveperson-pasted": {"platform": "liveperson", "issuer": "https://www.example.com", "token_lifetime_seconds": 600,
                                  "pinned_key": "liveperson"},
            "liveperson": {"platform": "liveperson", "issuer": "https://www.example.com", "token_lifetime_seconds": 600}
        }
    });
    ServiceConfig::from_json("test", &document.to_string()).unwrap()
}

/// A new container: its own secret cache, so it reads what is `AWSCURRENT` now (no waiting on a TTL).
async fn container(stack: &Stack, config: &ServiceConfig) -> (MintService, publish_keys::Deps) {
    let store = Arc::new(
        SecretsManagerStore::new(secrets_manager_config(&stack.moto.url), SecretCacheSettings::default())
            .await
            .unwrap(),
    );
    (
        MintService::new(config, store.clone(), Arc::new(SystemClock)).unwrap(),
        publish_keys::Deps::new(config, store).unwrap(),
    )
}

/// `GET /public-key/{profile}[?key=next]`: (status, body).
async fn public_key(keys: &publish_keys::Deps, profile: &str, next: bool) -> (u16, String) {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            whoscalling_tests::workspace_root().join("events/publish-keys/public-key-liveperson.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["rawPath"] = json!(format!("/public-key/{profile}"));
    event["pathParameters"] = json!({"profile": profile});
    if next {
        event["rawQueryString"] = json!("key=next");
        event["queryStringParameters"] = json!({"key": "next"});
    }
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = publish_keys::function_handler(keys, request).await.unwrap();
    let body = match response.body() {
        lambda_http::Body::Text(text) => text.clone(),
        _ => String::new(),
    };
    (response.status().as_u16(), body)
}

fn visitor() -> VerifiedClaims {
    VerifiedClaims::from_json(json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann",
        "crm_contact_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}))
    .unwrap()
}

/// Live Assist holds exactly one pasted key, and so does LivePerson when given a pasted key
/// instead of our JWKS URL. The verifier here is that console: it holds only the key pasted after
/// the first deployment. Two scheduled rotations later every token still verifies with it; the
/// rotating (JWKS) profile did move, so the rotations were real. Then the deliberate operator
/// step: stage (the new key is published and pasteable, nothing changes yet), switch (tokens move
/// to it), each announced on the SNS topic with the key in paste format.
#[tokio::test]
async fn pasted_keys_survive_scheduled_rotations_and_change_only_by_the_operators_command() {
    let logs = CapturedLogs::install();
    let stack = stack().await;
    let topic = Subscription::create(&stack.moto.url);
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::new()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .http_client(whoscalling::adapters::sdk_http::sdk_http_client())
            .region(aws_sdk_sns::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .endpoint_url(&stack.moto.url)
            .build(),
    );
    let settings = [
        (rotate_keys::PINNED_KEYS_VARIABLE, "live-assist,liveperson".to_string()),
        (rotate_keys::SECRET_VARIABLE, stack.arn.clone()),
        (rotate_keys::TOPIC_VARIABLE, topic.topic_arn.clone()),
    ];
    let rotation_config =
        rotate_keys::Config::from_lookup(|name| settings.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
            .unwrap();
    let rotation = rotate_keys::Deps::new(
        &rotation_config,
        stack.real_target(),
        Arc::new(SystemClock),
        Arc::new(SnsKeyEvents::new(sns, topic.topic_arn.clone())),
    );
    let config = pasted_keys_config(&stack.arn);
    let mut verifier = LineVerifier::start();
    let check = |verifier: &mut LineVerifier, token: &str, key: Value, rules: &str| {
        verifier.verify(&json!({"token": token, "key": key, "rules": rules}))
    };

    // Deploy: the first rotation fills the secret, pinned keys included; the operator pastes.
    stack
        .rotate_with(&rotation, "00000000-0000-4000-8000-000000000001")
        .await;
    let (minter, keys) = container(&stack, &config).await;
    let (status, pasted_live_assist) = public_key(&keys, "live-assist", false).await;
    assert_eq!(status, 200);
    let (_, pasted_liveperson) = public_key(&keys, "liveperson-pasted", false).await;
    let (_, rotating_before) = public_key(&keys, "liveperson", false).await;
    assert_ne!(
        pasted_live_assist, pasted_liveperson,
        "each console has its own pinned key"
    );
    let jwks_kid_before = kid_of(&minter.mint_named("liveperson", visitor()).await.unwrap().token);

    // Two scheduled rotations.
    stack
        .rotate_with(&rotation, "00000000-0000-4000-8000-000000000002")
        .await;
    stack
        .rotate_with(&rotation, "00000000-0000-4000-8000-000000000003")
        .await;
    let (minter, keys) = container(&stack, &config).await;
    let live_assist = minter.mint_named("live-assist", visitor()).await.unwrap().token;
    let liveperson = minter.mint_named("liveperson-pasted", visitor()).await.unwrap().token;
    let rotating = minter.mint_named("liveperson", visitor()).await.unwrap().token;
    assert_eq!(
        check(
            &mut verifier,
            &live_assist,
            json!({"pasted_spki": pasted_live_assist}),
            "live-assist"
        )["ok"],
        true
    );
    assert_eq!(
        check(
            &mut verifier,
            &liveperson,
            json!({"pasted_spki": pasted_liveperson}),
            "liveperson"
        )["ok"],
        true
    );
    // Controls: the rotating profile did move, and the pasted-key verifier can fail.
    assert_ne!(
        kid_of(&rotating),
        jwks_kid_before,
        "the scheduled rotations moved the JWKS profile's key"
    );
    assert_ne!(public_key(&keys, "liveperson", false).await.1, rotating_before);
    assert_eq!(
        check(
            &mut verifier,
            &rotating,
            json!({"pasted_spki": pasted_liveperson}),
            "liveperson"
        )["ok"],
        false
    );
    let (status, body) = public_key(&keys, "live-assist", true).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()["error"].clone()),
        (404, json!("no_staged_key"))
    );
    let scheduled = topic.drain();
    assert_eq!(scheduled.len(), 3, "every finished rotation is announced");
    for (subject, message) in &scheduled {
        assert!(subject.contains("pinned keys unchanged"), "{subject}");
        assert_eq!(message["event"], "scheduled_rotation");
        let pinned = message["pinned"].as_array().unwrap();
        assert!(
            pinned
                .iter()
                .any(|p| p["pin"] == "live-assist" && p["public_key"] == pasted_live_assist.as_str())
        );
    }

    // The deliberate change: stage, paste ahead (Live Assist still verifies the old key), switch.
    // The operator's commands, as shipped in events/rotate-keys/ for `aws lambda invoke`.
    let command = |action: &str| -> rotate_keys::Invocation {
        let path = whoscalling_tests::workspace_root().join(format!("events/rotate-keys/pinned-key-{action}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let staged = rotate_keys::function_handler(&rotation, LambdaEvent::new(command("stage"), Context::default()))
        .await
        .unwrap_or_else(|f| panic!("stage: {}", f.0.name()))
        .expect("a key event");
    let staged_key = staged
        .pinned
        .iter()
        .find(|p| p.pin.as_str() == "live-assist")
        .unwrap()
        .staged_public_key
        .clone()
        .unwrap();
    let (minter, keys) = container(&stack, &config).await;
    assert_eq!(
        public_key(&keys, "live-assist", true).await,
        (200, staged_key.clone()),
        "the staged key in paste format, before the switch"
    );
    let before_switch = minter.mint_named("live-assist", visitor()).await.unwrap().token;
    assert_eq!(
        check(
            &mut verifier,
            &before_switch,
            json!({"pasted_spki": pasted_live_assist}),
            "live-assist"
        )["ok"],
        true
    );

    rotate_keys::function_handler(&rotation, LambdaEvent::new(command("switch"), Context::default()))
        .await
        .unwrap_or_else(|f| panic!("switch: {}", f.0.name()));
    let (minter, keys) = container(&stack, &config).await;
    let after_switch = minter.mint_named("live-assist", visitor()).await.unwrap().token;
    assert_eq!(
        check(
            &mut verifier,
            &after_switch,
            json!({"pasted_spki": staged_key}),
            "live-assist"
        )["ok"],
        true
    );
    assert_eq!(
        check(
            &mut verifier,
            &after_switch,
            json!({"pasted_spki": pasted_live_assist}),
            "live-assist"
        )["ok"],
        false
    );
    assert_eq!(public_key(&keys, "live-assist", false).await.1, staged_key);
    // The other pin did not move.
    let liveperson = minter.mint_named("liveperson-pasted", visitor()).await.unwrap().token;
    assert_eq!(
        check(
            &mut verifier,
            &liveperson,
            json!({"pasted_spki": pasted_liveperson}),
            "liveperson"
        )["ok"],
        true
    );
    // Tokens signed before the switch still verify by kid through the JWKS.
    let published = jwks(&keys).await.unwrap();
    assert_eq!(
        check(&mut verifier, &before_switch, json!({"jwks": published}), "live-assist")["ok"],
        true
    );

    let commands = topic.drain();
    let kinds: Vec<&str> = commands.iter().map(|(_, m)| m["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pinned_key_staged", "pinned_key_switched"]);
    assert!(commands[1].0.contains("paste the new key now"), "{}", commands[1].0);
    assert_eq!(commands[1].1["pinned_key"], "live-assist");
    // Switching again with nothing staged is refused by name.
    let error = rotate_keys::function_handler(&rotation, LambdaEvent::new(command("switch"), Context::default()))
        .await
        .unwrap_err();
    assert_eq!(error.0.name(), "NothingStaged");
    // Exactly one version is current after the commands (no AWSCURRENT left behind).
    let labels = stack.labels().await;
    assert_eq!(
        labels
            .values()
            .filter(|l| l.contains(&"AWSCURRENT".to_string()))
            .count(),
        1,
        "{labels:?}"
    );
    assert!(
        labels
            .values()
            .all(|l| !l.contains(&"WHOSCALLING_OPERATOR_CHANGE".to_string())),
        "{labels:?}"
    );
    let document = stack.current().await;
    for key in &document.keys {
        logs.assert_free_of_material(key.private_key_pkcs8.as_str());
        for (_, message) in commands.iter().chain(scheduled.iter()) {
            assert!(
                !message.to_string().contains(key.private_key_pkcs8.as_str()),
                "no private key in a notification"
            );
        }
    }
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_string()
}
