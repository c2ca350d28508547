//! The real `exchange-code` handler when a visitor reaches `/oauth2/authorize` with no login
//! (Puzzel's redirect flow): it starts the configured upstream login and resumes the same
//! request afterwards. Time comes from an injected clock, so expiry (of the waiting request and
//! of codes with a long lifetime) is tested without sleeping; the login itself is stood in for
//! by a sealed session cookie (the real login runs against oidc-provider in upstream_login.rs).

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
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn document() -> Value {
    json!({
        "allowed_origins": ["https://www.example.com"],
        "identity": {"sources": ["session"]},
        "session": {"key_secret": "whoscalling/session-key", "lifetime_seconds": 900},
        "signing_keys": {"secret": "whoscalling/signing-keys"},
        "profiles": {"openid-claims": {"platform": "openid-connect", "subject": {"claim": "sub", "if_missing": "refuse"},
            "claims": {"name": {"claim": "name"}, "nin": {"claim": "nin", "mask": "national_id"}}}},
        "provider": {"issuer": ISSUER, "login_with": "bankid", "code_lifetime_seconds": 600, "clients": {"puzzel": {
            "secret": "whoscalling/clients/puzzel", "redirect_uris": [REDIRECT], "scopes": ["openid", "profile"],
            "profile": "openid-claims"}}}
    })
}

struct World {
    deps: exchange_code::Deps,
    secrets: Arc<InMemorySecretStore>,
    clock: Arc<FixedClock>,
}

fn world_with(document: &Value, secrets: Arc<InMemorySecretStore>, clock: Arc<FixedClock>) -> World {
    let config = ServiceConfig::from_json("test", &document.to_string()).expect("config");
    let identity = IdentityVerifier::with_jwks_source(&config, None, clock.clone()).expect("identity");
    let deps = exchange_code::Deps::new(
        &config,
        identity,
        Arc::new(MemoryGrantStore::new()),
        secrets.clone(),
        clock.clone(),
    )
    .expect("deps");
    World { deps, secrets, clock }
}

fn world_of(document: &Value) -> World {
    let secrets = Arc::new(InMemorySecretStore::with("whoscalling/session-key", SESSION_KEY));
    secrets.put("whoscalling/clients/puzzel", CLIENT_SECRET);
    let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256], NOW - 60).unwrap();
    secrets.put("whoscalling/signing-keys", keys.to_secret_string().expose());
    world_with(document, secrets, Arc::new(FixedClock::at(NOW)))
}

fn world() -> World {
    world_of(&document())
}

fn authorize_query(extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("response_type", "code"),
        ("client_id", "puzzel"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", "puzzel-state-1"),
        ("nonce", "puzzel-nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    query.extend_pairs(extra.iter().copied());
    query.finish()
}

fn get(path_and_query: &str, cookies: &str) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("{ISSUER}{path_and_query}"));
    if !cookies.is_empty() {
        builder = builder.header(header::COOKIE, cookies);
    }
    builder.body(Body::Empty).unwrap()
}

async fn call(world: &World, request: Request) -> Response<Body> {
    exchange_code::function_handler(&world.deps, request).await.unwrap()
}

fn location(response: &Response<Body>) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn query_of(location: &str) -> BTreeMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The `name=value` of the pending-request cookie the response sets.
fn pending_cookie(response: &Response<Body>) -> String {
    let cookie = set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with("whoscalling_authorize="))
        .expect("pending cookie");
    cookie.split(';').next().unwrap().to_string()
}

/// A session cookie as the visitor login would set it after logging alice in.
async fn session_cookie(world: &World) -> String {
    session_cookie_at(world, NOW).await
}

