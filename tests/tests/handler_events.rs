//! Runs the real handlers on every file in `events/<function>/`, with the configuration of
//! `events/env.json`, and checks each answer against that folder's `expected.json`. Every event
//! file must have an expectation, so a new sample cannot go untested. Every token minted is
//! checked by jwcrypto with its platform's rules, against the JWKS `publish-keys` serves.

use std::sync::Arc;

use async_trait::async_trait;
use lambda_http::http::header;
use mint_token::function_handler;
use serde_json::{Value, json};
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::clock::FixedClock;
use whoscalling::identity::{JwksError, JwksSource};
use whoscalling::keys::KeySetDocument;
use whoscalling::signing::SigningAlgorithm;
use whoscalling::{Clock, IdentityVerifier, SystemClock};
use whoscalling_tests::{
    CapturedLogs, event_expectations, events_config, json_body, load_event, verify_independently, verify_intercom,
    workspace_root,
};

const CONNECT_KEY: &str = "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ";
const WIDGET_ID: &str = "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11";
const ALICE_NIN: &str = "12345678901";
/// Hex, as Intercom shows its secrets, and so also valid base64: the verifier checks that the
/// decoded bytes do not verify.
const INTERCOM_SECRET: &str = "3f1c9a2b7e4d5f60a1b2c3d4e5f60718293a4b5c";
/// Base64 text, as the CCAI Platform portal shows a company secret: the key is its UTF-8 bytes.
const CCAI_SECRET: &str = "Y2NhaS1wbGF0Zm9ybS1jb21wYW55LXNlY3JldC1zYW1wbGU=";
/// Zendesk's key id and secret, stored together as one JSON secret. The secret looks like
/// base64 on purpose: signing with its decoded bytes would be a different key.
const ZENDESK_KID: &str = "app_64f0c0ffee0123456789abcd";
const ZENDESK_SECRET: &str = "c2FtcGxlLXplbmRlc2stbWVzc2FnaW5nLXNpZ25pbmctc2VjcmV0";
/// Freshchat's account encryption key. It looks like base64 on purpose: the key is its UTF-8
/// bytes, and the verifier checks that the decoded bytes do not verify.
const FRESHCHAT_KEY: &str = "ZnJlc2hjaGF0LWFjY291bnQtZW5jcnlwdGlvbi1rZXktc2FtcGxl";
/// The widget's UUID in the Freshchat samples (the only value the page supplies).
const FRESHCHAT_UUID: &str = "3b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0d";

/// When the sample key set was generated (the certificates' validity starts from it).
const KEYS_CREATED_AT: u64 = 1_795_000_000;

fn zendesk_key_json() -> String {
    json!({"kid": ZENDESK_KID, "secret": ZENDESK_SECRET}).to_string()
}

/// The sample identity provider's JWKS (`https://idp.example.com`, key `idp-rsa-1`), so the
/// `forged-token-*` samples meet the key they claim and can only fail for the forgery.
struct SampleIdpJwks;

#[async_trait]
impl JwksSource for SampleIdpJwks {
    async fn fetch(&self) -> Result<Value, JwksError> {
        let text = std::fs::read_to_string(workspace_root().join("tests/fixtures/sample-idp-rsa-1.jwks.json"))
            .expect("JWKS fixture");
        Ok(serde_json::from_str(&text).expect("JWKS JSON"))
    }
}

fn store() -> Arc<InMemorySecretStore> {
    let store = Arc::new(InMemorySecretStore::with("whoscalling/connect-widget-key", CONNECT_KEY));
    store.put("whoscalling/intercom-secret", INTERCOM_SECRET);
    // As the first rotation leaves it: rotating keys plus a pinned key per pasted-key profile.
    let pins: Vec<_> = events_config().pinned_keys().into_iter().collect();
    let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], KEYS_CREATED_AT)
        .unwrap()
        .with_pins(&pins, KEYS_CREATED_AT)
        .unwrap();
    store.put("whoscalling/signing-keys", keys.to_secret_string().expose());
    store.put("whoscalling/ccai-company-secret", CCAI_SECRET);
    store.put("whoscalling/zendesk-key", &zendesk_key_json());
    store.put("whoscalling/freshchat-key", FRESHCHAT_KEY);
    store
}

fn mint_deps(secrets: Arc<InMemorySecretStore>) -> mint_token::Deps {
    mint_deps_at(secrets, Arc::new(SystemClock))
}

fn mint_deps_at(secrets: Arc<InMemorySecretStore>, clock: Arc<dyn Clock>) -> mint_token::Deps {
    let config = events_config();
    let jwks: Arc<dyn JwksSource> = Arc::new(SampleIdpJwks);
    let identity = IdentityVerifier::with_jwks_source(&config, Some(jwks), clock.clone()).expect("identity");
    mint_token::Deps::new(&config, identity, secrets, clock).expect("deps")
}

fn expectations(function: &str) -> Vec<(String, Value)> {
    event_expectations(function)
}

