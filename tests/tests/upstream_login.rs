//! Visitor login through an upstream OpenID provider, against real peers: npm `oidc-provider`
//! configured like a BankID broker (client_secret_basic, PKCE required, only `sub` in the ID
//! token, the person and `nin`, `nin_type`, `nin_issuing_country` from userinfo), and a hostile
//! provider (`tests/peers/hostile-op.mjs`) for everything a certified provider will not do. A
//! cookie-keeping HTTP client plays the browser; jwcrypto checks the tokens minted from the session.
//! Puzzel's redirect flow from nothing (our authorize -> this login -> back to our authorize ->
//! Puzzel's redirect URI with a code) is played by npm `openid-client` (`tests/peers/oidc-rp.mjs`,
//! step `browser`).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use whoscalling::mapping::DEFAULT_MASKED_CLAIMS;
use whoscalling_local::{LocalServer, Options, serve};
use whoscalling_tests::{CapturedLogs, Peer, log_in_at_provider, node, random_token, verify_independently, workspace_root};

/// Runs tests/peers/oidc-rp.mjs (npm openid-client) with `input`; its one JSON line.
fn relying_party(input: &Value) -> Value {
    let output = Command::new(node()).arg(workspace_root().join("tests/peers/oidc-rp.mjs")).arg(input.to_string()).output().expect("openid-client peer");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("oidc-rp.mjs said: {} {}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

const ALICE_NIN: &str = "01129954321";
const ALICE_NIN_MASKED: &str = "011299*****";
const MALLORY_NIN: &str = "01020312345";
const LOGIN_CLIENT_SECRET: &str = "whoscalling-login-secret-0123456789";
const HOSTILE_SECRET: &str = "hostile-secret";
const PUZZEL_REDIRECT: &str = "https://chat.puzzel.example/v1/auth/redirect";
const PUZZEL_SECRET: &str = "puzzel-secret";

/// carol's ID token and her userinfo disagree on her first name and name (the peer's
/// `@id_token` values); the signed ID token must win wherever it carries the claim.
const CAROL_TOKEN_GIVEN_NAME: &str = "Carol";
const CAROL_USERINFO_GIVEN_NAME: &str = "Caroline";

/// One generated visitor per default national-id name: (account, claim, value, masked value).
/// Each value is distinct, so finding it anywhere means that name leaked.
fn national_id_visitors() -> Vec<(String, &'static str, String, String)> {
    DEFAULT_MASKED_CLAIMS
        .iter()
        .enumerate()
        .map(|(i, claim)| (format!("nid-{i}"), *claim, format!("{}0190{:05}", 11 + i, 43210 + 1111 * i), format!("{}0190*****", 11 + i)))
        .collect()
}

/// The Connect attribute that carries a national-id claim in the `connect-ids` profile.
fn id_attribute(claim: &str) -> String {
    format!("id_{}", claim.replace('.', "_"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct World {
    server: LocalServer,
    _bankid: Peer,
    hostile: Peer,
    state_dir: std::path::PathBuf,
}

impl World {
    fn base(&self) -> &str {
        &self.server.base_url
    }

    fn secrets(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&std::fs::read_to_string(self.state_dir.join("secrets.json")).unwrap()).unwrap()
    }
}

/// The world with the broker's default: only `sub` in the ID token, the person from userinfo.
async fn world() -> World {
    world_with(None).await
}

/// `id_token_claims`: the peer's `OIDC_ID_TOKEN_CLAIMS` (`Some("all")` puts the scope claims in
/// the ID token too, as Signicat does when "ID Token User data" is changed).
async fn world_with(id_token_claims: Option<&str>) -> World {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut accounts = json!({
        "carol": {"given_name": CAROL_USERINFO_GIVEN_NAME, "name": "Caroline Berg", "family_name": "Berg",
                  "@id_token": {"given_name": CAROL_TOKEN_GIVEN_NAME, "name": "Carol Berg"}}
    });
    for (account, claim, value, _) in national_id_visitors() {
        accounts[account] = json!({"given_name": "Nid", claim: value});
    }
    let mut bankid = Command::new(node());
    bankid
        .arg(workspace_root().join("tests/peers/oidc-provider.mjs"))
        .env(
            "OIDC_EXTRA_CLIENTS",
            json!([{"client_id": "whoscalling-login", "client_secret": LOGIN_CLIENT_SECRET,
                    "redirect_uris": [format!("{base}/callback/bankid")], "token_endpoint_auth_method": "client_secret_basic",
                    "grant_types": ["authorization_code"], "response_types": ["code"]}])
            .to_string(),
        )
        .env("OIDC_EXTRA_ACCOUNTS", accounts.to_string())
        // The other names national ids travel under, released with the `nin` scope.
        .env("OIDC_EXTRA_SCOPE_CLAIMS", json!({"nin": DEFAULT_MASKED_CLAIMS.iter().filter(|c| **c != "nin").collect::<Vec<_>>()}).to_string());
    if let Some(setting) = id_token_claims {
        bankid.env("OIDC_ID_TOKEN_CLAIMS", setting);
    }
    let bankid = Peer::spawn("oidc-provider", bankid);
    let mut hostile = Command::new(node());
    hostile.arg(workspace_root().join("tests/peers/hostile-op.mjs"));
    let hostile = Peer::spawn("hostile-op", hostile);

    let provider = |issuer: &str, name: &str, client_id: &str, secret: &str| {
        json!({"issuer": issuer, "client_id": client_id, "client_secret": secret, "auth_method": "client_secret_basic",
               "redirect_uri": format!("{base}/callback/{name}"), "scopes": ["openid", "profile", "email", "address", "nin"],
               "algorithms": ["RS256", "ES256"], "use_userinfo": true, "leeway_seconds": 30, "http_timeout_seconds": 2})
    };
    let id_attributes: serde_json::Map<String, Value> =
        DEFAULT_MASKED_CLAIMS.iter().map(|claim| (id_attribute(claim), json!({"claim": claim}))).collect();
    let mut provider_claims = json!({"name": {"claim": "name"}});
    for claim in DEFAULT_MASKED_CLAIMS {
        provider_claims[claim] = json!({"claim": claim});
    }
    let config = json!({
        "allowed_origins": [base],
        "identity": {"sources": ["session"]},
        "session": {"key_secret": "whoscalling/session-key", "secure_cookies": false, "lifetime_seconds": 900},
        "upstream": {"return_urls": [format!("{base}/"), format!("{base}/chat")], "providers": {
            "bankid": provider(&bankid.url, "bankid", "whoscalling-login", "whoscalling/upstream/bankid"),
            "hostile": provider(&hostile.url, "hostile", "whoscalling", "whoscalling/upstream/hostile")}},
        "signing_keys": {"secret": "whoscalling/signing-keys"},
        "profiles": {
            "connect": {"platform": "amazon-connect", "widget_id": "w-1", "security_key_secret": "whoscalling/connect-widget-key",
                "token_lifetime_seconds": 500, "customer_id": {"claim": "sub"},
                "attributes": {"firstName": {"claim": "given_name"}, "fullName": {"claim": "name"}, "birthdate": {"claim": "birthdate"},
                               "emailVerified": {"claim": "email_verified", "convert": "scalar"}, "address": {"claim": "address", "convert": "json"},
                               "nationalId": {"claim": "nin"},
                               "nationalIdType": {"claim": "nin_type"}, "nationalIdCountry": {"claim": "nin_issuing_country"}}},
            "connect-ids": {"platform": "amazon-connect", "widget_id": "w-ids", "security_key_secret": "whoscalling/connect-widget-key",
                "token_lifetime_seconds": 500, "customer_id": {"claim": "sub"}, "attributes": id_attributes},
            "liveperson": {"platform": "liveperson", "issuer": base, "token_lifetime_seconds": 600,
                "claims": {"given_name": {"claim": "given_name"}, "family_name": {"claim": "family_name"}},
                "customer_info": {"customerId": {"claim": "sub"}, "socialId": {"claim": "nin"}},
                "personal": {"firstname": {"claim": "given_name"}, "lastname": {"claim": "family_name"}, "age": {"claim": "birthdate"}}},
            "openid-claims": {"platform": "openid-connect", "claims": provider_claims}
        },
        "provider": {"issuer": base, "login_with": "bankid", "clients": {"puzzel": {"secret": "whoscalling/clients/puzzel",
            "redirect_uris": [PUZZEL_REDIRECT], "scopes": ["openid"], "profile": "openid-claims"}}}
    });
    let state_dir = std::env::temp_dir().join(format!("whoscalling-login-test-{}", random_token()));
    std::fs::create_dir_all(&state_dir).unwrap();
    let secrets = json!({
        "whoscalling/session-key": random_token(),
        "whoscalling/upstream/bankid": LOGIN_CLIENT_SECRET,
        "whoscalling/upstream/hostile": HOSTILE_SECRET,
        "whoscalling/clients/puzzel": PUZZEL_SECRET
    });
    std::fs::write(state_dir.join("secrets.json"), secrets.to_string()).unwrap();
    std::fs::write(state_dir.join("config.json"), config.to_string()).unwrap();
    let server = serve(Options { port, state_dir: state_dir.clone(), config_file: Some(state_dir.join("config.json")), stores: None })
        .await
        .expect("serve");
    World { server, _bankid: bankid, hostile, state_dir }
}

/// A browser's cookie jar, enough for loopback (cookies by name; `Max-Age=0` deletes).
#[derive(Default, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn take(&mut self, response: &reqwest::Response) {
        for set_cookie in response.headers().get_all("set-cookie") {
            let text = set_cookie.to_str().unwrap_or_default();
            let Some((name, value)) = text.split(';').next().and_then(|p| p.split_once('=')) else { continue };
            if text.contains("Max-Age=0") || value.is_empty() {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_string(), value.to_string());
            }
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// GET with the jar; returns the response (cookies taken).
async fn get(jar: &mut Jar, url: &str) -> reqwest::Response {
    let response = http().get(url).header("cookie", jar.header()).header("accept", "application/json").send().await.unwrap();
    jar.take(&response);
    response
}

fn location(response: &reqwest::Response, base: &str) -> String {
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(base).unwrap().join(location).unwrap().to_string()
}

/// Starts a login and follows the provider's redirects until it sends the browser back to our
/// callback; returns the callback URL (not yet visited).
async fn to_callback(world: &World, jar: &mut Jar, provider: &str) -> String {
    to_callback_as(world, jar, provider, None).await
}

/// As [`to_callback`], the visitor logging in as `account` at the provider (its `login_hint`,
/// added to the authorization request as a visitor's browser could).
async fn to_callback_as(world: &World, jar: &mut Jar, provider: &str, account: Option<&str>) -> String {
    let start = get(jar, &format!("{}/login/{provider}", world.base())).await;
    assert_eq!(start.status(), 302, "login start: {:?}", start.text().await);
    let mut next = location(&start, world.base());
    if let Some(account) = account {
        let mut url = url::Url::parse(&next).unwrap();
        url.query_pairs_mut().append_pair("login_hint", account);
        next = url.to_string();
    }
    let callback = format!("{}/callback/{provider}", world.base());
    for _ in 0..10 {
        if next.starts_with(&callback) {
            return next;
        }
        let response = get(jar, &next).await;
        assert!(response.status().is_redirection(), "provider stopped at {next} with {}", response.status());
        next = location(&response, &next);
    }
    panic!("no callback after 10 redirects");
}

/// The callback's answer: (status, error code or location).
async fn finish(world: &World, jar: &mut Jar, callback: &str) -> (u16, String) {
    let response = get(jar, callback).await;
    let status = response.status().as_u16();
    if status == 302 {
        (status, location(&response, world.base()))
    } else {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body["error"].as_str().unwrap_or_default().to_string())
    }
}

async fn mint(world: &World, jar: &Jar, profile: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}/token/{profile}", world.base()))
        .header("origin", world.base())
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers().get("access-control-allow-credentials").map(|v| v.to_str().unwrap()), Some("true"));
    (status, response.json().await.unwrap())
}

async fn defect(world: &World, name: Option<&str>) {
    let response = reqwest::Client::new().post(format!("{}/control", world.hostile.url)).json(&json!({"defect": name})).send().await.unwrap();
    assert_eq!(response.status(), 200, "defect {name:?}");
}

async fn hostile_counters(world: &World) -> Value {
    reqwest::get(format!("{}/control/requests", world.hostile.url)).await.unwrap().json().await.unwrap()
}

/// The claims of an ID token from the peer (its signature is the relying party's business).
fn id_token_claim_names(id_token: &str) -> Vec<String> {
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let mut names: Vec<String> = claims.as_object().unwrap().keys().cloned().collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bankid_login_gives_a_session_that_mints_masked_tokens() {
    let logs = CapturedLogs::install();
    let world = world().await;
    // The premise: like Signicat, the provider's ID token says who and nothing of the person.
    let id_token = log_in_at_provider(&world._bankid.url, "alice").await;
    let names = id_token_claim_names(&id_token);
    assert!(names.contains(&"sub".to_string()), "{names:?}");
    for person in ["name", "given_name", "family_name", "birthdate", "email", "email_verified", "address", "nin", "nin_type"] {
        assert!(!names.contains(&person.to_string()), "the ID token carries {person}: {names:?}");
    }

    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "bankid").await;
    let query: BTreeMap<_, _> = url::Url::parse(&callback).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query.get("iss"), Some(&world._bankid.url), "RFC 9207 iss from the provider");
    let (status, to) = finish(&world, &mut jar, &callback).await;
    assert_eq!((status, to.as_str()), (302, format!("{}/", world.base()).as_str()));
    assert!(jar.0.contains_key("whoscalling_session") && !jar.0.contains_key("whoscalling_login"));

    // Connect and LivePerson tokens from the session, checked by jwcrypto.
    let secrets = world.secrets();
    let (status, body) = mint(&world, &jar, "connect").await;
    assert_eq!(status, 200, "{body}");
    let verdict = verify_independently(&json!({"token": body["data"], "key": {"hmac_utf8": secrets["whoscalling/connect-widget-key"]},
        "rules": "amazon-connect", "expect": {"sub": "w-1", "customerId": "alice"}, "expect_absent": [ALICE_NIN]}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    // Every person claim came from userinfo (the ID token had only `sub`), each in its type.
    let mut attributes = verdict["claims"]["attributes"].clone();
    let address: Value = serde_json::from_str(attributes["address"].as_str().unwrap()).unwrap();
    assert_eq!(address, json!({"street_address": "Storgata 1", "locality": "Oslo", "postal_code": "0155", "country": "NO"}), "an object");
    attributes.as_object_mut().unwrap().remove("address");
    assert_eq!(attributes, json!({"firstName": "Alice", "fullName": "Alice Nordmann", "birthdate": "1985-04-12",
        "emailVerified": "true", "nationalId": ALICE_NIN_MASKED, "nationalIdType": "BIRTH", "nationalIdCountry": "NO"}));
    let (status, body) = mint(&world, &jar, "liveperson").await;
    assert_eq!(status, 200, "{body}");
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", world.base())).await.unwrap().json().await.unwrap();
    let verdict = verify_independently(&json!({"token": body["token"], "key": {"jwks": jwks}, "rules": "liveperson",
        "expect": {"sub": "alice"}, "expect_absent": [ALICE_NIN]}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["claims"]["lp_sdes"][0]["info"]["socialId"], ALICE_NIN_MASKED);
    assert_eq!((verdict["claims"]["given_name"].as_str(), verdict["claims"]["family_name"].as_str()), (Some("Alice"), Some("Nordmann")));
    let personal = &verdict["claims"]["lp_sdes"][1]["personal"];
    assert_eq!((personal["firstname"].as_str(), personal["lastname"].as_str()), (Some("Alice"), Some("Nordmann")), "{personal}");
    assert_eq!((&personal["age"]["year"], &personal["age"]["month"], &personal["age"]["day"]), (&json!(1985), &json!(4), &json!(12)));

    // The session is a verified identity for the OpenID provider too (Puzzel's redirect flow).
    let authorize = format!(
        "{}/oauth2/authorize?response_type=code&scope=openid&client_id=puzzel&state=s1&redirect_uri={}",
        world.base(),
        url::form_urlencoded::byte_serialize(b"https://chat.puzzel.example/v1/auth/redirect").collect::<String>()
    );
    let response = get(&mut jar, &authorize).await;
    assert_eq!(response.status(), 302);
    assert!(location(&response, world.base()).contains("code="), "a code for the logged-in visitor");

    // A tampered session cookie is refused; logout clears the session.
    let mut forged = jar.clone();
    let value = forged.0.get_mut("whoscalling_session").unwrap();
    let flipped = if value.ends_with('A') { "B" } else { "A" };
    value.replace_range(value.len() - 1.., flipped);
    assert_eq!(mint(&world, &forged, "connect").await.0, 401);
    let response = get(&mut jar, &format!("{}/logout", world.base())).await;
    assert_eq!(response.status(), 302);
    assert!(!jar.0.contains_key("whoscalling_session"));
    assert_eq!(mint(&world, &jar, "connect").await.0, 401);

    logs.assert_free_of(&[ALICE_NIN, "alice@example.com", &query["code"], &secrets["whoscalling/session-key"], LOGIN_CLIENT_SECRET]);
}

/// The first name and name a login as `account` yields, as a Connect token from its session shows them.
async fn connect_names_of(world: &World, account: &str) -> (String, String) {
    let mut jar = Jar::default();
    let callback = to_callback_as(world, &mut jar, "bankid", Some(account)).await;
    assert_eq!(finish(world, &mut jar, &callback).await.0, 302);
    let (status, body) = mint(world, &jar, "connect").await;
    assert_eq!(status, 200, "{body}");
    let verdict = verify_independently(&json!({"token": body["data"], "key": {"hmac_utf8": world.secrets()["whoscalling/connect-widget-key"]},
        "rules": "amazon-connect", "expect": {"sub": "w-1", "customerId": account}}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    let attributes = &verdict["claims"]["attributes"];
    (attributes["firstName"].as_str().unwrap().to_string(), attributes["fullName"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_id_token_and_userinfo_disagree_the_signed_id_token_wins() {
    // The control: with only `sub` in the ID token, carol's names are userinfo's.
    let world = world().await;
    assert_eq!(connect_names_of(&world, "carol").await, (CAROL_USERINFO_GIVEN_NAME.to_string(), "Caroline Berg".to_string()));
    drop(world);

    // The provider puts the person in the ID token too, with other values than userinfo's.
    let world = world_with(Some("all")).await;
    let id_token = log_in_at_provider(&world._bankid.url, "carol").await;
    assert!(id_token_claim_names(&id_token).contains(&"given_name".to_string()), "the premise: the ID token carries the name");
    assert_eq!(connect_names_of(&world, "carol").await, (CAROL_TOKEN_GIVEN_NAME.to_string(), "Carol Berg".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_national_id_name_leaves_only_masked() {
    let logs = CapturedLogs::install();
    let world = world().await;
    let secrets = world.secrets();
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", world.base())).await.unwrap().json().await.unwrap();
    let visitors = national_id_visitors();
    assert_eq!(visitors.len(), DEFAULT_MASKED_CLAIMS.len());
    for (account, claim, value, masked) in &visitors {
        let mut jar = Jar::default();
        let callback = to_callback_as(&world, &mut jar, "bankid", Some(account)).await;
        assert_eq!(finish(&world, &mut jar, &callback).await.0, 302, "{claim}");

        // A platform token (Connect) from the session.
        let (status, body) = mint(&world, &jar, "connect-ids").await;
        assert_eq!(status, 200, "{claim}: {body}");
        let verdict = verify_independently(&json!({"token": body["data"], "key": {"hmac_utf8": secrets["whoscalling/connect-widget-key"]},
            "rules": "amazon-connect", "expect": {"sub": "w-ids", "customerId": account}, "expect_absent": [value]}));
        assert_eq!(verdict["ok"], true, "{claim}: {verdict}");
        assert_eq!(verdict["claims"]["attributes"], json!({id_attribute(claim): masked}), "{claim}");

        // The OpenID provider's id_token and userinfo for a chat platform (Puzzel's client).
        let authorize = format!(
            "{}/oauth2/authorize?response_type=code&scope=openid&client_id=puzzel&state=s1&redirect_uri={}",
            world.base(),
            url::form_urlencoded::byte_serialize(b"https://chat.puzzel.example/v1/auth/redirect").collect::<String>()
        );
        let response = get(&mut jar, &authorize).await;
        assert_eq!(response.status(), 302, "{claim}");
        let redirect = url::Url::parse(&location(&response, world.base())).unwrap();
        let code = redirect.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.to_string()).expect("a code");
        let response = http()
            .post(format!("{}/oauth2/token", world.base()))
            .basic_auth("puzzel", Some("puzzel-secret"))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://chat.puzzel.example/v1/auth/redirect")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{claim}");
        let tokens: Value = response.json().await.unwrap();
        let verdict = verify_independently(&json!({"token": tokens["id_token"], "key": {"jwks": jwks}, "rules": "none",
            "expect": {"sub": account, "aud": "puzzel"}, "expect_absent": [value]}));
        assert_eq!(verdict["ok"], true, "{claim}: {verdict}");
        assert_eq!(verdict["claims"][claim], json!(masked), "{claim}: the provider's id_token");
        let userinfo = http()
            .get(format!("{}/oauth2/userinfo", world.base()))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 200, "{claim}");
        let text = userinfo.text().await.unwrap();
        assert!(!text.contains(value.as_str()), "{claim}: userinfo carries the full national id");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()[claim], json!(masked), "{claim}: userinfo");
    }
    let values: Vec<&str> = visitors.iter().map(|(_, _, value, _)| value.as_str()).collect();
    logs.assert_free_of(&values);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_problems_and_replays_are_refused() {
    let world = world().await;
    // No login-state cookie at all.
    let mut empty = Jar::default();
    let (status, error) = finish(&world, &mut empty, &format!("{}/callback/bankid?code=abc&state=xyz", world.base())).await;
    assert_eq!((status, error.as_str()), (400, "invalid_state"));

    // Another login's state: A's browser, B's callback.
    let mut a = Jar::default();
    let mut b = Jar::default();
    let _callback_a = to_callback(&world, &mut a, "bankid").await;
    let callback_b = to_callback(&world, &mut b, "bankid").await;
    let mut crossed = a.clone();
    let (status, error) = finish(&world, &mut crossed, &callback_b).await;
    assert_eq!((status, error.as_str()), (400, "invalid_state"));
    assert!(!crossed.0.contains_key("whoscalling_session"));

    // A completed callback replayed: from the same browser the state is gone; an attacker who
    // also copied the state cookie finds the state spent (before the provider is asked).
    let mut c = Jar::default();
    let callback_c = to_callback(&world, &mut c, "bankid").await;
    let copied = c.clone();
    assert_eq!(finish(&world, &mut c, &callback_c).await.0, 302);
    let mut again = c.clone();
    again.0.remove("whoscalling_session");
    assert_eq!(finish(&world, &mut again, &callback_c).await, (400, "invalid_state".to_string()));
    let mut attacker = copied;
    let (status, error) = finish(&world, &mut attacker, &callback_c).await;
    assert_eq!((status, error.as_str()), (400, "state_used"));
    assert!(!attacker.0.contains_key("whoscalling_session"));

    // return_to must be allowed.
    let response = get(&mut Jar::default(), &format!("{}/login/bankid?return_to=https%3A%2F%2Fevil.example%2F", world.base())).await;
    assert_eq!(response.status(), 400);
    let response = get(&mut Jar::default(), &format!("{}/login/nobody", world.base())).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_provider_gets_nothing_minted() {
    let logs = CapturedLogs::install();
    let mut world = world().await;
    // The control: the hostile provider's normal answer is accepted.
    defect(&world, None).await;
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    assert_eq!(finish(&world, &mut jar, &callback).await.0, 302, "the control must pass");
    assert_eq!(mint(&world, &jar, "connect").await.0, 200);

    // A key the provider starts publishing later: exactly one JWKS refetch, then accepted (first,
    // so the once-a-minute refetch allowance is unused).
    defect(&world, Some("unknown_kid_then_published")).await;
    let before = hostile_counters(&world).await["jwks"].as_u64().unwrap();
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    assert_eq!(finish(&world, &mut jar, &callback).await.0, 302);
    assert_eq!(hostile_counters(&world).await["jwks"].as_u64().unwrap(), before + 1, "one refetch");
    // An unknown key right after: no second refetch within the interval.
    defect(&world, Some("unknown_kid")).await;
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    assert_eq!(finish(&world, &mut jar, &callback).await.0, 401);
    assert_eq!(hostile_counters(&world).await["jwks"].as_u64().unwrap(), before + 1, "no refetch storm");

    let cases: [(&str, u16, &str); 19] = [
        ("wrong_nonce", 401, "invalid_id_token"),
        ("missing_nonce", 401, "invalid_id_token"),
        ("wrong_audience", 401, "invalid_id_token"),
        ("extra_untrusted_audience", 401, "invalid_id_token"),
        ("wrong_issuer", 401, "invalid_id_token"),
        ("expired", 401, "invalid_id_token"),
        ("issued_in_future", 401, "invalid_id_token"),
        ("tampered", 401, "invalid_id_token"),
        ("bad_at_hash", 401, "invalid_id_token"),
        ("alg_none", 401, "invalid_id_token"),
        ("hs256_with_public_key", 401, "invalid_id_token"),
        ("unknown_kid", 401, "invalid_id_token"),
        ("userinfo_sub_mismatch", 401, "userinfo_mismatch"),
        ("authorize_error", 400, "upstream_error"),
        ("iss_mismatch_in_redirect", 400, "invalid_callback"),
        ("token_error", 400, "code_rejected"),
        ("token_500", 502, "upstream_unavailable"),
        ("token_garbage", 502, "upstream_unavailable"),
        ("token_huge", 502, "upstream_unavailable"),
    ];
    for (name, status, code) in cases {
        defect(&world, Some(name)).await;
        let mut jar = Jar::default();
        let callback = to_callback(&world, &mut jar, "hostile").await;
        let got = finish(&world, &mut jar, &callback).await;
        assert_eq!(got, (status, code.to_string()), "{name}");
        assert!(!jar.0.contains_key("whoscalling_session"), "{name}: no session");
        assert_eq!(mint(&world, &jar, "connect").await.0, 401, "{name}: nothing minted");
    }

    // A provider that does not answer in time: 504 within the bounded time.
    defect(&world, Some("token_slow")).await;
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    let started = Instant::now();
    assert_eq!(finish(&world, &mut jar, &callback).await, (504, "upstream_timeout".to_string()));
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by the 2 s timeout (plus the connect)");

    // The provider down: the token endpoint is unreachable.
    defect(&world, None).await;
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    world.hostile.stop();
    let (status, code) = finish(&world, &mut jar, &callback).await;
    assert_eq!((status, code.as_str()), (502, "upstream_unavailable"));

    logs.assert_free_of(&[MALLORY_NIN, HOSTILE_SECRET]);
}

/// A provider that wrongly accepts a code twice (hostile-op's `code_reusable`) still gives one
/// session per login: the replayed callback, with the copied login-state cookie, is refused
/// before the provider's token endpoint is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_is_refused_even_where_the_provider_accepts_the_code_again() {
    let world = world().await;
    defect(&world, Some("code_reusable")).await;
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    let copied = jar.clone();
    assert_eq!(finish(&world, &mut jar, &callback).await.0, 302, "the control: the first callback logs in");
    assert_eq!(mint(&world, &jar, "connect").await.0, 200);
    let tokens = hostile_counters(&world).await["token"].as_u64().unwrap();

    for attempt in 0..3 {
        let mut replay = copied.clone();
        let (status, error) = finish(&world, &mut replay, &callback).await;
        assert_eq!((status, error.as_str()), (400, "state_used"), "replay {attempt}");
        assert!(!replay.0.contains_key("whoscalling_session"), "replay {attempt}: no session");
        assert_eq!(mint(&world, &replay, "connect").await.0, 401, "replay {attempt}: nothing minted");
    }
    assert_eq!(hostile_counters(&world).await["token"].as_u64().unwrap(), tokens, "no replay reached the token endpoint");
    defect(&world, None).await;
}

/// Parameters a provider does not send (each injected name, duplicates of allowed ones, empty and
/// oversized values, encoded names) are refused with `invalid_callback` before any provider call;
/// the refusals do not spend the login, and the provider's own extras (`session_state`, Google's
/// `scope`/`authuser`/`prompt`/`hd`) then pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_callback_parameters_are_refused_before_the_provider_is_called() {
    let world = world().await;
    defect(&world, None).await;
    let mut jar = Jar::default();
    let callback = to_callback(&world, &mut jar, "hostile").await;
    let before = hostile_counters(&world).await;

    let mut hostile: Vec<String> = Vec::new();
    for name in ["redirect_uri", "client_id", "client_secret", "code_verifier", "nonce", "response_type", "grant_type", "return_to",
                 "request_uri", "id_token", "redirect%5Furi", "Code", "STATE", "code%00", "%EF%BB%BFstate"] {
        for value in ["x", "", "https%3A%2F%2Fevil.example%2Fcallback"] {
            hostile.push(format!("{callback}&{name}={value}"));
        }
    }
    // The callback already carries code, state and iss: a second one, empty or not.
    for name in ["code", "state", "iss"] {
        hostile.push(format!("{callback}&{name}=again"));
        hostile.push(format!("{callback}&{name}="));
    }
    for name in ["session_state", "error", "scope"] {
        hostile.push(format!("{callback}&{name}=a&{name}=b"));
        hostile.push(format!("{callback}&{name}=&{name}=b"));
    }
    hostile.push(format!("{callback}&error_description={}", "d".repeat(4096)));
    hostile.push(callback.replacen("code=", &format!("code={}", "c".repeat(4096)), 1));
    for url in &hostile {
        let mut attempt = jar.clone();
        let (status, error) = finish(&world, &mut attempt, url).await;
        assert_eq!((status, error.as_str()), (400, "invalid_callback"), "{url}");
        assert!(!attempt.0.contains_key("whoscalling_session"), "{url}");
    }
    let after = hostile_counters(&world).await;
    assert_eq!(after["token"], before["token"], "no refused callback reached the token endpoint");
    assert_eq!(after["userinfo"], before["userinfo"]);

    // The control: the same login, with what providers add themselves, completes.
    let (status, _) = finish(&world, &mut jar, &format!("{callback}&session_state=abc.123&scope=openid&authuser=0&prompt=none&hd=example.com")).await;
    assert_eq!(status, 302, "the control must pass");
    assert_eq!(mint(&world, &jar, "connect").await.0, 200);
}

/// Puzzel's redirect flow starting from nothing, as openid-client runs it with a browser's
/// cookie jar: our authorize sends the visitor to the BankID login (oidc-provider), its callback
/// returns to our authorize, and the same request ends at Puzzel's redirect URI with a code that
/// openid-client redeems (state, RFC 9207 iss, nonce, PKCE, id_token signature) before userinfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puzzel_starting_from_nothing_logs_the_visitor_in_and_gets_a_code() {
    let logs = CapturedLogs::install();
    let world = world().await;
    let result = tokio::task::spawn_blocking({
        let input = json!({"step": "browser", "issuer": world.base(), "client_id": "puzzel", "client_secret": PUZZEL_SECRET,
            "redirect_uri": PUZZEL_REDIRECT, "scope": "openid"});
        move || relying_party(&input)
    })
    .await
    .unwrap();
    assert!(result.get("error").is_none(), "{result}");

    let base = world.base().to_string();
    let hops: Vec<(u64, bool, String, Vec<String>)> = result["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let cookies = h["set_cookies"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
            (h["status"].as_u64().unwrap(), h["origin"] == base.as_str(), h["path"].as_str().unwrap().to_string(), cookies)
        })
        .collect();
    let first = &hops[0];
    assert_eq!((first.0, first.1, first.2.as_str()), (302, true, "/oauth2/authorize"), "{hops:?}");
    assert!(first.3.contains(&"whoscalling_authorize".to_string()), "the request waits in a cookie: {hops:?}");
    let ours: Vec<&str> = hops.iter().filter(|h| h.1).map(|h| h.2.as_str()).collect();
    assert_eq!(ours, ["/oauth2/authorize", "/login/bankid", "/callback/bankid", "/oauth2/authorize"], "{hops:?}");
    assert!(hops.iter().any(|h| !h.1), "the visitor logged in at the provider: {hops:?}");
    let callback = hops.iter().find(|h| h.2 == "/callback/bankid").unwrap();
    assert!(callback.3.contains(&"whoscalling_session".to_string()));
    let last = hops.last().unwrap();
    assert!(last.3.contains(&"whoscalling_authorize".to_string()), "the resumed answer clears the waiting request");
    let cookies_left: Vec<&str> = result["cookies_left"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(cookies_left.contains(&"whoscalling_session"));
    assert!(!cookies_left.contains(&"whoscalling_authorize") && !cookies_left.contains(&"whoscalling_login"), "{cookies_left:?}");

    let location = result["authorize_response"]["location"].as_str().unwrap();
    assert!(location.starts_with(&format!("{PUZZEL_REDIRECT}?code=")), "{location}");
    let claims = &result["id_token_claims"];
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str(), claims["sub"].as_str()), (Some(world.base()), Some("puzzel"), Some("alice")));
    assert_eq!(claims["nonce"], result["request"]["nonce"]);
    assert_eq!(result["at_hash_matches"], true);
    assert_eq!(result["userinfo"], json!({"sub": "alice", "name": "Alice Nordmann", "nin": ALICE_NIN_MASKED}));

    let code = query_value(location, "code");
    logs.assert_free_of(&[ALICE_NIN, &code, PUZZEL_SECRET, LOGIN_CLIENT_SECRET]);
}

fn query_value(url: &str, name: &str) -> String {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The same flow by hand, and what goes wrong on the way back: the return address resumes only
/// the request waiting in this browser, unaltered, and once. (Expiry: tests/authorize_login.rs,
/// with an injected clock.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_return_to_authorize_resumes_only_this_browsers_request() {
    let world = world().await;
    let authorize = format!(
        "{}/oauth2/authorize?response_type=code&scope=openid&client_id=puzzel&state=s-1&redirect_uri={}",
        world.base(),
        url::form_urlencoded::byte_serialize(PUZZEL_REDIRECT.as_bytes()).collect::<String>()
    );
    // prompt=none: no login, login_required at once.
    let mut jar = Jar::default();
    let response = get(&mut jar, &format!("{authorize}&prompt=none")).await;
    assert_eq!(response.status(), 302);
    assert_eq!(query_value(&location(&response, world.base()), "error"), "login_required");
    assert!(jar.0.is_empty());

    // Visitor A starts at authorize and logs in; visitor B logs in directly (no waiting request).
    let mut a = Jar::default();
    let start = get(&mut a, &authorize).await;
    assert_eq!(start.status(), 302);
    let to_login = location(&start, world.base());
    assert!(to_login.starts_with(&format!("{}/login/bankid?return_to=", world.base())), "{to_login}");
    assert!(a.0.contains_key("whoscalling_authorize"));
    let mut next = to_login;
    for _ in 0..10 {
        if next.starts_with(&format!("{}/callback/bankid", world.base())) {
            break;
        }
        let response = get(&mut a, &next).await;
        next = location(&response, &next);
    }
    let (status, back) = finish(&world, &mut a, &next).await;
    assert_eq!((status, back.as_str()), (302, format!("{}/oauth2/authorize", world.base()).as_str()));

    let mut b = Jar::default();
    let callback_b = to_callback(&world, &mut b, "bankid").await;
    assert_eq!(finish(&world, &mut b, &callback_b).await.0, 302);

    // B's browser at A's return address: nothing waits there.
    let (status, code) = page_error(get(&mut b.clone(), &back).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"), "foreign browser");
    // A's waiting request altered.
    let mut altered = a.clone();
    let value = altered.0.get_mut("whoscalling_authorize").unwrap();
    let flipped = if value.ends_with('A') { "B" } else { "A" };
    value.replace_range(value.len() - 1.., flipped);
    let (status, code) = page_error(get(&mut altered, &back).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"), "altered");
    // The control: A resumes once, then the request is gone.
    let response = get(&mut a, &back).await;
    assert_eq!(response.status(), 302);
    let to = location(&response, world.base());
    assert!(to.starts_with(&format!("{PUZZEL_REDIRECT}?code=")) && query_value(&to, "state") == "s-1", "{to}");
    assert!(!a.0.contains_key("whoscalling_authorize"));
    let (status, code) = page_error(get(&mut a, &back).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"), "resumed twice");
}

/// The status and the machine-readable code of an error page.
async fn page_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(response.headers().get("location").is_none(), "never a redirect");
    let html = response.text().await.unwrap();
    let code = html.split("<code>").nth(1).and_then(|rest| rest.split("</code>").next()).unwrap_or_default().to_string();
    (status, code)
}
