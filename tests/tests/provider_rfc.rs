//! The real `exchange-code` handler against what certified OpenID client libraries expect of a
//! provider (issue 18): the userinfo endpoint's three ways of being sent a token (RFC 6750 2),
//! its challenge without an error code when no token was sent (3.1), the token endpoint's
//! challenge on every 401 `invalid_client`, redirect URIs compared as strings (RFC 6749
//! 3.1.2.3) at both endpoints, and claims that follow the granted scopes (OIDC Core 5.4).
//! The visitor is a sealed session cookie, time an injected clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::clock::FixedClock;
use whoscalling::keys::KeySetDocument;
use whoscalling::openid_provider::MemoryGrantStore;
use whoscalling::session::{Purpose, SessionKeys, SessionPayload};
use whoscalling::signing::SigningAlgorithm;
use whoscalling::{IdentityVerifier, SecretName, ServiceConfig};

const ISSUER: &str = "https://id.example.com";
const REDIRECT: &str = "https://chat.puzzel.example/v1/auth/redirect";
const CLIENT_SECRET: &str = "puzzel-client-secret-0123456789";
const SESSION_KEY: &str = "a-session-key-of-at-least-thirty-two-characters";
const NOW: u64 = 1_800_000_000;

struct World {
    deps: exchange_code::Deps,
    secrets: Arc<InMemorySecretStore>,
}

fn world() -> World {
    let document = json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["session"]},
        "session": {"key_secret": "whoscalling/session-key", "lifetime_seconds": 900},
        "signing_keys": {"secret": "whoscalling/signing-keys"},
        "profiles": {"openid-claims": {"platform": "openid-connect", "subject": {"claim": "sub", "if_missing": "refuse"},
            "claims": {"name": {"claim": "name"}, "email": {"claim": "email"}, "nin": {"claim": "nin", "mask": "national_id"}}}},
        "provider": {"issuer": ISSUER, "clients": {"puzzel": {
            "secret": "whoscalling/clients/puzzel", "redirect_uris": [REDIRECT], "scopes": ["openid", "profile", "email"],
            "profile": "openid-claims", "claims_without_scope": ["nin"]}}}
    });
    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/session-key", SESSION_KEY));
    secrets.put("whoscalling/clients/puzzel", CLIENT_SECRET);
    let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256], NOW - 60).unwrap();
    secrets.put("whoscalling/signing-keys", keys.to_secret_string().expose());
    let clock = Arc::new(FixedClock::at(NOW));
    let config = ServiceConfig::from_json("test", &document.to_string()).expect("config");
    let identity = IdentityVerifier::with_jwks_source(&config, None, clock.clone()).expect("identity");
    let deps = exchange_code::Deps::new(
        &config,
        identity,
        Arc::new(MemoryGrantStore::new()),
        secrets.clone(),
        clock,
    )
    .expect("deps");
    World { deps, secrets }
}

async fn session(world: &World) -> String {
    let keys = SessionKeys::new(
        world.secrets.clone(),
        SecretName::try_from("whoscalling/session-key".to_string()).unwrap(),
    );
    let payload = SessionPayload {
        provider: "bankid".into(),
        claims: json!({"sub": "alice", "name": "Alice Nordmann", "email": "alice@example.com", "nin": "01129954321"})
            .as_object()
            .cloned()
            .unwrap(),
        iat: NOW,
        exp: NOW + 900,
    };
    format!(
        "whoscalling_session={}",
        keys.seal_json(Purpose::Session, &payload).await.unwrap()
    )
}

async fn call(world: &World, request: Request) -> Response<Body> {
    exchange_code::function_handler(&world.deps, request).await.unwrap()
}

fn request(method: &str, path: &str) -> lambda_http::http::request::Builder {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("{ISSUER}{path}"))
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().copied())
        .finish()
}

fn json_of(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn challenge(response: &Response<Body>) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A code for alice at `redirect_uri` with `scope`; `Err(location or page status)` when refused.
async fn code(world: &World, redirect_uri: &str, scope: &str) -> Result<String, String> {
    let query = form(&[
        ("response_type", "code"),
        ("client_id", "puzzel"),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", "s"),
    ]);
    let response = call(
        world,
        request("GET", &format!("/oauth2/authorize?{query}"))
            .header(header::COOKIE, session(world).await)
            .body(Body::Empty)
            .unwrap(),
    )
    .await;
    let Some(location) = response.headers().get(header::LOCATION) else {
        return Err(response.status().to_string());
    };
    let query: BTreeMap<String, String> = url::Url::parse(location.to_str().unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    query.get("code").cloned().ok_or_else(|| format!("{query:?}"))
}

fn basic(secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("puzzel:{secret}")))
}

