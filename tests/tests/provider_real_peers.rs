//! whoscalling as an OpenID provider, against real peers: the visitor logs in at npm
//! `oidc-provider` (the brand's login), grants live in moto's DynamoDB and client secrets and
//! signing keys in moto's Secrets Manager (both through the real AWS SDK), the certified
//! relying-party library npm `openid-client` runs the flow as Puzzel and Genesys do, and so does
//! a second, independent library with its default settings (pyoidc, PyPI `oic`), LivePerson's
//! exact token request is replayed byte for byte, and jwcrypto verifies every id_token against
//! our published JWKS.

use std::sync::Arc;

use serde_json::{Value, json};
use whoscalling::adapters::DynamoGrantStore;
use whoscalling::adapters::SecretsManagerStore;
use whoscalling::keys::KeySetDocument;
use whoscalling::secrets::SecretCacheSettings;
use whoscalling::signing::SigningAlgorithm;
use whoscalling_local::{LocalServer, Options, Stores, serve};
use whoscalling_tests::{
    AdvancingClock, CapturedLogs, OIDC_CLIENT_ID, Peer, dynamodb_config, log_in_at_provider, moto, node,
    oidc_provider_with_id_token_claims, python, random_token, secrets_manager_config, verify_independently,
    workspace_root,
};

const ORIGIN: &str = "https://shop.example.com";
const PUZZEL_REDIRECT: &str = "https://chat.puzzel.example/v1/auth/redirect";
const GENESYS_REDIRECT: &str = "https://www.example.com/genesys-callback";
const LIVEPERSON_REDIRECT: &str = "https://liveperson.net";
const TABLE: &str = "whoscalling-grants";
/// alice's national id at the test provider (tests/peers/oidc-provider.mjs), and its masked form.
const ALICE_NIN: &str = "01129954321";
const ALICE_NIN_MASKED: &str = "011299*****";

struct World {
    server: LocalServer,
    moto: Peer,
    _idp: Peer,
    idp_issuer: String,
    secrets: std::collections::HashMap<&'static str, String>,
    _state_dir: std::path::PathBuf,
}

impl World {
    fn base(&self) -> &str {
        &self.server.base_url
    }
}

async fn world(code_lifetime_seconds: u64) -> World {
    world_with_clock(code_lifetime_seconds, Arc::new(whoscalling::SystemClock)).await
}

