//! Amazon Connect end to end against real peers: a visitor logs in at npm `oidc-provider`
//! (authorization code + PKCE, no browser), the handler verifies the ID token against the
//! provider's JWKS found through discovery, reads the widget key through the real AWS SDK from
//! moto's Secrets Manager, and jwcrypto checks the minted token with Connect's rules.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::header;
use mint_token::{Deps, function_handler};
use serde_json::{Value, json};
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::secrets::SecretCacheSettings;
use whoscalling::{ServiceConfig, SystemClock};
use whoscalling_tests::{
    AdvancingClock, CapturedLogs, OIDC_CLIENT_ID, Peer, json_body, log_in_at_provider, moto,
    oidc_provider_with_id_token_claims, random_token, secrets_manager_config, verify_independently,
};

const WIDGET_ID: &str = "a1b2c3d4-widget";
const ORIGIN: &str = "https://shop.example.com";

fn config(issuer: &str, secret_arn: &str) -> ServiceConfig {
    let document = json!({
        "allowed_origins": [ORIGIN],
        "secret_cache": {"ttl_seconds": 300},
        "identity": {"sources": ["bearer_token"], "issuer": issuer, "audiences": [OIDC_CLIENT_ID],
                     "algorithms": ["RS256", "ES256"], "leeway_seconds": 30,
                     "jwks_max_age_seconds": 600, "jwks_min_refetch_seconds": 60},
        "profiles": {"connect": {"platform": "amazon-connect", "widget_id": WIDGET_ID,
            "security_key_secret": secret_arn, "token_lifetime_seconds": 500,
            "attributes": {
                "firstName": {"claim": "given_name"},
                "lastName": {"claim": "family_name"},
                "email": {"claim": "email"},
                "emailVerified": {"claim": "email_verified", "convert": "scalar"},
                "address": {"claim": "address", "convert": "json"},
                "nationalId": {"claim": "nin", "mask": "national_id"},
                "nationalIdCountry": {"claim": "nin_issuing_country"}
            },
            "customer_id": {"claim": "sub"},
            "mark_authenticated": true}}
    });
    ServiceConfig::from_json("test", &document.to_string()).expect("config")
}

struct World {
    _provider: Peer,
    _moto: Peer,
    issuer: String,
    key: String,
    deps: Deps,
}

async fn world() -> World {
    world_with_clock(Arc::new(SystemClock)).await
}

async fn world_with_clock(clock: Arc<dyn whoscalling::Clock>) -> World {
    let provider = oidc_provider_with_id_token_claims();
    let moto = moto();
    let key = format!("{}=", random_token()); // 44 characters, like a Connect key
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let created = client
        .create_secret()
        .name("whoscalling/connect-widget-key")
        .secret_string(&key)
        .send()
        .await
        .expect("create");
    let arn = created.arn().expect("arn").to_string();
    let store = SecretsManagerStore::new(secrets_manager_config(&moto.url), SecretCacheSettings::default())
        .await
        .expect("store");
    let config = config(&provider.url, &arn);
    let deps = Deps::from_config(&config, Arc::new(store), clock).expect("deps");
    World {
        issuer: provider.url.clone(),
        _provider: provider,
        _moto: moto,
        key,
        deps,
    }
}