fn check_error_answer(file: &str, response: &lambda_http::Response<lambda_http::Body>, expectation: &Value) {
    let code = &expectation["error"];
    let body = json_body(response);
    assert_eq!(&body["error"], code, "{file}: {body}");
    assert!(
        body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
        "{file}"
    );
    assert!(
        body.get("data").is_none() && body.get("token").is_none(),
        "{file}: an error must not carry a token"
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    match response.status().as_u16() {
        401 => assert!(response.headers().contains_key(header::WWW_AUTHENTICATE), "{file}"),
        405 => assert!(response.headers().contains_key(header::ALLOW), "{file}"),
        _ => {}
    }
    // RFC 6750 3: the exact challenge where the sample names one; `null` means none at all.
    if let Some(challenge) = expectation.get("www_authenticate") {
        let sent = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().expect("ASCII"));
        assert_eq!(sent, challenge.as_str(), "{file}: WWW-Authenticate");
    }
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let logs = CapturedLogs::install();
    let secrets = store();
    let mint = mint_deps(secrets.clone());
    let keys = publish_keys::Deps::new(&events_config(), secrets.clone()).expect("publish-keys deps");

    // publish-keys first: its JWKS is what the minted tokens are checked against.
    let mut jwks = Value::Null;
    // Salesforce's single JWKs (with x5c): the current key's and the next key's.
    let mut salesforce_jwks = std::collections::BTreeMap::new();
    // Dynamics 365's public-key URL body: the key list its tokens are checked against.
    let mut d365_keys = String::new();
    for (file, expectation) in expectations("publish-keys") {
        let response = publish_keys::function_handler(&keys, load_event(&format!("publish-keys/{file}")))
            .await
            .expect("handler");
        assert_eq!(
            response.status().as_u16() as u64,
            expectation["status"].as_u64().unwrap(),
            "{file}"
        );
        match expectation.get("error") {
            Some(_) => check_error_answer(&file, &response, &expectation),
            None => {
                assert!(
                    response.headers()[header::CACHE_CONTROL]
                        .to_str()
                        .unwrap()
                        .starts_with("public, max-age=")
                );
                let lambda_http::Body::Text(text) = response.body() else {
                    panic!("{file}: text body expected")
                };
                if file == "jwks.json" {
                    jwks = serde_json::from_str(text).expect("JWKS JSON");
                } else if file.starts_with("public-key-salesforce") {
                    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json", "{file}");
                    salesforce_jwks.insert(file.clone(), serde_json::from_str::<Value>(text).expect("a JWK"));
                } else if file == "public-key-d365.json" {
                    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
                    let list: Value = serde_json::from_str(text).expect("key list JSON");
                    // The rotating RS256 keys (current and next), each {kid, publicKey, expiry}.
                    assert_eq!(list.as_array().map(Vec::len), Some(2), "{text}");
                    for entry in list.as_array().unwrap() {
                        let members: Vec<&String> = entry.as_object().unwrap().keys().collect();
                        assert_eq!(members, ["expiry", "kid", "publicKey"], "{entry}");
                        assert!(entry["kid"].as_str().unwrap().starts_with("rs256-"), "{entry}");
                        assert!(entry["expiry"].as_u64().unwrap() > 1_795_000_000, "{entry}");
                    }
                    d365_keys = text.clone();
                } else {
                    assert!(
                        text.starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A") && !text.contains('\n'),
                        "{file}: single-line SPKI"
                    );
                }
            }
        }
    }
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(5),
        "current and next, RS256 and ES256, and Live Assist's pinned key"
    );
    // The JWKS carries the same certificates on the rotating RS256 keys (a keyset may point at
    // the JWKS URL), none on ES256 or pinned keys.
    let current = &salesforce_jwks["public-key-salesforce.json"];
    let next = &salesforce_jwks["public-key-salesforce-next.json"];
    assert_ne!(current["kid"], next["kid"]);
    for jwk in jwks["keys"].as_array().unwrap() {
        let single = [current, next].into_iter().find(|single| single["kid"] == jwk["kid"]);
        match single {
            Some(single) => assert_eq!(jwk, single, "the JWKS member is the upload artefact"),
            None => assert!(jwk.get("x5c").is_none(), "{jwk}"),
        }
    }
    assert_eq!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k.get("x5c").is_some())
            .count(),
        2
    );

    let mut minted = Vec::new();
    for (file, expectation) in expectations("mint-token") {
        let event = load_event(&format!("mint-token/{file}"));
        let origin = event.headers().get(header::ORIGIN).cloned();
        let profile = lambda_http::RequestExt::path_parameters_ref(&event)
            .and_then(|p| p.first("profile").map(String::from))
            .unwrap_or_default();
        let response = function_handler(&mint, event).await.expect("handler");
        let status = response.status().as_u16();
        assert_eq!(
            status as u64,
            expectation["status"].as_u64().expect("status"),
            "{file}: {:?}",
            json_body(&response)
        );
        match expectation.get("error") {
            Some(_) => check_error_answer(&file, &response, &expectation),
            None if status == 200 && profile == "d365" => {
                // The bare token, as the widget's callback takes it; not cached, CORS as for JSON.
                assert_eq!(response.headers()[header::CONTENT_TYPE], "application/jwt", "{file}");
                assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store", "{file}");
                let lambda_http::Body::Text(token) = response.body() else {
                    panic!("{file}: text body expected")
                };
                assert_eq!(token.split('.').count(), 3, "{file}: a compact JWS");
                assert!(!token.contains(['"', '{', ' ', '\n']), "{file}: the token alone");
                minted.push((profile, token.clone()));
            }
            None if status == 200 => {
                let body = json_body(&response);
                if profile == "ccai" {
                    // The SDK's `authenticate` promise resolves to this object: `token`, nothing else.
                    let members: Vec<&String> = body.as_object().expect("an object").keys().collect();
                    assert_eq!(members, ["token"], "{file}: {body}");
                }
                if profile == "freshchat" {
                    // The page passes `body.token` to `fcWidget.authenticate`.
                    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{file}: {body}");
                }
                let token = body["data"]
                    .as_str()
                    .or(body["token"].as_str())
                    .expect("a token")
                    .to_string();
                minted.push((profile, token));
            }
            None => assert!(json_body(&response).is_null(), "{file}"),
        }
        // Every answer to the allowed origin carries CORS, errors included.
        if origin.as_ref().is_some_and(|o| o == "https://www.example.com") {
            assert_eq!(
                response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                "https://www.example.com",
                "{file}"
            );
        } else {
            assert!(
                response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{file}"
            );
        }
    }

    let liveperson_key =
        std::fs::read_to_string(workspace_root().join("tests/fixtures/liveperson-test-key.pk8.b64")).unwrap();
    let mut profiles_seen = Vec::new();
    for (profile, token) in &minted {
        if profile == "intercom" {
            // PyJWT under Intercom's rules; the body's `user_id`/`email` never reach the token.
            let verdict = verify_intercom(&json!({"token": token, "secret": INTERCOM_SECRET, "lifetime": 7200,
                "expect": {"user_id": "alice", "email": "alice@example.com", "phone": "+4712345678"},
                "expect_absent": [ALICE_NIN, "mallory", "Nordmann"]}));
            assert_eq!(verdict["ok"], true, "{profile}: {verdict}");
            assert_eq!(
                verdict["claims"]["exp"].as_u64().unwrap() - verdict["claims"]["iat"].as_u64().unwrap(),
                7200
            );
            profiles_seen.push(profile.clone());
            continue;
        }
        let request = match profile.as_str() {
            "connect" => json!({"token": token, "key": {"hmac_utf8": CONNECT_KEY}, "rules": "amazon-connect",
                "expect": {"sub": WIDGET_ID, "customerId": "alice"}}),
            "liveperson" => json!({"token": token, "key": {"jwks": jwks}, "rules": "liveperson",
                "expect": {"iss": "https://www.example.com", "sub": "alice"}}),
            "liveperson-encrypted" => json!({"token": token, "key": {"jwks": jwks}, "rules": "liveperson",
                "decrypt": {"pkcs8_b64": liveperson_key.trim()}, "expect": {"sub": "alice"}}),
            "live-assist" => json!({"token": token, "key": {"jwks": jwks}, "rules": "live-assist",
                "expect": {"iss": "www.example.com", "sub": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}}),
            "ccai" => json!({"token": token, "key": {"hmac_utf8": CCAI_SECRET}, "rules": "ccai-platform",
                "expect": {"iss": "Example Bank", "identifier": "alice", "name": "Alice Nordmann",
                    "email": "alice@example.com"}, "expect_absent": ["mallory", "Mallory", "Evil Corp"]}),
            // The token verifies with the key in the certificate Salesforce would hold; the
            // certificate covers the key's longest life: 2 x 365-day intervals, a week's
            // retention and Salesforce's 10 days.
            "salesforce" => json!({"token": token, "key": {"salesforce_jwk": current}, "rules": "salesforce-miaw",
                "certificate_valid_from": KEYS_CREATED_AT,
                "certificate_valid_through": KEYS_CREATED_AT + (2 * 365 + 7 + 10) * 86_400,
                "now": SystemClock.now_unix(),
                "expect": {"iss": "https://www.example.com/chat", "sub": "alice"},
                "expect_absent": ["mallory", "evil.example", "Nordmann"]}),
            "zendesk" => json!({"token": token, "key": {"hmac_utf8": ZENDESK_SECRET}, "rules": "zendesk-messaging",
                "kid": ZENDESK_KID, "now": SystemClock.now_unix(),
                "expect": {"scope": "user", "external_id": "C-1001", "name": "Alice Nordmann",
                    "email": "alice@example.com", "email_verified": true}}),
            "freshchat" => json!({"token": token, "key": {"hmac_utf8": FRESHCHAT_KEY}, "rules": "freshchat",
                "lifetime": 900, "now": SystemClock.now_unix(),
                "expect": {"freshchat_uuid": FRESHCHAT_UUID, "reference_id": "C-1001", "first_name": "Alice",
                    "last_name": "Nordmann", "email": "alice@example.com", "phone_number": "+4712345678"},
                "expect_absent": ["mallory", "Mallory"]}),
            // The body's sub, crm_contact_id, lwicontexts and iss (d365-body-sets-identity.json)
            // never reach the token: the verified visitor's values do.
            "d365" => json!({"token": token, "key": {"d365_key_url": d365_keys}, "rules": "d365-omnichannel",
                "now": SystemClock.now_unix(),
                "expect": {"iss": "www.example.com", "sub": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
                    "given_name": "Alice", "family_name": "Nordmann",
                    "lwicontexts": r#"{"msdyn_cartvalue":"10000","msdyn_customertier":"gold"}"#},
                "expect_absent": ["mallory", "evil.example", "00000000-0000-0000-0000-000000000bad"]}),
            other => panic!("unexpected profile {other}"),
        };
        let mut request = request;
        let mut absent = vec![json!(ALICE_NIN)];
        absent.extend(request["expect_absent"].as_array().cloned().unwrap_or_default());
        request["expect_absent"] = json!(absent);
        let verdict = verify_independently(&request);
        assert_eq!(verdict["ok"], true, "{profile}: {verdict}");
        let claims = &verdict["claims"];
        match profile.as_str() {
            "connect" => {
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 500);
                assert_eq!(
                    claims["attributes"],
                    json!({"firstName": "Alice", "lastName": "Nordmann", "nationalId": "123456*****"})
                );
            }
            "liveperson" => {
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 600);
                assert_eq!(
                    claims["lp_sdes"][0],
                    json!({"type": "ctmrinfo", "info": {"customerId": "alice", "socialId": "123456*****"}})
                );
                assert_eq!(claims["lp_sdes"][1]["personal"]["gender"], "FEMALE");
                assert_eq!(claims["lp_sdes"][1]["personal"]["age"]["year"], 1985);
                assert_eq!(
                    claims["lp_sdes"][1]["personal"]["contacts"],
                    json!([{"email": "alice@example.com", "phone": "+4712345678"}])
                );
                assert_eq!(verdict["header"]["alg"], "RS256");
            }
            "liveperson-encrypted" => {
                assert_eq!(
                    verdict["jwe_header"],
                    json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "lp-2026", "cty": "JWT"})
                );
                assert_eq!(claims["given_name"], "Alice");
            }
            "live-assist" => {
                assert_eq!(claims["given_name"], "Alice");
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
            }
            "ccai" => {
                assert_eq!(verdict["header"], json!({"alg": "HS256", "typ": "JWT"}));
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
                // The key is the secret's UTF-8 bytes: its base64-decoded bytes must not verify.
                use base64::Engine as _;
                let decoded = base64::engine::general_purpose::STANDARD.decode(CCAI_SECRET).unwrap();
                let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(decoded);
                let wrong =
                    verify_independently(&json!({"token": token, "key": {"jwks": {"keys": [{"kty": "oct", "k": k}]}}}));
                assert_eq!(wrong["ok"], false, "{wrong}");
                assert!(wrong["error"].as_str().unwrap().contains("signature"), "{wrong}");
            }
            // The body's `external_id`, `email` and `scope` (zendesk-body-sets-identity.json)
            // never reach the token: `expect` above holds the verified visitor's values.
            "zendesk" => assert_eq!(verdict["header"]["kid"], ZENDESK_KID),
            "freshchat" => {
                assert_eq!(verdict["header"], json!({"alg": "HS256", "typ": "JWT"}));
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 900);
            }
            "salesforce" => {
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
                assert!(claims.get("aud").is_none());
                // The next key's certificate is as good, ready to upload before the rotation.
                let next = verify_independently(&json!({"token": token, "key": {"salesforce_jwk": next}}));
                assert_eq!(next["ok"], false, "{next}");
                assert!(next["error"].as_str().unwrap().contains("kid"), "{next}");
            }
            "d365" => {
                let kid = verdict["header"]["kid"].as_str().unwrap();
                assert_eq!(verdict["header"], json!({"alg": "RS256", "typ": "JWT", "kid": kid}));
                assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
                assert_eq!(claims["nbf"], claims["iat"]);
                assert!(claims.get("email").is_none(), "email is opt-in");
                // The kid names the key list's first (current) key; a list without it verifies nothing.
                let list: Value = serde_json::from_str(&d365_keys).unwrap();
                assert_eq!(list[0]["kid"], kid);
                let without: Vec<Value> = list.as_array().unwrap().iter().skip(1).cloned().collect();
                let wrong = verify_independently(&json!({"token": token,
                    "key": {"d365_key_url": Value::Array(without).to_string()}, "rules": "d365-omnichannel"}));
                assert_eq!(wrong["ok"], false, "{wrong}");
            }
            _ => unreachable!(),
        }
        profiles_seen.push(profile.clone());
    }
    profiles_seen.sort();
    profiles_seen.dedup();
    assert_eq!(
        profiles_seen,
        [
            "ccai",
            "connect",
            "d365",
            "freshchat",
            "intercom",
            "live-assist",
            "liveperson",
            "liveperson-encrypted",
            "salesforce",
            "zendesk"
        ]
    );
    assert_eq!(
        minted.iter().filter(|(p, _)| p == "salesforce").count(),
        2,
        "both Salesforce samples minted"
    );
    assert_eq!(
        minted.iter().filter(|(p, _)| p == "zendesk").count(),
        2,
        "both Zendesk samples minted"
    );

    let mut needles: Vec<&str> = minted.iter().map(|(_, t)| t.as_str()).collect();
    needles.extend([
        CONNECT_KEY,
        INTERCOM_SECRET,
        CCAI_SECRET,
        ZENDESK_SECRET,
        FRESHCHAT_KEY,
        FRESHCHAT_UUID,
        "3B9C2A4E-7F1D-4C8A-9E2B-5D6F7A8B9C0D",
        "C-1001",
        "alice@example.com",
        ALICE_NIN,
        "Nordmann",
        "+4712345678",
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    ]);
    logs.assert_free_of(&needles);
}