/// As [`world`], with the provider's codes and grants timed by `clock`.
async fn world_with_clock(code_lifetime_seconds: u64, clock: Arc<dyn whoscalling::Clock>) -> World {
    let idp = oidc_provider_with_id_token_claims();
    let moto = moto();

    // The table exactly as template.yaml declares it (partition key grant_id, TTL expires_at).
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb_config(&moto.url));
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    dynamodb
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("grant_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("grant_id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");

    let sm = aws_sdk_secretsmanager::Client::from_conf(secrets_manager_config(&moto.url).build());
    let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256, SigningAlgorithm::ES256], 1)
        .unwrap()
        .to_secret_string();
    let keys_arn = sm
        .create_secret()
        .name("whoscalling/signing-keys")
        .secret_string(keys.expose())
        .send()
        .await
        .unwrap();
    let mut secrets = std::collections::HashMap::new();
    let mut arns = std::collections::HashMap::new();
    for client in ["puzzel", "genesys", "liveperson"] {
        // Letters and digits, as Secrets Manager's generator makes them (ExcludePunctuation).
        let secret: String = random_token().chars().filter(char::is_ascii_alphanumeric).collect();
        let created = sm
            .create_secret()
            .name(format!("whoscalling/clients/{client}"))
            .secret_string(&secret)
            .send()
            .await
            .unwrap();
        arns.insert(client, created.arn().unwrap().to_string());
        secrets.insert(client, secret);
    }

    let config = json!({
        "allowed_origins": [ORIGIN],
        "identity": {"sources": ["bearer_token"], "issuer": idp.url, "audiences": [OIDC_CLIENT_ID],
                     "algorithms": ["RS256", "ES256"], "leeway_seconds": 30},
        "signing_keys": {"secret": keys_arn.arn().unwrap()},
        "profiles": {
            // With LivePerson's encryption key, as the template configures it for both flows.
            "liveperson": {"platform": "liveperson", "issuer": "{BASE_URL}", "token_lifetime_seconds": 600,
                "claims": {"given_name": {"claim": "given_name"}, "family_name": {"claim": "family_name"}},
                "customer_info": {"customerId": {"claim": "sub"}, "socialId": {"claim": "nin"},
                    "balance": {"claim": "balance"}, "currency": {"claim": "currency"},
                    "companyBranch": {"claim": "company_branch"}, "loginStatus": {"claim": "login_status"}},
                "personal": {"firstname": {"claim": "given_name"}, "language": {"claim": "locale"}},
                "encryption": {"public_key": fixture("liveperson-test-key.spki.b64"), "kid": "lp-test-key"}},
            "openid-claims": {"platform": "openid-connect", "subject": {"claim": "sub", "if_missing": "refuse"},
                "claims": {"name": {"claim": "name"}, "given_name": {"claim": "given_name"},
                           "family_name": {"claim": "family_name"}, "birthdate": {"claim": "birthdate"},
                           "nin": {"claim": "nin"}, "nin_issuing_country": {"claim": "nin_issuing_country"},
                           "email_verified": {"claim": "email_verified"},
                           "phone_number_verified": {"claim": "phone_number_verified"},
                           "updated_at": {"claim": "updated_at"}, "address": {"claim": "address"}}}
        },
        "provider": {"issuer": "{BASE_URL}", "grants_table": TABLE, "code_lifetime_seconds": code_lifetime_seconds,
            "clients": {
                "puzzel": {"secret": arns["puzzel"], "redirect_uris": [PUZZEL_REDIRECT],
                           "scopes": ["openid", "profile", "email", "phone", "address"], "profile": "openid-claims",
                           "claims_without_scope": ["nin", "nin_issuing_country"]},
                "genesys": {"secret": arns["genesys"], "redirect_uris": [GENESYS_REDIRECT],
                            "scopes": ["openid", "profile", "email", "phone", "address"], "profile": "openid-claims", "require_pkce": true,
                            "claims_without_scope": ["nin", "nin_issuing_country"]},
                "liveperson": {"secret": arns["liveperson"], "redirect_uris": [LIVEPERSON_REDIRECT],
                               "scopes": ["openid"], "profile": "liveperson"}
            }}
    });
    let state_dir = std::env::temp_dir().join(format!("whoscalling-provider-test-{}", random_token()));
    std::fs::create_dir_all(&state_dir).unwrap();
    let config_file = state_dir.join("config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();

    let secret_store = SecretsManagerStore::new(secrets_manager_config(&moto.url), SecretCacheSettings::default())
        .await
        .unwrap();
    let stores = Stores {
        secrets: Arc::new(secret_store),
        grants: Arc::new(DynamoGrantStore::new(dynamodb_config(&moto.url), TABLE)),
        provider_clock: clock,
    };
    let server = serve(Options {
        port: 0,
        state_dir: state_dir.clone(),
        config_file: Some(config_file),
        stores: Some(stores),
    })
    .await
    .expect("serve");
    World {
        idp_issuer: idp.url.clone(),
        server,
        moto,
        _idp: idp,
        secrets,
        _state_dir: state_dir,
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("tests/fixtures").join(name))
        .expect("fixture")
        .trim()
        .to_string()
}