fn request(method: &str, bearer: Option<&str>) -> lambda_http::Request {
    let mut headers = json!({"origin": ORIGIN, "host": "api.example.com"});
    if let Some(token) = bearer {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let event = json!({
        "version": "2.0", "routeKey": format!("{method} /token/{{profile}}"), "rawPath": "/token/connect",
        "rawQueryString": "", "headers": headers, "pathParameters": {"profile": "connect"},
        "isBase64Encoded": false,
        "requestContext": {"requestId": "test-request", "http": {"method": method, "path": "/token/connect",
            "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}, "timeEpoch": 0}
    });
    lambda_http::request::from_str(&event.to_string()).expect("event")
}

fn check_connect_token(token: &str, key: &str, customer: &str) -> Value {
    let verdict = verify_independently(&json!({
        "token": token, "key": {"hmac_utf8": key}, "rules": "amazon-connect",
        "expect": {"sub": WIDGET_ID, "customerId": customer},
        "now": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }));
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["header"], json!({"alg": "HS256", "typ": "JWT"}));
    verdict["claims"].clone()
}

#[tokio::test]
async fn visitor_logged_in_at_a_real_provider_gets_a_verifiable_connect_token() {
    let logs = CapturedLogs::install();
    let world = world().await;
    let id_token = log_in_at_provider(&world.issuer, "alice").await;

    let response = function_handler(&world.deps, request("POST", Some(&id_token)))
        .await
        .expect("handler");
    assert_eq!(response.status(), 200, "{:?}", json_body(&response));
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    let token = json_body(&response)["data"].as_str().expect("data").to_string();
    let claims = check_connect_token(&token, &world.key, "alice");
    let attributes = &claims["attributes"];
    assert_eq!(attributes["firstName"], "Alice");
    assert_eq!(attributes["lastName"], "Nordmann");
    assert_eq!(attributes["email"], "alice@example.com");
    assert_eq!(attributes["emailVerified"], "true");
    assert_eq!(attributes["nationalId"], "011299*****");
    assert_eq!(attributes["nationalIdCountry"], "NO");
    let address: Value =
        serde_json::from_str(attributes["address"].as_str().expect("address is a string")).expect("JSON");
    assert_eq!(address["country"], "NO");
    assert_eq!(
        claims["segmentAttributes"]["connect:CustomerAuthentication"]["ValueMap"]["Status"]["ValueString"],
        "AUTHENTICATED"
    );
    assert!(!token.contains("01129954321"));

    // A second call mints a fresh token (never a cached one) with the same identity.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = function_handler(&world.deps, request("GET", Some(&id_token)))
        .await
        .expect("handler");
    let second = json_body(&again)["data"].as_str().expect("data").to_string();
    assert_ne!(second, token);
    check_connect_token(&second, &world.key, "alice");

    // Bob has fewer claims: the skipped attributes are simply absent.
    let bob_token = log_in_at_provider(&world.issuer, "bob").await;
    let bob = function_handler(&world.deps, request("GET", Some(&bob_token)))
        .await
        .expect("handler");
    let bob_claims = check_connect_token(json_body(&bob)["data"].as_str().expect("data"), &world.key, "bob");
    assert_eq!(
        bob_claims["attributes"],
        json!({"firstName": "Bob", "lastName": "Smith"})
    );

    logs.assert_free_of(&[
        &id_token,
        &bob_token,
        &token,
        &second,
        &world.key,
        "alice@example.com",
        "01129954321",
        "Nordmann",
    ]);
}

#[tokio::test]
async fn tokens_the_provider_did_not_sign_for_us_are_refused_and_nothing_is_minted() {
    let logs = CapturedLogs::install();
    let world = world().await;
    let id_token = log_in_at_provider(&world.issuer, "alice").await;
    let (signing_input, signature) = id_token.rsplit_once('.').expect("compact JWS");
    let (header, payload) = signing_input.split_once('.').expect("compact JWS");

    // Same signature, edited claims.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(payload).expect("b64")).expect("json");
    claims["sub"] = json!("mallory");
    let tampered = format!("{header}.{}.{signature}", engine.encode(claims.to_string()));
    // A different signature segment (truncated).
    let truncated = format!("{signing_input}.{}", &signature[..signature.len() - 8]);
    // The public key as an HMAC secret (key confusion): refused by the algorithm allow-list.
    let hs_header = engine.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let confused = format!("{hs_header}.{payload}.{signature}");

    for (case, token, code) in [
        ("tampered", tampered.as_str(), "invalid_token"),
        ("truncated", truncated.as_str(), "invalid_token"),
        ("key confusion", confused.as_str(), "invalid_token"),
        ("garbage", "not-a-jwt", "invalid_token"),
    ] {
        let response = function_handler(&world.deps, request("GET", Some(token)))
            .await
            .expect("handler");
        assert_eq!(response.status(), 401, "{case}");
        let body = json_body(&response);
        assert_eq!(body["error"], code, "{case}");
        assert!(body.get("data").is_none(), "{case}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\"",
            "{case}"
        );
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            ORIGIN,
            "{case}"
        );
    }
    let no_token = function_handler(&world.deps, request("GET", None))
        .await
        .expect("handler");
    assert_eq!(no_token.status(), 401);
    assert_eq!(json_body(&no_token)["error"], "missing_token");
    logs.assert_free_of(&[&id_token, &tampered, &world.key]);
}

/// LivePerson and Live Assist against the same real peers: the key set lives in moto's Secrets
/// Manager (read through the SDK), the visitor logs in at oidc-provider, and jwcrypto checks each
/// token against the JWKS that `publish-keys` serves, with each vendor's rules.
#[tokio::test]
async fn liveperson_and_live_assist_tokens_verify_against_the_published_jwks() {
    use whoscalling::keys::KeySetDocument;
    use whoscalling::signing::SigningAlgorithm;

    let logs = CapturedLogs::install();
    let provider = oidc_provider_with_id_token_claims();
    let moto = moto();
    let client = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    // As the first rotation leaves it: rotating keys, and the pinned key of the live-assist profile.
    let pins = [whoscalling::keys::PinName::parse("live-assist").expect("pin")];
    let key_set = KeySetDocument::generate(&[SigningAlgorithm::RS256], 1_795_000_000)
        .and_then(|k| k.with_pins(&pins, 1_795_000_000))
        .expect("keys");
    let keys_arn = client
        .create_secret()
        .name("whoscalling/signing-keys")
        .secret_string(key_set.to_secret_string().expose())
        .send()
        .await
        .expect("create")
        .arn()
        .expect("arn")
        .to_string();
    let liveperson_public = std::fs::read_to_string(
        whoscalling_tests::workspace_root().join("tests/fixtures/liveperson-test-key.spki.b64"),
    )
    .unwrap();
    let liveperson_private =
        std::fs::read_to_string(whoscalling_tests::workspace_root().join("tests/fixtures/liveperson-test-key.pk8.b64"))
            .unwrap();
    let document = json!({
        "allowed_origins": [ORIGIN],
        "identity": {"sources": ["bearer_token"], "issuer": provider.url, "audiences": [OIDC_CLIENT_ID],
                     "algorithms": ["RS256"], "leeway_seconds": 30},
        "signing_keys": {"secret": keys_arn},
        "profiles": {
            "liveperson": {"platform": "liveperson", "issuer": "https://shop.example.com", "token_lifetime_seconds": 600,
                "claims": {"given_name": {"claim": "given_name"}, "phone_number": {"claim": "phone_number"}},
                "customer_info": {"customerId": {"claim": "sub"}, "socialId": {"claim": "nin"}},
                "personal": {"firstname": {"claim": "given_name"}, "age": {"claim": "birthdate"}, "email": {"claim": "email"}}},
            "liveperson-encrypted": {"platform": "liveperson", "issuer": "https://shop.example.com", "token_lifetime_seconds": 300,
                "customer_info": {"customerId": {"claim": "sub"}},
                "encryption": {"public_key": liveperson_public.trim(), "alg": "RSA-OAEP-256", "enc": "A256GCM"}},
            "live-assist": {"platform": "live-assist", "issuer": "shop.example.com", "token_lifetime_seconds": 7200,
                "crm_contact_id_claim": "crm_contact_id"}
        }
    });
    let config = ServiceConfig::from_json("test", &document.to_string()).expect("config");
    let store = Arc::new(
        SecretsManagerStore::new(secrets_manager_config(&moto.url), SecretCacheSettings::default())
            .await
            .expect("store"),
    );
    let deps = Deps::from_config(&config, store.clone(), Arc::new(SystemClock)).expect("deps");
    let keys = publish_keys::Deps::new(&config, store).expect("publish-keys");

    let jwks_event = json!({"version": "2.0", "routeKey": "GET /.well-known/jwks.json", "rawPath": "/.well-known/jwks.json",
        "rawQueryString": "", "headers": {"host": "api.example.com"}, "isBase64Encoded": false,
        "requestContext": {"http": {"method": "GET", "path": "/.well-known/jwks.json", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "test"}, "timeEpoch": 0}});
    let jwks_response =
        publish_keys::function_handler(&keys, lambda_http::request::from_str(&jwks_event.to_string()).unwrap())
            .await
            .unwrap();
    let lambda_http::Body::Text(jwks_text) = jwks_response.body() else {
        panic!("JWKS body")
    };
    let jwks: Value = serde_json::from_str(jwks_text).unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        3,
        "current and next, and Live Assist's pinned key"
    );

    let id_token = log_in_at_provider(&provider.url, "alice").await;
    let mut tokens = Vec::new();
    for (profile, rules, expect) in [
        (
            "liveperson",
            "liveperson",
            json!({"sub": "alice", "iss": "https://shop.example.com"}),
        ),
        ("liveperson-encrypted", "liveperson", json!({"sub": "alice"})),
        (
            "live-assist",
            "live-assist",
            json!({"sub": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "iss": "shop.example.com"}),
        ),
    ] {
        let mut event = request("GET", Some(&id_token));
        *event.uri_mut() = format!("https://api.example.com/token/{profile}").parse().unwrap();
        let event = lambda_http::RequestExt::with_path_parameters(
            event,
            std::collections::HashMap::from([("profile".to_string(), profile.to_string())]),
        );
        let response = function_handler(&deps, event).await.expect("handler");
        assert_eq!(response.status(), 200, "{profile}: {:?}", json_body(&response));
        let token = json_body(&response)["token"].as_str().expect("token").to_string();
        let mut check = json!({"token": token, "key": {"jwks": jwks}, "rules": rules, "expect": expect,
                               "expect_absent": ["01129954321"]});
        if profile == "liveperson-encrypted" {
            check["decrypt"] = json!({"pkcs8_b64": liveperson_private.trim()});
        }
        let verdict = verify_independently(&check);
        assert_eq!(verdict["ok"], true, "{profile}: {verdict}");
        if profile == "liveperson" {
            assert_eq!(verdict["claims"]["lp_sdes"][0]["info"]["socialId"], "011299*****");
            assert_eq!(verdict["claims"]["lp_sdes"][1]["personal"]["age"]["year"], 1985);
        }
        tokens.push(token);
    }

    // Bob has no CRM contact GUID: a clear 403 and no token.
    let bob_token = log_in_at_provider(&provider.url, "bob").await;
    let mut event = request("GET", Some(&bob_token));
    *event.uri_mut() = "https://api.example.com/token/live-assist".parse().unwrap();
    let event = lambda_http::RequestExt::with_path_parameters(
        event,
        std::collections::HashMap::from([("profile".to_string(), "live-assist".to_string())]),
    );
    let response = function_handler(&deps, event).await.expect("handler");
    assert_eq!(response.status(), 403);
    let body = json_body(&response);
    assert_eq!(body["error"], "insufficient_claims");
    assert!(body.get("token").is_none());

    let mut needles: Vec<&str> = tokens.iter().map(String::as_str).collect();
    needles.extend([
        id_token.as_str(),
        bob_token.as_str(),
        "01129954321",
        "alice@example.com",
    ]);
    logs.assert_free_of(&needles);
}