/// The same, for a login that completed at `now` (the session's iat: its `auth_time`).
async fn session_cookie_at(world: &World, now: u64) -> String {
    let keys = SessionKeys::new(
        world.secrets.clone(),
        SecretName::try_from("whoscalling/session-key".to_string()).unwrap(),
    );
    let payload = SessionPayload {
        provider: "bankid".into(),
        claims: json!({"sub": "alice", "name": "Alice Nordmann", "nin": "011299*****"})
            .as_object()
            .cloned()
            .unwrap(),
        iat: now,
        exp: now + 3600,
    };
    format!(
        "whoscalling_session={}",
        keys.seal_json(Purpose::Session, &payload).await.unwrap()
    )
}

fn page_code(response: &Response<Body>) -> String {
    let Body::Text(html) = response.body() else {
        panic!("a page expected")
    };
    let start = html.find("<code>").expect("an error code") + "<code>".len();
    html[start..start + html[start..].find("</code>").unwrap()].to_string()
}

/// The clearing `Set-Cookie` every resumed answer carries.
fn clears_pending(response: &Response<Body>) -> bool {
    set_cookies(response)
        .iter()
        .any(|c| c.starts_with("whoscalling_authorize=;") && c.contains("Max-Age=0"))
}

async fn token(world: &World, code: &str, verifier: &str) -> Response<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .finish();
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("{ISSUER}/oauth2/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("puzzel:{CLIENT_SECRET}"))),
        )
        .body(Body::Text(body))
        .unwrap();
    call(world, request).await
}

fn json_of(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        _ => Value::Null,
    }
}

fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// From nothing to a code: the login starts, and on return the same request resumes (state,
/// nonce, PKCE challenge, scope and redirect URI as first sent).
async fn login_and_resume(world: &World) -> Response<Body> {
    let start = call(world, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await;
    assert_eq!(start.status(), 302);
    assert_eq!(
        location(&start),
        "https://id.example.com/login/bankid?return_to=https%3A%2F%2Fid.example.com%2Foauth2%2Fauthorize"
    );
    let pending = pending_cookie(&start);
    let session = session_cookie(world).await;
    call(world, get("/oauth2/authorize", &format!("{session}; {pending}"))).await
}

#[tokio::test]
async fn a_visitor_without_a_login_is_logged_in_and_the_request_resumes_with_everything_it_carried() {
    let logs = whoscalling_tests::CapturedLogs::install();
    let world = world();
    let start = call(&world, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await;
    assert_eq!(start.status(), 302);
    let cookie = set_cookies(&start)
        .into_iter()
        .find(|c| c.starts_with("whoscalling_authorize="))
        .unwrap();
    assert!(
        cookie.ends_with("; Path=/oauth2/authorize; Max-Age=600; HttpOnly; Secure; SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("puzzel") && !cookie.contains("state"),
        "the request is sealed, not readable"
    );

    let resumed = login_and_resume(&world).await;
    assert_eq!(resumed.status(), 302);
    assert!(clears_pending(&resumed), "a request resumes once");
    let to = location(&resumed);
    assert!(to.starts_with(&format!("{REDIRECT}?code=")), "{to}");
    let query = query_of(&to);
    assert_eq!(
        (query["state"].as_str(), query["iss"].as_str()),
        ("puzzel-state-1", ISSUER)
    );

    // The PKCE challenge was kept: only the matching verifier redeems the code.
    let wrong = token(&world, &query["code"], "wrong-verifier-wrong-verifier-wrong-verifier-0").await;
    assert_eq!(
        (wrong.status().as_u16(), json_of(&wrong)["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let redeemed = token(&world, &query["code"], VERIFIER).await;
    assert_eq!(redeemed.status(), 200, "{:?}", redeemed.body());
    let body = json_of(&redeemed);
    assert_eq!(body["scope"], "openid profile");
    let claims = payload(body["id_token"].as_str().unwrap());
    assert_eq!(
        (claims["aud"].as_str(), claims["sub"].as_str(), claims["nonce"].as_str()),
        (Some("puzzel"), Some("alice"), Some("puzzel-nonce-1"))
    );
    logs.assert_free_of(&[
        &query["code"],
        body["id_token"].as_str().unwrap(),
        body["access_token"].as_str().unwrap(),
        CLIENT_SECRET,
        SESSION_KEY,
    ]);
}

#[tokio::test]
async fn prompt_none_and_resumed_requests_never_start_a_login() {
    let world = world();
    let none = call(
        &world,
        get(
            &format!("/oauth2/authorize?{}", authorize_query(&[("prompt", "none")])),
            "",
        ),
    )
    .await;
    assert_eq!(none.status(), 302);
    assert_eq!(
        query_of(&location(&none)).get("error").map(String::as_str),
        Some("login_required")
    );
    assert!(set_cookies(&none).is_empty(), "no login started");

    // The login came back without a session (it failed, or the cookie was blocked): the client
    // hears login_required instead of the visitor going round again.
    let start = call(&world, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await;
    let resumed = call(&world, get("/oauth2/authorize", &pending_cookie(&start))).await;
    assert_eq!(resumed.status(), 302);
    let query = query_of(&location(&resumed));
    assert_eq!(
        (
            query.get("error").map(String::as_str),
            query.get("state").map(String::as_str)
        ),
        (Some("login_required"), Some("puzzel-state-1"))
    );
    assert!(clears_pending(&resumed));

    // The control: with a session the same request gets its code at once, without a login.
    let session = session_cookie(&world).await;
    let direct = call(
        &world,
        get(&format!("/oauth2/authorize?{}", authorize_query(&[])), &session),
    )
    .await;
    assert!(
        location(&direct).starts_with(&format!("{REDIRECT}?code=")),
        "{}",
        location(&direct)
    );
    assert!(set_cookies(&direct).is_empty());
}

#[tokio::test]
async fn a_missing_altered_foreign_or_expired_request_is_refused_on_a_page() {
    let world = world();
    let session = session_cookie(&world).await;
    let start = call(&world, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await;
    let pending = pending_cookie(&start);
    let (name, value) = pending.split_once('=').unwrap();
    let mut altered = value.to_string();
    let flipped = if altered.ends_with('A') { "B" } else { "A" };
    altered.replace_range(altered.len() - 1.., flipped);

    // Another deployment (another session key) sealed this one: a foreign browser's cookie.
    let other_secrets = Arc::new(InMemorySecretStore::with("whoscalling/session-key", &"x".repeat(48)));
    other_secrets.put("whoscalling/clients/puzzel", CLIENT_SECRET);
    let keys = KeySetDocument::generate(&[SigningAlgorithm::RS256], NOW - 60).unwrap();
    other_secrets.put("whoscalling/signing-keys", keys.to_secret_string().expose());
    let other = world_with(&document(), other_secrets, world.clock.clone());
    let foreign = pending_cookie(&call(&other, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await);

    let cases = [
        ("another browser: no waiting request", session.clone()),
        ("altered", format!("{session}; {name}={altered}")),
        ("sealed elsewhere", format!("{session}; {foreign}")),
        (
            "a session cookie in its place",
            format!(
                "{session}; whoscalling_authorize={}",
                session.split_once('=').unwrap().1
            ),
        ),
        ("sent twice", format!("{session}; {pending}; {pending}")),
        ("empty", format!("{session}; whoscalling_authorize=")),
    ];
    for (case, cookies) in cases {
        let response = call(&world, get("/oauth2/authorize", &cookies)).await;
        assert_eq!(
            (response.status().as_u16(), page_code(&response).as_str()),
            (400, "invalid_request"),
            "{case}"
        );
        assert!(location(&response).is_empty(), "{case}: never a redirect");
        assert!(clears_pending(&response), "{case}");
    }

    // The control passes within the ten minutes, and the same cookie is refused once expired.
    world.clock.advance(599);
    let control = call(&world, get("/oauth2/authorize", &format!("{session}; {pending}"))).await;
    assert!(
        location(&control).starts_with(&format!("{REDIRECT}?code=")),
        "control: {}",
        location(&control)
    );
    world.clock.advance(1);
    let expired = call(&world, get("/oauth2/authorize", &format!("{session}; {pending}"))).await;
    assert_eq!(
        (expired.status().as_u16(), page_code(&expired).as_str()),
        (400, "invalid_request"),
        "expired"
    );
}

#[tokio::test]
async fn a_resumed_request_is_checked_again_against_the_current_configuration() {
    let world = world();
    let start = call(&world, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await;
    let pending = pending_cookie(&start);
    let session = session_cookie(&world).await;
    let cookies = format!("{session}; {pending}");

    // Redeployed meanwhile: the redirect URI is no longer registered, or the client is gone.
    let mut moved = document();
    moved["provider"]["clients"]["puzzel"]["redirect_uris"] = json!(["https://chat.puzzel.example/v2/auth/redirect"]);
    let mut renamed = document();
    let client = renamed["provider"]["clients"]["puzzel"].take();
    renamed["provider"]["clients"] = json!({"puzzel-new": client});
    for (case, document) in [("redirect URI unregistered", moved), ("client removed", renamed)] {
        let later = world_with(&document, world.secrets.clone(), world.clock.clone());
        let response = call(&later, get("/oauth2/authorize", &cookies)).await;
        assert_eq!(
            (response.status().as_u16(), page_code(&response).as_str()),
            (400, "invalid_request"),
            "{case}"
        );
        assert!(
            location(&response).is_empty(),
            "{case}: never a redirect to an untrusted target"
        );
    }
    // A scope no longer allowed is not granted (OIDC Core 3.1.2.1: ignored), the rest is.
    let mut narrowed = document();
    narrowed["provider"]["clients"]["puzzel"]["scopes"] = json!(["openid"]);
    let later = world_with(&narrowed, world.secrets.clone(), world.clock.clone());
    let response = call(&later, get("/oauth2/authorize", &cookies)).await;
    let code = query_of(&location(&response))
        .get("code")
        .cloned()
        .expect("a code for the narrower scope");
    let redeemed = token(&later, &code, VERIFIER).await;
    assert_eq!(
        json_of(&redeemed)["scope"],
        "openid",
        "only what is still allowed is granted"
    );
    // The control: the unchanged configuration resumes it.
    let response = call(&world, get("/oauth2/authorize", &cookies)).await;
    assert!(location(&response).starts_with(&format!("{REDIRECT}?code=")));
}

#[tokio::test]
async fn without_an_upstream_login_a_visitor_without_one_is_login_required_as_before() {
    let mut document = document();
    document["provider"].as_object_mut().unwrap().remove("login_with");
    let world = world_of(&document);
    let response = call(&world, get(&format!("/oauth2/authorize?{}", authorize_query(&[])), "")).await;
    assert_eq!(response.status(), 302);
    let query = query_of(&location(&response));
    assert_eq!(
        (
            query.get("error").map(String::as_str),
            query.get("state").map(String::as_str)
        ),
        (Some("login_required"), Some("puzzel-state-1"))
    );
    assert!(set_cookies(&response).is_empty());
    // And the login's return address is no resume: it is an ordinary request without a client.
    let bare = call(&world, get("/oauth2/authorize", &session_cookie(&world).await)).await;
    assert_eq!(
        (bare.status().as_u16(), page_code(&bare).as_str()),
        (400, "invalid_request")
    );
}

/// Puzzel redeems the code when the visitor enters a secure queue, possibly minutes later: with
/// `code_lifetime_seconds: 600` a code still works after 300 s, and not once its lifetime is over.
#[tokio::test]
async fn a_long_code_lifetime_lets_a_code_wait_minutes_and_no_longer() {
    let world = world();
    let resumed = login_and_resume(&world).await;
    let code = query_of(&location(&resumed))["code"].clone();
    world.clock.advance(300);
    let late = token(&world, &code, VERIFIER).await;
    assert_eq!(late.status(), 200, "redeemed after 300 s: {:?}", late.body());

    let resumed = login_and_resume(&world).await;
    let code = query_of(&location(&resumed))["code"].clone();
    world.clock.advance(600);
    let expired = token(&world, &code, VERIFIER).await;
    assert_eq!(
        (expired.status().as_u16(), json_of(&expired)["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // The default stays 60 s.
    let mut short = document();
    short["provider"]
        .as_object_mut()
        .unwrap()
        .remove("code_lifetime_seconds");
    let world = world_of(&short);
    let resumed = login_and_resume(&world).await;
    let code = query_of(&location(&resumed))["code"].clone();
    world.clock.advance(60);
    let expired = token(&world, &code, VERIFIER).await;
    assert_eq!(
        (expired.status().as_u16(), json_of(&expired)["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

/// `POST /oauth2/code` is the page script's fetch: the ambient session cookie counts there only
/// with an allowed `Origin` (browsers send one on every POST). The authorization endpoint is a
/// top-level navigation, which carries no `Origin` on GET, and keeps accepting the cookie.
#[tokio::test]
async fn the_page_code_endpoint_takes_the_session_cookie_only_with_an_origin() {
    let world = world();
    let session = session_cookie(&world).await;
    let post = |origin: Option<&str>| {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/oauth2/code"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, session.as_str());
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder
            .body(Body::Text(json!({"client_id": "puzzel"}).to_string()))
            .unwrap()
    };
    let allowed = call(&world, post(Some("https://www.example.com"))).await;
    assert_eq!(allowed.status(), 200, "control: {:?}", allowed.body());
    assert!(
        json_of(&allowed)["ssoKey"]
            .as_str()
            .is_some_and(|code| !code.is_empty())
    );

    let without = call(&world, post(None)).await;
    let body = json_of(&without);
    assert_eq!(
        (without.status().as_u16(), body["error"].as_str()),
        (403, Some("origin_required")),
        "{body}"
    );
    assert!(body.get("ssoKey").is_none() && body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    let foreign = call(&world, post(Some("https://evil.example"))).await;
    assert_eq!(
        (foreign.status().as_u16(), json_of(&foreign)["error"].as_str()),
        (403, Some("origin_not_allowed"))
    );

    // The authorization endpoint, no Origin, same cookie: a code, as before.
    let authorized = call(
        &world,
        get(&format!("/oauth2/authorize?{}", authorize_query(&[])), &session),
    )
    .await;
    assert_eq!(authorized.status(), 302);
    assert!(
        location(&authorized).starts_with(&format!("{REDIRECT}?code=")),
        "{}",
        location(&authorized)
    );
}

fn post_form(body: &str, cookies: &str, content_type: &str) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("{ISSUER}/oauth2/authorize"))
        .header(header::CONTENT_TYPE, content_type);
    if !cookies.is_empty() {
        builder = builder.header(header::COOKIE, cookies);
    }
    builder.body(Body::Text(body.to_string())).unwrap()
}

/// OIDC Core 3.1.2.1: the authorization endpoint takes POST (a form body) as well as GET. A
/// cross-site form POST from the vendor's page arrives without the `SameSite=Lax` session cookie
/// (browsers send Lax cookies only on top-level GETs across sites): it goes through the login and
/// resumes as a top-level GET, with everything it carried.
#[tokio::test]
async fn the_authorization_endpoint_takes_a_form_post() {
    let world = world();
    let session = session_cookie(&world).await;
    let form = "application/x-www-form-urlencoded";
    // The control: same-site (cookie sent), straight to a code.
    let direct = call(&world, post_form(&authorize_query(&[]), &session, form)).await;
    assert_eq!(direct.status(), 302);
    let query = query_of(&location(&direct));
    assert_eq!(
        (query.contains_key("code"), query["state"].as_str()),
        (true, "puzzel-state-1"),
        "{query:?}"
    );
    assert_eq!(token(&world, &query["code"], VERIFIER).await.status(), 200);

    // Cross-site: no session cookie. The login starts; the pending request holds the POST's form.
    let start = call(&world, post_form(&authorize_query(&[]), "", form)).await;
    assert_eq!(start.status(), 302);
    assert!(
        location(&start).starts_with("https://id.example.com/login/bankid?"),
        "{}",
        location(&start)
    );
    let pending = pending_cookie(&start);
    let resumed = call(&world, get("/oauth2/authorize", &format!("{session}; {pending}"))).await;
    let query = query_of(&location(&resumed));
    assert_eq!(query["state"], "puzzel-state-1", "{query:?}");
    let redeemed = token(&world, &query["code"], VERIFIER).await;
    assert_eq!(redeemed.status(), 200, "the PKCE challenge of the POST was kept");
    assert_eq!(
        payload(json_of(&redeemed)["id_token"].as_str().unwrap())["nonce"],
        "puzzel-nonce-1"
    );

    // Refusals, each a page with its code (the client is not trusted yet or the body unusable).
    for (case, request) in [
        (
            "JSON body",
            post_form(
                &json!({"client_id": "puzzel"}).to_string(),
                &session,
                "application/json",
            ),
        ),
        (
            "no content type",
            lambda_http::http::Request::builder()
                .method("POST")
                .uri(format!("{ISSUER}/oauth2/authorize"))
                .body(Body::Text(authorize_query(&[])))
                .unwrap(),
        ),
        ("query and body", {
            let mut r = post_form(&authorize_query(&[]), &session, form);
            *r.uri_mut() = format!("{ISSUER}/oauth2/authorize?client_id=puzzel").parse().unwrap();
            r
        }),
        ("empty body", post_form("", &session, form)),
        (
            "repeated parameter",
            post_form(&format!("{}&client_id=puzzel", authorize_query(&[])), &session, form),
        ),
    ] {
        let response = call(&world, request).await;
        assert_eq!(
            (response.status().as_u16(), page_code(&response).as_str()),
            (400, "invalid_request"),
            "{case}"
        );
        assert!(location(&response).is_empty(), "{case}: never a redirect");
    }
    // Other methods: 405 naming both.
    let put = lambda_http::http::Request::builder()
        .method("PUT")
        .uri(format!("{ISSUER}/oauth2/authorize"))
        .body(Body::Empty)
        .unwrap();
    let response = call(&world, put).await;
    assert_eq!(
        (response.status().as_u16(), json_of(&response)["error"].as_str()),
        (405, Some("invalid_request"))
    );
    assert_eq!(response.headers()[header::ALLOW], "GET, POST");
}

/// OIDC Core 3.1.2.1 `prompt=login` and `max_age` with a login configured: the visitor goes
/// through the login again and the request resumes; the fresh login's time is the id_token's
/// `auth_time`, and a resumed request whose login is still old is login_required (never a loop).
#[tokio::test]
async fn prompt_login_and_an_exceeded_max_age_send_the_visitor_through_the_login_again() {
    let world = world();
    let old = session_cookie_at(&world, NOW - 600).await;
    for extra in [
        vec![("prompt", "login")],
        vec![("max_age", "300")],
        vec![("prompt", "select_account")],
    ] {
        let start = call(
            &world,
            get(&format!("/oauth2/authorize?{}", authorize_query(&extra)), &old),
        )
        .await;
        assert_eq!(start.status(), 302);
        assert!(
            location(&start).starts_with("https://id.example.com/login/bankid?"),
            "{extra:?}: {}",
            location(&start)
        );
        let pending = pending_cookie(&start);
        // The login took a moment; the new session is the fresh login (at NOW + 20, after the
        // clock's first advance; later rounds start later, and a login at NOW + 20 is still
        // within the leeway of having been sent to it).
        if extra == vec![("prompt", "login")] {
            world.clock.advance(20);
        }
        let fresh = session_cookie_at(&world, NOW + 20).await;
        let resumed = call(&world, get("/oauth2/authorize", &format!("{fresh}; {pending}"))).await;
        let query = query_of(&location(&resumed));
        assert!(query.contains_key("code"), "{extra:?}: {query:?}");
        let body = json_of(&token(&world, &query["code"], VERIFIER).await);
        assert_eq!(
            payload(body["id_token"].as_str().unwrap())["auth_time"],
            NOW + 20,
            "{extra:?}: the fresh login's time"
        );
        // The login came back with the old session (the upstream did not log in again): refused, no second login.
        let resumed = call(&world, get("/oauth2/authorize", &format!("{old}; {pending}"))).await;
        let expected = if extra[0].1 == "select_account" {
            "account_selection_required"
        } else {
            "login_required"
        };
        assert_eq!(
            query_of(&location(&resumed)).get("error").map(String::as_str),
            Some(expected),
            "{extra:?}"
        );
        assert!(
            !set_cookies(&resumed)
                .iter()
                .any(|c| c.starts_with("whoscalling_authorize=") && !c.contains("Max-Age=0")),
            "{extra:?}: no loop"
        );
    }
    // Controls: a login within max_age gets a code at once, with its auth_time.
    let start = call(
        &world,
        get(
            &format!("/oauth2/authorize?{}", authorize_query(&[("max_age", "3600")])),
            &old,
        ),
    )
    .await;
    let query = query_of(&location(&start));
    let body = json_of(&token(&world, &query["code"], VERIFIER).await);
    assert_eq!(payload(body["id_token"].as_str().unwrap())["auth_time"], NOW - 600);
    // prompt=consent cannot be satisfied: consent_required; prompt=none with another value: invalid_request.
    for (prompt, error) in [("consent", "consent_required"), ("none login", "invalid_request")] {
        let response = call(
            &world,
            get(
                &format!("/oauth2/authorize?{}", authorize_query(&[("prompt", prompt)])),
                &old,
            ),
        )
        .await;
        assert_eq!(
            query_of(&location(&response)).get("error").map(String::as_str),
            Some(error),
            "{prompt}"
        );
    }
}

/// Without an upstream login, a fresh login cannot be had: the errors OIDC Core 3.1.2.6 names.
#[tokio::test]
async fn without_an_upstream_login_prompt_and_max_age_get_their_errors() {
    let mut document = document();
    document["provider"].as_object_mut().unwrap().remove("login_with");
    let world = world_of(&document);
    let session = session_cookie_at(&world, NOW - 600).await;
    for (extra, error) in [
        (vec![("prompt", "login")], "login_required"),
        (vec![("prompt", "select_account")], "account_selection_required"),
        (vec![("prompt", "consent")], "consent_required"),
        (vec![("max_age", "599")], "login_required"),
        (vec![("prompt", "none"), ("max_age", "60")], "login_required"),
    ] {
        let response = call(
            &world,
            get(&format!("/oauth2/authorize?{}", authorize_query(&extra)), &session),
        )
        .await;
        assert_eq!(response.status(), 302, "{extra:?}");
        let query = query_of(&location(&response));
        assert_eq!(
            (
                query.get("error").map(String::as_str),
                query.get("state").map(String::as_str)
            ),
            (Some(error), Some("puzzel-state-1")),
            "{extra:?}"
        );
        assert!(
            !query.contains_key("code") && set_cookies(&response).is_empty(),
            "{extra:?}"
        );
    }
    // Controls: within max_age, and prompt=none alone, get a code.
    for extra in [vec![("max_age", "600")], vec![("prompt", "none")]] {
        let response = call(
            &world,
            get(&format!("/oauth2/authorize?{}", authorize_query(&extra)), &session),
        )
        .await;
        assert!(query_of(&location(&response)).contains_key("code"), "{extra:?}");
    }
}