/// The `forged-token-*` samples are refused for the forgery and nothing else: the handler holds the
/// sample provider's real key (`idp-rsa-1`), the clock stands a minute after the samples were
/// issued, and the control, the same header `kid` and claims genuinely signed RS256 with that
/// key, is accepted.
#[tokio::test]
async fn forged_token_samples_are_refused_and_the_same_claims_genuinely_signed_are_accepted() {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(
            std::fs::read_to_string(workspace_root().join("tests/fixtures/sample-idp-rsa-1.pk8.b64"))
                .unwrap()
                .trim(),
        )
        .unwrap();
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).expect("the sample provider's key");
    let deps = mint_deps_at(store(), Arc::new(FixedClock::at(1_795_237_260)));
    let files: Vec<String> = expectations("mint-token")
        .into_iter()
        .map(|(f, _)| f)
        .filter(|f| f.starts_with("forged-token-"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(workspace_root().join(format!("events/mint-token/{file}"))).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let forged = event["headers"]["authorization"]
            .as_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_string();
        let response = function_handler(&deps, lambda_http::request::from_str(&text).unwrap())
            .await
            .expect("handler");
        let body = json_body(&response);
        assert_eq!(
            (response.status().as_u16(), body["error"].as_str()),
            (401, Some("invalid_token")),
            "{file}: {body}"
        );
        assert!(body.get("data").is_none(), "{file}");

        let payload = forged.split('.').nth(1).unwrap();
        let signing_input = format!(
            "{}.{payload}",
            engine.encode(r#"{"alg":"RS256","typ":"JWT","kid":"idp-rsa-1"}"#)
        );
        let mut signature = vec![0u8; key.public_modulus_len()];
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .unwrap();
        let genuine = format!("{signing_input}.{}", engine.encode(signature));
        let control = lambda_http::request::from_str(&text.replace(&forged, &genuine)).unwrap();
        let response = function_handler(&deps, control).await.expect("handler");
        assert_eq!(
            response.status(),
            200,
            "{file}, genuinely signed: {:?}",
            json_body(&response)
        );
        assert!(json_body(&response)["data"].is_string(), "{file}: the control mints");
    }
}

#[tokio::test]
async fn refusals_read_no_secret() {
    let secrets = store();
    let reads_before = secrets.reads();
    let mint = mint_deps(secrets.clone());
    for (file, expectation) in expectations("mint-token") {
        if expectation.get("error").is_some() {
            let response = function_handler(&mint, load_event(&format!("mint-token/{file}")))
                .await
                .expect("handler");
            assert_eq!(
                response.status().as_u16() as u64,
                expectation["status"].as_u64().expect("status"),
                "{file}"
            );
            check_error_answer(&file, &response, &expectation);
        }
    }
    assert_eq!(
        secrets.reads(),
        reads_before,
        "a refused request must cost no secret read"
    );
}

#[tokio::test]
async fn secret_store_outage_without_cache_is_a_503_with_retry_after() {
    let secrets = store();
    secrets.set_unavailable(true);
    let deps = mint_deps(secrets);
    for file in [
        "valid-authorizer-get.json",
        "liveperson-authorizer.json",
        "live-assist-authorizer.json",
    ] {
        let response = function_handler(&deps, load_event(&format!("mint-token/{file}")))
            .await
            .expect("handler");
        assert_eq!(response.status(), 503, "{file}");
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://www.example.com"
        );
        let body = json_body(&response);
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(
            !body.to_string().contains("whoscalling/"),
            "5xx bodies say nothing internal"
        );
    }
}