/// The identity provider goes down. Inside the minimum refetch interval an unknown `kid` asks
/// nobody; once the interval has passed (the injected clock moved on, no waiting) the cache does
/// try the stopped provider, that fails (its warning is logged), and the keys already fetched keep
/// verifying; so they do past max age, when the refresh fails too. A token signed with a key we
/// never saw fails closed (no token), however often it is presented.
#[tokio::test]
async fn a_provider_outage_keeps_known_keys_and_fails_closed_on_unknown_ones() {
    let logs = CapturedLogs::install();
    let clock = Arc::new(AdvancingClock::default());
    let mut world = world_with_clock(clock.clone()).await;
    let id_token = log_in_at_provider(&world.issuer, "alice").await;
    let first = function_handler(&world.deps, request("GET", Some(&id_token)))
        .await
        .expect("handler");
    assert_eq!(first.status(), 200, "the JWKS is fetched and cached");
    // Only this test stops its provider, so only it logs failed fetches.
    let failed_fetches = || logs.text().matches("identity provider keys unavailable").count();
    assert_eq!(failed_fetches(), 0);

    world._provider.stop();
    let cached = function_handler(&world.deps, request("GET", Some(&id_token)))
        .await
        .expect("handler");
    assert_eq!(
        cached.status(),
        200,
        "cached keys keep working while the provider is down"
    );

    // Same claims, signed by a key the provider never published.
    use base64::Engine;
    let payload = id_token.split('.').nth(1).expect("payload");
    let rogue = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"never-published"}"#);
    let signing_input = format!("{header}.{payload}");
    let mut signature = vec![0u8; rogue.public_modulus_len()];
    rogue
        .sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .expect("sign");
    let forged = format!(
        "{signing_input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
    );
    let (deps, forged) = (&world.deps, forged.as_str());
    let refuse_forged = || async move {
        let response = function_handler(deps, request("GET", Some(forged)))
            .await
            .expect("handler");
        assert_eq!(response.status(), 401, "{:?}", json_body(&response));
        assert_eq!(json_body(&response)["error"], "invalid_token");
        assert!(json_body(&response).get("data").is_none());
    };
    for _ in 0..3 {
        refuse_forged().await;
    }
    assert_eq!(
        failed_fetches(),
        0,
        "inside the minimum refetch interval the provider is not asked"
    );

    // After the interval: the unknown kid makes the cache ask the stopped provider, once.
    clock.advance(61);
    for _ in 0..3 {
        refuse_forged().await;
    }
    assert_eq!(failed_fetches(), 1, "one refetch was attempted, and it failed");
    let still = function_handler(&world.deps, request("GET", Some(&id_token)))
        .await
        .expect("handler");
    assert_eq!(
        still.status(),
        200,
        "the cached key still verifies after the failed refetch"
    );

    // Past max age: the refresh is attempted, fails, and the cached key still serves.
    clock.advance(600);
    let stale = function_handler(&world.deps, request("GET", Some(&id_token)))
        .await
        .expect("handler");
    assert_eq!(stale.status(), 200, "{:?}", json_body(&stale));
    assert_eq!(failed_fetches(), 2, "the max-age refresh was attempted, and it failed");
    logs.assert_free_of_material(&id_token);
}