async fn exchange(world: &World, code: &str, redirect_uri: &str) -> Response<Body> {
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ]);
    call(
        world,
        request("POST", "/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, basic(CLIENT_SECRET))
            .body(Body::Text(body))
            .unwrap(),
    )
    .await
}

async fn access_token(world: &World) -> String {
    let code = code(world, REDIRECT, "openid profile").await.unwrap();
    let response = exchange(world, &code, REDIRECT).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    json_of(&response)["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn userinfo_takes_the_token_in_a_header_or_a_form_body_and_challenges_without_an_error_when_none_is_sent() {
    let logs = whoscalling_tests::CapturedLogs::install();
    let world = world();
    let token = access_token(&world).await;
    let form_post = |body: String| {
        request("POST", "/oauth2/userinfo")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::Text(body))
            .unwrap()
    };

    // Controls: RFC 6750 2.1 (header, GET and POST) and 2.2 (form body, pyoidc's default).
    for (case, req) in [
        (
            "header GET",
            request("GET", "/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::Empty)
                .unwrap(),
        ),
        (
            "header POST",
            request("POST", "/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::Empty)
                .unwrap(),
        ),
        ("form body", form_post(form(&[("access_token", &token)]))),
        (
            "form body, charset",
            request("POST", "/oauth2/userinfo")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=UTF-8")
                .body(Body::Text(form(&[("access_token", &token)])))
                .unwrap(),
        ),
    ] {
        let response = call(&world, req).await;
        assert_eq!(response.status(), 200, "{case}: {:?}", response.body());
        assert_eq!(json_of(&response)["sub"], "alice", "{case}");
    }

    // Refusals: status, error code and challenge.
    for (case, req, status, error) in [
        (
            "unknown token in the body",
            form_post(form(&[("access_token", "grant.secret")])),
            401,
            Some("invalid_token"),
        ),
        (
            "token in the query string",
            request("GET", &format!("/oauth2/userinfo?access_token={token}"))
                .body(Body::Empty)
                .unwrap(),
            400,
            Some("invalid_request"),
        ),
        (
            "header and body at once",
            request("POST", "/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::Text(form(&[("access_token", &token)])))
                .unwrap(),
            400,
            Some("invalid_request"),
        ),
        (
            "repeated in the body",
            form_post(format!("access_token={token}&access_token={token}")),
            400,
            Some("invalid_request"),
        ),
        (
            "no credentials, GET",
            request("GET", "/oauth2/userinfo").body(Body::Empty).unwrap(),
            401,
            None,
        ),
        ("no credentials, empty form", form_post(String::new()), 401, None),
        // RFC 6750 2.2 is a form body only: a JSON body carries no token.
        (
            "token in a JSON body",
            request("POST", "/oauth2/userinfo")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::Text(json!({"access_token": token}).to_string()))
                .unwrap(),
            401,
            None,
        ),
    ] {
        let response = call(&world, req).await;
        let body = json_of(&response);
        assert_eq!(
            (response.status().as_u16(), body["error"].as_str()),
            (status, error),
            "{case}: {body}"
        );
        assert!(body.get("sub").is_none(), "{case}");
        let challenge = challenge(&response);
        assert!(
            challenge.starts_with("Bearer realm=\"whoscalling\""),
            "{case}: {challenge}"
        );
        match error {
            Some(error) => assert!(challenge.contains(&format!("error=\"{error}\"")), "{case}: {challenge}"),
            // RFC 6750 3.1: no error code when the request had no authentication at all.
            None => assert!(!challenge.contains("error"), "{case}: {challenge}"),
        }
    }
    logs.assert_free_of(&[&token, CLIENT_SECRET, SESSION_KEY]);
}

#[tokio::test]
async fn every_invalid_client_answer_carries_a_basic_challenge() {
    let world = world();
    let post = |authorization: Option<String>, pairs: Vec<(&'static str, String)>| {
        let mut builder =
            request("POST", "/oauth2/token").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        builder.body(Body::Text(form(&pairs))).unwrap()
    };
    let code = code(&world, REDIRECT, "openid").await.unwrap();
    let grant = |extra: &[(&'static str, &str)]| {
        let mut pairs = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_string()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        pairs
    };
    for (case, req) in [
        ("Basic, wrong secret", post(Some(basic("wrong")), grant(&[]))),
        ("Basic, not Basic", post(Some("Basic !!!".into()), grant(&[]))),
        (
            "client_secret_post, wrong secret",
            post(None, grant(&[("client_id", "puzzel"), ("client_secret", "wrong")])),
        ),
        (
            "client_secret_post, unknown client",
            post(None, grant(&[("client_id", "nobody"), ("client_secret", "wrong")])),
        ),
        ("no client authentication", post(None, grant(&[]))),
        ("client_id alone", post(None, grant(&[("client_id", "puzzel")]))),
    ] {
        let response = call(&world, req).await;
        assert_eq!(
            (response.status().as_u16(), json_of(&response)["error"].as_str()),
            (401, Some("invalid_client")),
            "{case}"
        );
        assert_eq!(challenge(&response), "Basic realm=\"whoscalling\"", "{case}");
    }
    // The control: the right secret by client_secret_post redeems the same (unburnt) code.
    let response = call(
        &world,
        post(
            None,
            grant(&[("client_id", "puzzel"), ("client_secret", CLIENT_SECRET)]),
        ),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert!(challenge(&response).is_empty());
}

/// RFC 6749 3.1.2.3 / RFC 9700: simple string comparison, no normalisation, at both endpoints.
#[tokio::test]
async fn redirect_uris_are_compared_as_strings_at_authorize_and_token() {
    let world = world();
    let spellings = [
        "HTTPS://chat.puzzel.example/v1/auth/redirect",
        "https://CHAT.puzzel.example/v1/auth/redirect",
        "https://chat.puzzel.example:443/v1/auth/redirect",
        "https://chat.puzzel.example:0443/v1/auth/redirect",
        "https://chat.puzzel.example/v1/x/../auth/redirect",
        "https://chat.puzzel.example/v1/./auth/redirect",
        "https://chat.puzzel.example/v1/auth/%72edirect",
        "https://chat.puzzel.example/v1/auth/redirect/",
        "https://chat.puzzel.example/v1/auth/redirect?",
        "https://chat.puzzel.example/v1/auth/redirect#",
    ];
    for spelling in spellings {
        // Never trusted, so never a redirect: the 400 page.
        assert_eq!(
            code(&world, spelling, "openid").await,
            Err("400 Bad Request".to_string()),
            "{spelling}"
        );
    }
    for spelling in spellings {
        let code = code(&world, REDIRECT, "openid").await.unwrap();
        let response = exchange(&world, &code, spelling).await;
        assert_eq!(
            (response.status().as_u16(), json_of(&response)["error"].as_str()),
            (400, Some("invalid_grant")),
            "{spelling}"
        );
        // The control: the exact string redeems the same code.
        assert_eq!(
            exchange(&world, &code, REDIRECT).await.status(),
            200,
            "{spelling}: control"
        );
    }
}

/// OIDC Core 5.4 through the handler: `scope=openid` releases `sub` and what the client's
/// `claims_without_scope` lists (the masked national id), no profile or email claims; unknown and
/// unregistered scope values are ignored, and `scope` in the token response says what was granted.
#[tokio::test]
async fn claims_follow_the_granted_scopes_through_the_handler() {
    let world = world();
    for (scope, granted, present, absent) in [
        ("openid", "openid", vec!["sub", "nin"], vec!["name", "email"]),
        (
            "openid offline_access address",
            "openid",
            vec!["sub", "nin"],
            vec!["name", "email"],
        ),
        (
            "openid profile",
            "openid profile",
            vec!["sub", "nin", "name"],
            vec!["email"],
        ),
        (
            "openid email phone",
            "email openid",
            vec!["sub", "nin", "email"],
            vec!["name"],
        ),
    ] {
        let code = code(&world, REDIRECT, scope).await.unwrap();
        let body = json_of(&exchange(&world, &code, REDIRECT).await);
        assert_eq!(body["scope"], granted, "{scope}");
        let part = body["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_string();
        let id_token: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
        let userinfo = json_of(
            &call(
                &world,
                request("GET", "/oauth2/userinfo")
                    .header(
                        header::AUTHORIZATION,
                        format!("Bearer {}", body["access_token"].as_str().unwrap()),
                    )
                    .body(Body::Empty)
                    .unwrap(),
            )
            .await,
        );
        for claims in [&id_token, &userinfo] {
            for claim in &present {
                assert!(claims.get(claim).is_some(), "{scope}: {claim} in {claims}");
            }
            for claim in &absent {
                assert!(claims.get(claim).is_none(), "{scope}: {claim} in {claims}");
            }
            assert_eq!(claims["nin"], "011299*****", "masked");
        }
    }
    // Without openid there is no OpenID request: invalid_scope to the (trusted) redirect URI.
    let refused = code(&world, REDIRECT, "profile email").await.unwrap_err();
    assert!(refused.contains("invalid_scope"), "{refused}");
}