#[tokio::test]
async fn missing_secret_is_an_opaque_500() {
    let deps = mint_deps(Arc::new(InMemorySecretStore::default()));
    let response = function_handler(&deps, load_event("mint-token/valid-authorizer-get.json"))
        .await
        .expect("handler");
    assert_eq!(response.status(), 500);
    let body = json_body(&response);
    assert_eq!(
        body,
        json!({"error": "server_error", "error_description": "the service could not complete the request"})
    );
}

#[tokio::test]
async fn empty_signing_key_secret_is_a_503_until_the_first_rotation() {
    let secrets = store();
    secrets.put("whoscalling/signing-keys", r#"{"keys":[]}"#);
    let deps = mint_deps(secrets.clone());
    let response = function_handler(&deps, load_event("mint-token/liveperson-authorizer.json"))
        .await
        .expect("handler");
    assert_eq!(
        (response.status().as_u16(), json_body(&response)["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    let keys = publish_keys::Deps::new(&events_config(), secrets).expect("deps");
    let jwks = publish_keys::function_handler(&keys, load_event("publish-keys/jwks.json"))
        .await
        .expect("handler");
    assert_eq!(
        (jwks.status().as_u16(), json_body(&jwks)["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    // Connect does not depend on our keys.
    let connect = function_handler(&deps, load_event("mint-token/valid-authorizer-get.json"))
        .await
        .expect("handler");
    assert_eq!(connect.status(), 200);
}

/// Intercom's secret still holding the template's placeholder: no token is signed with it (500
/// `server_error`, as for Connect's key), and the same request mints once the real secret is stored.
#[tokio::test]
async fn intercom_placeholder_secret_signs_nothing() {
    let secrets = store();
    secrets.put("whoscalling/intercom-secret", whoscalling::secrets::PLACEHOLDER_VALUE);
    let response = function_handler(
        &mint_deps(secrets.clone()),
        load_event("mint-token/intercom-authorizer.json"),
    )
    .await
    .expect("handler");
    assert_eq!(response.status(), 500);
    let body = json_body(&response);
    assert_eq!(body["error"], "server_error");
    assert!(body.get("token").is_none(), "{body}");
    // Control: the real secret, a fresh service (no cached placeholder), the same request mints.
    secrets.put("whoscalling/intercom-secret", INTERCOM_SECRET);
    let response = function_handler(&mint_deps(secrets), load_event("mint-token/intercom-authorizer.json"))
        .await
        .expect("handler");
    assert_eq!(response.status(), 200);
}

/// Zendesk under an independent verifier (jwcrypto): the header is exactly alg/typ/kid with the
/// kid stored in the secret, the signature verifies with the secret's UTF-8 bytes and fails with
/// its base64-decoded bytes (the control and the trap use the same key id and token), and a
/// rotated secret (new key id and secret, as the overlap runbook stores it) signs with the new
/// kid. A placeholder or a malformed secret is an opaque 500, never a token.
#[tokio::test]
async fn zendesk_tokens_carry_the_stored_kid_and_are_signed_with_the_secrets_utf8_bytes() {
    use base64::Engine;
    let secrets = store();
    let deps = mint_deps(secrets.clone());
    let (status, body) = mint_zendesk(&deps).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "the body is {{\"token\": ...}}: {body}"
    );
    let token = body["token"].as_str().expect("token").to_string();

    let utf8 = json!({"token": token, "key": {"hmac_utf8": ZENDESK_SECRET}, "rules": "zendesk-messaging",
        "kid": ZENDESK_KID});
    let verdict = verify_independently(&utf8);
    assert_eq!(verdict["ok"], true, "control: {verdict}");
    assert_eq!(
        verdict["header"],
        json!({"alg": "HS256", "typ": "JWT", "kid": ZENDESK_KID})
    );

    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(ZENDESK_SECRET)
        .expect("the sample secret is base64");
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(decoded);
    let decoded_key = json!({"token": token, "rules": "zendesk-messaging",
        "key": {"jwks": {"keys": [{"kty": "oct", "kid": ZENDESK_KID, "k": k}]}}});
    let verdict = verify_independently(&decoded_key);
    assert_eq!(verdict["ok"], false, "base64-decoded secret must not verify: {verdict}");
    assert!(verdict["error"].as_str().unwrap().contains("signature"), "{verdict}");

    let wrong_kid = json!({"token": token, "key": {"hmac_utf8": ZENDESK_SECRET}, "rules": "zendesk-messaging",
        "kid": "app_someotherkey"});
    assert_eq!(verify_independently(&wrong_kid)["ok"], false);

    // Rotation: the new key id and secret stored as the secret's new version sign from then on
    // (a fresh deployment reads it; the cache refreshes a running one).
    let rotated = store();
    rotated.put(
        "whoscalling/zendesk-key",
        &json!({"kid": "app_new", "secret": "new-secret"}).to_string(),
    );
    let (status, body) = mint_zendesk(&mint_deps(rotated)).await;
    assert_eq!(status, 200);
    let verdict = verify_independently(&json!({"token": body["token"], "key": {"hmac_utf8": "new-secret"},
        "rules": "zendesk-messaging", "kid": "app_new"}));
    assert_eq!(verdict["ok"], true, "{verdict}");

    for bad in [
        whoscalling::secrets::PLACEHOLDER_VALUE,
        ZENDESK_SECRET,
        r#"{"kid": "app_1"}"#,
    ] {
        let broken = store();
        broken.put("whoscalling/zendesk-key", bad);
        let (status, body) = mint_zendesk(&mint_deps(broken)).await;
        assert_eq!(status, 500, "{bad}: {body}");
        assert_eq!(body["error"], "server_error");
        assert!(
            !body.to_string().contains("zendesk"),
            "5xx bodies say nothing internal: {body}"
        );
    }
}

async fn mint_zendesk(deps: &mint_token::Deps) -> (u16, Value) {
    let event = load_event("mint-token/zendesk-authorizer.json");
    let response = function_handler(deps, event).await.expect("handler");
    (response.status().as_u16(), json_body(&response))
}

/// Dynamics 365's public-key URL when only one key is live (no next key staged): the PEM text,
/// and the token (with its kid) verifies with it; `?key=` is refused for the key list
/// (400 invalid_request) with a plain request as the control.
#[tokio::test]
async fn d365_one_live_key_is_served_as_pem_and_verifies_its_tokens() {
    let secrets = store();
    let mut keys = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_795_000_000).unwrap();
    keys.keys.retain(|k| k.status == whoscalling::keys::KeyStatus::Current);
    secrets.put("whoscalling/signing-keys", keys.to_secret_string().expose());
    let publish = publish_keys::Deps::new(&events_config(), secrets.clone()).expect("publish-keys deps");
    let response = publish_keys::function_handler(&publish, load_event("publish-keys/public-key-d365.json"))
        .await
        .expect("handler");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    let lambda_http::Body::Text(pem) = response.body() else {
        panic!("text body expected")
    };
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n") && pem.ends_with("-----END PUBLIC KEY-----\n"));

    let mint = mint_deps(secrets.clone());
    let response = function_handler(&mint, load_event("mint-token/d365-authorizer.json"))
        .await
        .expect("handler");
    assert_eq!(response.status(), 200);
    let lambda_http::Body::Text(token) = response.body() else {
        panic!("text body expected")
    };
    let verdict = verify_independently(&json!({"token": token, "key": {"d365_key_url": pem},
        "rules": "d365-omnichannel", "expect": {"sub": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    // Another key's PEM does not verify it.
    let other = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1).unwrap();
    let other_ring = whoscalling::keys::KeyRing::from_document(&other).unwrap();
    let spki = other_ring.current_public_key_spki(SigningAlgorithm::RS256).unwrap();
    let lines: Vec<String> = spki
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into())
        .collect();
    let other_pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let wrong = verify_independently(&json!({"token": token, "key": {"d365_key_url": other_pem}}));
    assert_eq!(wrong["ok"], false, "{wrong}");

    let text = std::fs::read_to_string(workspace_root().join("events/publish-keys/public-key-d365.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["rawQueryString"] = json!("key=next");
    event["queryStringParameters"] = json!({"key": "next"});
    let response =
        publish_keys::function_handler(&publish, lambda_http::request::from_str(&event.to_string()).unwrap())
            .await
            .expect("handler");
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(&response)["error"], "invalid_request");
}

/// Freshchat under an independent verifier (jwcrypto, rules `freshchat`): the header is exactly
/// alg/typ, the widget's UUID and the verified reference_id are in the token, the signature
/// verifies with the encryption key's UTF-8 bytes and fails with its base64-decoded bytes, and
/// a key still holding the template's placeholder signs nothing (500 `server_error`, no token;
/// the real key, the same request, mints).
#[tokio::test]
async fn freshchat_tokens_are_signed_with_the_keys_utf8_bytes_and_never_with_the_placeholder() {
    use base64::Engine;
    let secrets = store();
    let (status, body) = mint_freshchat(
        &mint_deps(secrets.clone()),
        &json!({ "freshchat_uuid": FRESHCHAT_UUID }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("token").to_string();
    let verdict = verify_independently(&json!({"token": token, "key": {"hmac_utf8": FRESHCHAT_KEY},
        "rules": "freshchat", "lifetime": 900, "expect": {"freshchat_uuid": FRESHCHAT_UUID, "reference_id": "C-1001"}}));
    assert_eq!(verdict["ok"], true, "control: {verdict}");

    let decoded = base64::engine::general_purpose::STANDARD
        .decode(FRESHCHAT_KEY)
        .expect("the sample key is base64");
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(decoded);
    let verdict = verify_independently(&json!({"token": token, "rules": "freshchat",
        "key": {"jwks": {"keys": [{"kty": "oct", "k": k}]}}}));
    assert_eq!(
        verdict["ok"], false,
        "the base64-decoded key must not verify: {verdict}"
    );
    assert!(verdict["error"].as_str().unwrap().contains("signature"), "{verdict}");

    let placeholder = store();
    placeholder.put("whoscalling/freshchat-key", "REPLACE_WITH_FRESHCHAT_ENCRYPTION_KEY");
    let (status, body) = mint_freshchat(
        &mint_deps(placeholder.clone()),
        &json!({ "freshchat_uuid": FRESHCHAT_UUID }).to_string(),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body,
        json!({"error": "server_error", "error_description": "the service could not complete the request"})
    );
    // Control: the real key stored, a fresh service (no cached placeholder), the same request mints.
    placeholder.put("whoscalling/freshchat-key", FRESHCHAT_KEY);
    let (status, body) = mint_freshchat(
        &mint_deps(placeholder),
        &json!({ "freshchat_uuid": FRESHCHAT_UUID }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Hostile request bodies by class through the real handler, for the verified visitor of
/// `freshchat-authorizer.json`: each is 400 `invalid_request` with CORS, no token and no secret
/// read; the valid body, the control, mints. The page's value never reaches an error body or
/// the logs.
#[tokio::test]
async fn freshchat_hostile_bodies_are_400_invalid_request_and_read_no_secret() {
    let logs = CapturedLogs::install();
    let secrets = store();
    let deps = mint_deps(secrets.clone());
    let u = FRESHCHAT_UUID;
    let upper = u.to_uppercase();
    let with = |value: Value| json!({ "freshchat_uuid": value }).to_string();
    let classes: Vec<(&str, Vec<String>)> = vec![
        (
            "not an object",
            vec![
                "[]".into(),
                format!("\"{u}\""),
                "{".into(),
                "null".into(),
                format!("{{\"freshchat_uuid\": \"{u}\"}} {{}}"),
            ],
        ),
        (
            "a member named twice",
            vec![
                format!("{{\"freshchat_uuid\": \"{u}\", \"freshchat_uuid\": \"{u}\"}}"),
                format!("{{\"freshchat_uuid\": \"{upper}\", \"freshchat_uuid\": \"{u}\"}}"),
            ],
        ),
        ("missing", vec!["".into(), "{}".into(), " \n ".into()]),
        (
            "types",
            vec![
                with(Value::Null),
                with(json!(1)),
                with(json!(true)),
                with(json!([u])),
                with(json!({"uuid": u})),
                // The getUUID() answer passed on whole instead of its `data.uuid`.
                with(json!({"success": true, "data": {"uuid": u}})),
            ],
        ),
        (
            "lengths",
            vec![
                with(json!("")),
                with(json!(&u[..35])),
                with(json!(format!("{u}0"))),
                with(json!("a".repeat(1000))),
            ],
        ),
        (
            "notations and encodings",
            vec![
                with(json!(upper)),
                with(json!(format!("{{{u}}}"))),
                with(json!(format!("urn:uuid:{u}"))),
                with(json!(u.replace('-', ""))),
                with(json!(u.replacen('-', "%2D", 1))),
                with(json!("M2I5YzJhNGUtN2YxZC00YzhhLTllMmItNWQ2ZjdhOGI5YzBk")),
                "{\"freshchat_uuid\": \"\\u0033b9c2a4e-7f1d-4c8a-9e2b-5d6f7a8b9c0\\u0044\"}".into(),
            ],
        ),
        (
            "control characters and whitespace",
            vec![
                with(json!(format!("{}\u{0}", &u[..35]))),
                with(json!(format!("{u}\n"))),
                with(json!(format!(" {u}"))),
                with(json!(format!("\t{}", &u[1..]))),
                with(json!(format!("{}\u{7f}", &u[..35]))),
            ],
        ),
        (
            "unicode look-alikes",
            vec![
                with(json!(u.replace('a', "\u{430}"))),
                with(json!(u.replace('3', "\u{ff13}"))),
                with(json!(u.replace('-', "\u{2010}"))),
                with(json!(u.replace('-', "\u{2212}"))),
                with(json!(format!("{u}\u{200b}"))),
                with(json!(u.replacen('a', "a\u{301}", 1))),
            ],
        ),
        (
            "nil and max",
            vec![
                with(json!("00000000-0000-0000-0000-000000000000")),
                with(json!("ffffffff-ffff-ffff-ffff-ffffffffffff")),
            ],
        ),
        (
            "members that try to set identity or the token",
            [
                "reference_id",
                "email",
                "first_name",
                "phone_number",
                "sub",
                "exp",
                "Freshchat_uuid",
            ]
            .iter()
            .map(|member| json!({ "freshchat_uuid": u, *member: "mallory" }).to_string())
            .collect(),
        ),
    ];
    let reads_before = secrets.reads();
    for (class, bodies) in &classes {
        for text in bodies {
            let (status, body, cors) = mint_freshchat_answer(&deps, text).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_request")),
                "{class}: {text:?} -> {body}"
            );
            assert!(body.get("token").is_none(), "{class}: {body}");
            assert_eq!(
                cors.as_deref(),
                Some("https://www.example.com"),
                "{class}: errors carry CORS"
            );
            let description = body["error_description"].as_str().unwrap_or_default();
            assert!(
                !description.contains("mallory")
                    && !description.contains(&u[..8])
                    && !description.contains(&upper[..8]),
                "{class}: the description echoes the page: {description}"
            );
        }
    }
    assert_eq!(secrets.reads(), reads_before, "a refused body costs no secret read");
    // Control: the valid body mints for the same visitor.
    let (status, body, _) = mint_freshchat_answer(&deps, &with(json!(u))).await;
    assert_eq!(status, 200, "{body}");
    logs.assert_free_of(&[u, &upper, "mallory", &u.replace('-', "")]);
}

async fn mint_freshchat(deps: &mint_token::Deps, body: &str) -> (u16, Value) {
    let (status, body, _) = mint_freshchat_answer(deps, body).await;
    (status, body)
}

/// `freshchat-authorizer.json` with another body: status, JSON body and the CORS origin.
async fn mint_freshchat_answer(deps: &mint_token::Deps, body: &str) -> (u16, Value, Option<String>) {
    let text = std::fs::read_to_string(workspace_root().join("events/mint-token/freshchat-authorizer.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["body"] = json!(body);
    let request = lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event");
    let response = function_handler(deps, request).await.expect("handler");
    let cors = response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), json_body(&response), cors)
}