/// Runs tests/peers/oidc-rp.mjs (npm openid-client) with `input`; its one JSON line.
fn relying_party(input: &Value) -> Value {
    let output = std::process::Command::new(node())
        .arg(workspace_root().join("tests/peers/oidc-rp.mjs"))
        .arg(input.to_string())
        .output()
        .expect("openid-client peer");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "oidc-rp.mjs said: {} {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs tests/peers/pyoidc-rp.py (pyoidc, its default settings) with `input`; its one JSON line.
fn pyoidc(input: &Value) -> Value {
    let output = std::process::Command::new(python())
        .arg(workspace_root().join("tests/peers/pyoidc-rp.py"))
        .arg(input.to_string())
        .output()
        .expect("pyoidc peer");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "pyoidc-rp.py said: {} {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

async fn jwks(world: &World) -> Value {
    reqwest::get(format!("{}/.well-known/jwks.json", world.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A code from the page-script endpoint for `client`, as LivePerson's / Genesys's page gets one.
async fn page_code(world: &World, id_token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/code", world.base()))
        .header("origin", ORIGIN)
        .bearer_auth(id_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn token_request(
    world: &World,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/oauth2/token", world.base()))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

async fn userinfo_status(world: &World, access_token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", world.base()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_the_flow_as_puzzel_and_genesys() {
    let logs = CapturedLogs::install();
    let world = world(60).await;
    let id_token = log_in_at_provider(&world.idp_issuer, "alice").await;
    let jwks = jwks(&world).await;

    for (client, redirect_uri, auth_method) in [
        ("puzzel", PUZZEL_REDIRECT, "client_secret_basic"),
        ("genesys", GENESYS_REDIRECT, "client_secret_post"),
    ] {
        let result = relying_party(&json!({
            "issuer": world.base(), "client_id": client, "client_secret": world.secrets[client],
            "redirect_uri": redirect_uri, "auth_method": auth_method, "bearer": id_token,
            "scope": "openid profile email phone address", "pkce": true, "nonce": true
        }));
        assert!(result.get("error").is_none(), "{client}: {result}");
        let discovery = &result["discovery"];
        assert_eq!(discovery["issuer"], world.base());
        assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            discovery["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(result["token_response"]["cache_control"], "no-store");
        assert_eq!(result["token_response"]["token_type"], "Bearer");
        assert_eq!(result["at_hash_matches"], true, "{client}: at_hash");
        let claims = &result["id_token_claims"];
        assert_eq!(
            (claims["aud"].as_str(), claims["sub"].as_str()),
            (Some(client), Some("alice"))
        );
        assert_eq!(
            claims["nin"], ALICE_NIN_MASKED,
            "national ids are masked before any client sees them"
        );
        assert_eq!(result["userinfo"]["sub"], "alice");
        assert_eq!(result["userinfo"]["nin"], ALICE_NIN_MASKED);
        // OIDC Core 5.1 types, as openid-client hands the claims to the relying party.
        let types = json!({"sub": "string", "name": "string", "nin": "string", "email_verified": "boolean",
                           "phone_number_verified": "boolean", "updated_at": "number", "address": "object"});
        for (source, claims) in [
            ("id_token", &result["id_token_claims"]),
            ("userinfo", &result["userinfo"]),
        ] {
            for (claim, expected) in types.as_object().unwrap() {
                assert_eq!(
                    &result["claim_types"][source][claim], expected,
                    "{client}: {source} {claim}: {claims}"
                );
            }
            assert_eq!(
                (&claims["email_verified"], &claims["phone_number_verified"]),
                (&json!(true), &json!(false)),
                "{client}: {source}"
            );
            assert_eq!(claims["updated_at"], 1_767_225_600u64, "{client}: {source}");
            assert_eq!(
                claims["address"],
                json!({"street_address": "Storgata 1", "locality": "Oslo", "postal_code": "0155", "country": "NO"})
            );
        }

        // An independent JOSE library agrees, against the JWKS we publish.
        let verdict = verify_independently(&json!({
            "token": result["id_token"], "key": {"jwks": jwks}, "rules": "none",
            "expect": {"iss": world.base(), "aud": client, "sub": "alice", "nonce": result["request"]["nonce"]},
            "expect_absent": [ALICE_NIN], "now": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        }));
        assert_eq!(verdict["ok"], true, "{client}: {verdict}");
        assert_eq!(verdict["header"]["alg"], "RS256");

        // The same code again: refused, and the access token issued for it stops working.
        let code = url::Url::parse(result["callback"].as_str().unwrap())
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let access_token = result["access_token"].as_str().unwrap();
        assert_eq!(userinfo_status(&world, access_token).await, 200);
        let replay = relying_party(&json!({
            "step": "token_only", "issuer": world.base(), "client_id": client, "client_secret": world.secrets[client],
            "redirect_uri": redirect_uri, "auth_method": auth_method, "code": code,
            "code_verifier": result["request"]["code_verifier"], "expected_nonce": result["request"]["nonce"]
        }));
        assert_eq!(replay["cause"]["error"], "invalid_grant", "{client}: {replay}");
        assert_eq!(
            userinfo_status(&world, access_token).await,
            401,
            "{client}: tokens of a replayed code are revoked"
        );

        // Sensitive values never reach the logs.
        logs.assert_free_of(&[
            &id_token,
            &code,
            access_token,
            result["id_token"].as_str().unwrap(),
            &world.secrets[client],
            ALICE_NIN,
        ]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveperson_code_flow_gets_the_documented_response() {
    let logs = CapturedLogs::install();
    let world = world(60).await;
    let id_token = log_in_at_provider(&world.idp_issuer, "alice").await;

    // The page: lpGetAuthenticationToken asks our code endpoint, passes {ssoKey, redirect_uri} on.
    let (status, body) = page_code(&world, &id_token, json!({"client_id": "liveperson"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redirect_uri"], LIVEPERSON_REDIRECT);
    let code = body["ssoKey"].as_str().unwrap().to_string();

    // LivePerson's server: form POST, HTTP Basic, redirect_uri=https://liveperson.net.
    let (status, headers, body) = token_request(
        &world,
        Some(("liveperson", &world.secrets["liveperson"])),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", LIVEPERSON_REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string() && body["expires_in"].is_u64());
    // The id_token is the signed JWT wrapped for LivePerson's key: jwcrypto opens it with the
    // private key only LivePerson holds, then checks the signature against our JWKS.
    assert_eq!(
        body["id_token"].as_str().unwrap().split('.').count(),
        5,
        "a compact JWE"
    );
    let verdict = verify_independently(&json!({
        "token": body["id_token"], "key": {"jwks": jwks(&world).await}, "rules": "liveperson",
        "decrypt": {"pkcs8_b64": fixture("liveperson-test-key.pk8.b64")},
        "expect": {"iss": world.base(), "aud": "liveperson", "sub": "alice"}, "expect_absent": [ALICE_NIN]
    }));
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["jwe_header"]["kid"], "lp-test-key");
    assert_eq!(verdict["claims"]["lp_sdes"][0]["info"]["socialId"], ALICE_NIN_MASKED);
    // The engagement attributes with LivePerson's types, from the login's typed claims as they
    // are (the number needs no conversion option); jwcrypto's rules checked each type above.
    assert_eq!(
        verdict["claims"]["lp_sdes"],
        json!([
            {"type": "ctmrinfo", "info": {"customerId": "alice", "socialId": ALICE_NIN_MASKED, "balance": -400.99,
                "currency": "NOK", "companyBranch": "Oslo sentrum", "loginStatus": 2}},
            {"type": "personal", "personal": {"firstname": "Alice", "language": "nb-NO"}}
        ])
    );

    // The credentials in the form body instead (the other variant LivePerson documents).
    let (_, second) = page_code(&world, &id_token, json!({"client_id": "liveperson"})).await;
    let second = second["ssoKey"].as_str().unwrap().to_string();
    let (status, _, body) = token_request(
        &world,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &second),
            ("redirect_uri", LIVEPERSON_REDIRECT),
            ("client_id", "liveperson"),
            ("client_secret", &world.secrets["liveperson"]),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    logs.assert_free_of(&[&id_token, &code, &second, &world.secrets["liveperson"], ALICE_NIN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_get_the_right_oauth_error_and_issue_nothing() {
    let logs = CapturedLogs::install();
    // Codes live the longest the configuration allows (600 s), far beyond the cases' few seconds
    // on any machine; the expiry case moves the provider's clock past it instead of waiting.
    let clock = Arc::new(AdvancingClock::default());
    let world = world_with_clock(600, clock.clone()).await;
    let id_token = log_in_at_provider(&world.idp_issuer, "alice").await;
    let secret = world.secrets["genesys"].clone();
    let verifier = random_token();
    let challenge = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ))
    };
    let fresh = || async {
        let (status, body) = page_code(
            &world,
            &id_token,
            json!({"client_id": "genesys", "redirect_uri": GENESYS_REDIRECT,
            "code_challenge": challenge, "code_challenge_method": "S256", "nonce": "n"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["ssoKey"].as_str().unwrap().to_string()
    };
    let basic = Some(("genesys", secret.as_str()));
    let good = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", GENESYS_REDIRECT.to_string()),
            ("code_verifier", verifier.clone()),
        ]
    };
    let good = &good;

    // Each case: a fresh code, one thing wrong, the expected status and error, nothing issued.
    type Case<'a> = (
        &'static str,
        Option<(&'static str, String)>,
        Box<dyn Fn(&str) -> Vec<(&'static str, String)> + 'a>,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "wrong secret",
            Some(("genesys", "not-the-secret".into())),
            Box::new(good),
            401,
            "invalid_client",
        ),
        ("missing credentials", None, Box::new(good), 401, "invalid_client"),
        (
            "another client's code",
            Some(("puzzel", world.secrets["puzzel"].clone())),
            Box::new(good),
            400,
            "invalid_grant",
        ),
        (
            "redirect mismatch",
            basic.map(|(i, s)| (i, s.to_string())),
            Box::new(move |c: &str| {
                let mut form = good(c);
                form[2].1 = "https://www.example.com/elsewhere".into();
                form
            }),
            400,
            "invalid_grant",
        ),
        (
            "PKCE mismatch",
            basic.map(|(i, s)| (i, s.to_string())),
            Box::new(move |c: &str| {
                let mut form = good(c);
                form[3].1 = random_token();
                form
            }),
            400,
            "invalid_grant",
        ),
        (
            "missing verifier",
            basic.map(|(i, s)| (i, s.to_string())),
            Box::new(move |c: &str| good(c)[..3].to_vec()),
            400,
            "invalid_grant",
        ),
        (
            "unsupported grant type",
            basic.map(|(i, s)| (i, s.to_string())),
            Box::new(move |c: &str| {
                let mut form = good(c);
                form[0].1 = "client_credentials".into();
                form
            }),
            400,
            "unsupported_grant_type",
        ),
        (
            "duplicated parameter",
            basic.map(|(i, s)| (i, s.to_string())),
            Box::new(move |c: &str| {
                let mut form = good(c);
                form.push(("code", c.to_string()));
                form
            }),
            400,
            "invalid_request",
        ),
        (
            "oversized parameter",
            basic.map(|(i, s)| (i, s.to_string())),
            Box::new(move |c: &str| {
                let mut form = good(c);
                form.push(("state", "x".repeat(3000)));
                form
            }),
            400,
            "invalid_request",
        ),
    ];
    for (name, credentials, form, status, error) in cases {
        let code = fresh().await;
        let form = form(&code);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, headers, body) =
            token_request(&world, credentials.as_ref().map(|(i, s)| (*i, s.as_str())), &pairs).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(error)), "{name}: {body}");
        assert!(
            body.get("access_token").is_none() && body.get("id_token").is_none(),
            "{name}: nothing issued"
        );
        if name == "wrong secret" {
            assert!(
                headers["www-authenticate"].to_str().unwrap().starts_with("Basic"),
                "{name}"
            );
        }
        // The refused attempt did not burn the code: the right request still works once.
        let good_pairs = good(&code);
        let good_pairs: Vec<(&str, &str)> = good_pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (ok, _, body) = token_request(&world, basic, &good_pairs).await;
        assert_eq!(ok, 200, "{name}: {body}");
        let (again, _, body) = token_request(&world, basic, &good_pairs).await;
        assert_eq!(
            (again, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{name}: replayed"
        );
    }

    // Wrong content type.
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", world.base()))
        .basic_auth("genesys", Some(&secret))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "wrong content type: {body}"
    );

    // An expired code: the provider's clock moves past the code's 600 s.
    let code = fresh().await;
    clock.advance(601);
    let pairs = good(&code);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = token_request(&world, basic, &pairs).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "expired: {body}"
    );

    // The authorization endpoint: unregistered redirect URIs get a page, never a redirect.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |query: &str| {
        http.get(format!("{}/oauth2/authorize?{query}", world.base()))
            .bearer_auth(&id_token)
            .send()
    };
    for query in [
        "response_type=code&scope=openid&client_id=genesys&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
        "response_type=code&scope=openid&client_id=nobody&redirect_uri=https%3A%2F%2Fwww.example.com%2Fgenesys-callback",
        "response_type=code&scope=openid&client_id=genesys&client_id=puzzel&redirect_uri=https%3A%2F%2Fwww.example.com%2Fgenesys-callback",
    ] {
        let response = authorize(query).await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.headers().get("location").is_none(), "{query}");
        let page = response.text().await.unwrap();
        assert!(page.contains("<code>invalid_request</code>"), "{query}: {page}");
    }
    // Errors once the redirect URI is trusted go back to it, with state and iss.
    let response = authorize("response_type=code&scope=openid&client_id=genesys&state=st&redirect_uri=https%3A%2F%2Fwww.example.com%2Fgenesys-callback").await.unwrap();
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("invalid_request"),
        "genesys must use PKCE"
    );
    assert_eq!(
        (
            query.get("state").map(String::as_str),
            query.get("iss").map(String::as_str)
        ),
        (Some("st"), Some(world.base()))
    );
    assert!(!query.contains_key("code"));
    // No login: login_required, no code.
    let response = http
        .get(format!(
            "{}/oauth2/authorize?response_type=code&scope=openid&client_id=puzzel&redirect_uri={}",
            world.base(),
            url::form_urlencoded::byte_serialize(PUZZEL_REDIRECT.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "login_required"),
        "{location}"
    );

    logs.assert_free_of(&[&id_token, &secret, &verifier, ALICE_NIN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_store_outage_is_a_clean_503_and_never_an_accepted_replay() {
    let mut world = world(60).await;
    let id_token = log_in_at_provider(&world.idp_issuer, "alice").await;
    let secret = world.secrets["liveperson"].clone();
    let basic = Some(("liveperson", secret.as_str()));
    let (_, first) = page_code(&world, &id_token, json!({"client_id": "liveperson"})).await;
    let (_, second) = page_code(&world, &id_token, json!({"client_id": "liveperson"})).await;
    let form = |code: &Value| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code["ssoKey"].as_str().unwrap().to_string()),
            ("redirect_uri", LIVEPERSON_REDIRECT.to_string()),
        ]
    };
    let pairs = form(&first);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = token_request(&world, basic, &pairs).await;
    assert_eq!(status, 200, "the first exchange warms the client-secret cache");

    world.moto.stop();
    // A replay while the store is down: not accepted. A fresh code: a clean 503, nothing issued.
    let (status, headers, body) = token_request(&world, basic, &pairs).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "5");
    let fresh = form(&second);
    let fresh: Vec<(&str, &str)> = fresh.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = token_request(&world, basic, &fresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    assert!(body.get("id_token").is_none());
    // Nor can a new code be issued without somewhere to keep it.
    let (status, body) = page_code(&world, &id_token, json!({"client_id": "liveperson"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
}

/// A second certified-style client library with its DEFAULT settings: pyoidc checks discovery,
/// sends the authorization request by GET, authenticates with client_secret_basic, verifies the
/// id_token itself (signature from our jwks_uri, iss, aud, nonce) and asks userinfo the way it
/// does by default: POST with the token in the form body (RFC 6750 2.2). Scopes it asks for that
/// the client is not registered for are ignored, and the claims follow what was granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyoidc_runs_the_flow_with_its_default_settings() {
    let logs = CapturedLogs::install();
    let world = world(60).await;
    let id_token = log_in_at_provider(&world.idp_issuer, "alice").await;
    for (scope, granted, with_profile) in [
        (
            "openid profile email phone address",
            "address email openid phone profile",
            true,
        ),
        ("openid offline_access", "openid", false),
    ] {
        let result = pyoidc(&json!({
            "issuer": world.base(), "client_id": "puzzel", "client_secret": world.secrets["puzzel"],
            "redirect_uri": PUZZEL_REDIRECT, "bearer": id_token, "scope": scope, "extra": {"max_age": 3600}
        }));
        assert!(result.get("error").is_none(), "{scope}: {result}");
        assert_eq!(result["discovery"]["issuer"], world.base());
        assert_eq!(result["authorize"]["query_keys"], json!(["code", "iss", "state"]));
        assert_eq!(result["token_response"]["scope"], granted, "{scope}");
        let claims = &result["id_token_claims"];
        // pyoidc hands `aud` over as a list whatever its wire form.
        assert!(
            claims["aud"] == json!("puzzel") || claims["aud"] == json!(["puzzel"]),
            "{claims}"
        );
        assert_eq!(claims["sub"], "alice");
        // max_age was sent: auth_time is there (OIDC Core 2), and is the login's, not the code's.
        assert!(
            claims["auth_time"]
                .as_u64()
                .is_some_and(|t| t <= claims["iat"].as_u64().unwrap()),
            "{claims}"
        );
        for source in [claims, &result["userinfo"]] {
            assert_eq!(source["sub"], "alice");
            assert_eq!(source["nin"], ALICE_NIN_MASKED, "claims_without_scope");
            assert_eq!(source.get("name").is_some(), with_profile, "{scope}: {source}");
            assert_eq!(
                source.get("email_verified").is_some(),
                with_profile,
                "{scope}: {source}"
            );
        }
    }
    logs.assert_free_of(&[&id_token, &world.secrets["puzzel"], ALICE_NIN]);
}
