//! The local run as a developer uses it: the server on loopback, a dev login, the demo page's
//! request to `/token/connect`, and the minted token checked by jwcrypto with the key from
//! `secrets.json`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use whoscalling_local::{CCAI_COMPANY_SECRET, CONNECT_KEY_SECRET, FRESHCHAT_KEY_SECRET, Options, serve};
use whoscalling_tests::{CapturedLogs, verify_independently, verify_intercom};

async fn start() -> (whoscalling_local::LocalServer, std::path::PathBuf) {
    let state_dir = std::env::temp_dir().join(format!("whoscalling-local-test-{}", whoscalling_tests::random_token()));
    let server = serve(Options {
        port: 0,
        state_dir: state_dir.clone(),
        config_file: None,
        stores: None,
    })
    .await
    .expect("serve");
    (server, state_dir)
}

#[tokio::test]
async fn demo_flow_mints_a_connect_token_verifiable_with_the_local_key() {
    let logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;

    let page = http.get(format!("{base}/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("amazon_connect('authenticate'"),
        "the demo page uses Amazon's callback"
    );

    let discovery: Value = http
        .get(format!("{base}/dev/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("{base}/dev"));

    let login: Value = http
        .post(format!("{base}/dev/login"))
        .json(
            &json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann",
                      "email": "alice@example.com", "nin": "12345678901"}),
        )
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login JSON");
    let id_token = login["id_token"].as_str().expect("id_token").to_string();
    // The dev provider's token verifies against its published JWKS with an independent library.
    let jwks: Value = http
        .get(format!("{base}/dev/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let idp_verdict = verify_independently(&json!({"token": id_token, "key": {"jwks": jwks}, "rules": "none",
        "expect": {"iss": format!("{base}/dev"), "aud": "whoscalling-local", "sub": "alice"}}));
    assert_eq!(idp_verdict["ok"], true, "{idp_verdict}");

    let response = http
        .get(format!("{base}/token/connect"))
        .header("origin", base.as_str())
        .bearer_auth(&id_token)
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], base.as_str());
    let token = response.json::<Value>().await.expect("json")["data"]
        .as_str()
        .expect("data")
        .to_string();

    let secrets: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).expect("secrets.json"))
            .expect("json");
    let key = &secrets[CONNECT_KEY_SECRET];
    assert_eq!(key.len(), 44, "a Connect-shaped key is generated on first start");
    let verdict = verify_independently(
        &json!({"token": token, "key": {"hmac_utf8": key}, "rules": "amazon-connect",
        "expect": {"sub": "local-widget-id", "customerId": "alice"}}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["claims"]["attributes"]["nationalId"], "123456*****");

    // The `zendesk` profile of the default configuration: a fresh `{kid, secret}` was generated,
    // and jwcrypto verifies the token with the secret's UTF-8 bytes and the stored kid.
    let zendesk: Value = http
        .get(format!("{base}/token/zendesk"))
        .header("origin", base.as_str())
        .bearer_auth(&id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&secrets["whoscalling/zendesk-key"]).expect("the Zendesk key is JSON");
    let verdict = verify_independently(
        &json!({"token": zendesk["token"], "key": {"hmac_utf8": stored["secret"]},
        "rules": "zendesk-messaging", "kid": stored["kid"], "expect": {"external_id": "alice", "scope": "user"}}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");

    // localhost is allowed too; any other origin is not.
    let localhost = base.replace("127.0.0.1", "localhost");
    let ok = http
        .get(format!("{base}/token/connect"))
        .header("origin", &localhost)
        .bearer_auth(&id_token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let denied = http
        .get(format!("{base}/token/connect"))
        .header("origin", "http://127.0.0.1:1")
        .bearer_auth(&id_token)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(denied.json::<Value>().await.unwrap()["error"], "origin_not_allowed");

    // The dev provider refuses a login without a subject.
    let no_sub = http
        .post(format!("{base}/dev/login"))
        .json(&json!({"given_name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_sub.status(), 400);
    assert_eq!(no_sub.json::<Value>().await.unwrap()["error"], "invalid_request");

    // Each handler writes one CloudWatch EMF record per request into the same log stream: the
    // minted token counted for its profile, the refusal under its error code. (Other tests of
    // this binary log into the same capture, so this looks for this test's records, not counts.)
    let records = emf_records(&logs);
    let minted = records
        .iter()
        .filter(|r| r["function"] == "mint-token" && r["profile"] == "connect" && r["TokensMinted"] == 1)
        .count();
    assert!(minted >= 2, "an EMF record for each minted token: {records:?}");
    assert!(
        records.iter().any(|r| r["function"] == "mint-token"
            && r["error"] == "origin_not_allowed"
            && r["Refusals"] == 1
            && r["TokensMinted"] == 0),
        "the refusal is counted under its code, and as no token for its profile: {records:?}"
    );
    logs.assert_free_of(&[&id_token, &token, key, "alice@example.com", "12345678901"]);
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// The EMF records among the captured log lines, each checked against the specification's shape
/// (a JSON object with `_aws.Timestamp` and `_aws.CloudWatchMetrics[{Namespace, Dimensions,
/// Metrics[{Name, Unit}]}]`, every dimension and metric present at the root).
fn emf_records(logs: &CapturedLogs) -> Vec<Value> {
    let records: Vec<Value> = logs
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    for record in &records {
        assert!(record["_aws"]["Timestamp"].is_u64(), "{record}");
        for directive in record["_aws"]["CloudWatchMetrics"].as_array().expect("directives") {
            assert!(
                directive["Namespace"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("whoscalling")),
                "{record}"
            );
            for set in directive["Dimensions"].as_array().expect("dimension sets") {
                for name in set.as_array().expect("a dimension set") {
                    assert!(
                        record[name.as_str().expect("a name")].is_string(),
                        "dimension {name} missing: {record}"
                    );
                }
            }
            for metric in directive["Metrics"].as_array().expect("metrics") {
                assert_eq!(metric["Unit"], "Count");
                assert!(record[metric["Name"].as_str().expect("a name")].is_number(), "{record}");
            }
        }
    }
    records
}

#[tokio::test]
async fn pasted_key_in_secrets_json_is_used_without_restart() {
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;
    let path = state_dir.join("secrets.json");
    let mut secrets: BTreeMap<String, String> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let pasted = "UGFzdGVkUmVhbENvbm5lY3RLZXlGcm9tVGhlQWRtaW4xMjM=";
    secrets.insert(CONNECT_KEY_SECRET.into(), pasted.into());
    // A distinct modification time, so the store sees a new version.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(&path, serde_json::to_string(&secrets).unwrap()).unwrap();

    let login: Value = http
        .post(format!("{base}/dev/login"))
        .json(&json!({"sub": "bob"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .post(format!("{base}/token/connect"))
        .bearer_auth(login["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["data"]
        .as_str()
        .unwrap()
        .to_string();
    let verdict =
        verify_independently(&json!({"token": token, "key": {"hmac_utf8": pasted}, "rules": "amazon-connect"}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// The local run's upstream login: the dev provider plays BankID (code flow, PKCE, userinfo),
/// the callback sets the session cookie, and `/token/connect` accepts it without a bearer token.
#[tokio::test]
async fn code_flow_login_through_the_dev_provider_gives_a_session() {
    let logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let base = &server.base_url;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let return_to: String = url::form_urlencoded::byte_serialize(format!("{base}/?session=1").as_bytes()).collect();
    let start = http
        .get(format!("{base}/login/dev?return_to={return_to}"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let login_cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(start.headers()["set-cookie"].to_str().unwrap().contains("HttpOnly"));
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    assert!(
        authorize.starts_with(&format!("{base}/dev/authorize?")) && authorize.contains("code_challenge_method=S256")
    );
    let provider = http.get(&authorize).send().await.unwrap();
    assert_eq!(provider.status(), 302);
    let callback = provider.headers()["location"].to_str().unwrap().to_string();
    let done = http
        .get(&callback)
        .header("cookie", &login_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302, "{:?}", done.text().await);
    assert_eq!(done.headers()["location"], format!("{base}/?session=1").as_str());
    let session = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("whoscalling_session="))
        .expect("session cookie");
    let session = session.split(';').next().unwrap().to_string();

    // The same cookie without Origin (not a page's fetch): refused before anything is minted.
    let no_origin = http
        .get(format!("{base}/token/connect"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(no_origin.status(), 403);
    assert_eq!(no_origin.json::<Value>().await.unwrap()["error"], "origin_required");
    let response = http
        .get(format!("{base}/token/connect"))
        .header("origin", base.as_str())
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["data"]
        .as_str()
        .unwrap()
        .to_string();
    let secrets: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).unwrap()).unwrap();
    let verdict = verify_independently(
        &json!({"token": token, "key": {"hmac_utf8": secrets[CONNECT_KEY_SECRET]},
        "rules": "amazon-connect", "expect": {"customerId": "alice"}, "expect_absent": ["12345678901"]}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["claims"]["attributes"]["nationalId"], "123456*****");
    // The dev provider's ID token carries only `sub` (as Signicat's): these came from its userinfo.
    assert_eq!(
        (
            verdict["claims"]["attributes"]["firstName"].as_str(),
            verdict["claims"]["attributes"]["lastName"].as_str()
        ),
        (Some("Alice"), Some("Nordmann"))
    );

    // `POST /dev/rotate-session-key` runs the deployed session-key rotation on secrets.json: the
    // session goes on after one rotation and is refused after a second. (The local store's
    // versions are by file time in seconds, hence the pauses.)
    let mint = || {
        http.get(format!("{base}/token/connect"))
            .header("origin", base.as_str())
            .header("cookie", &session)
            .send()
    };
    for (rotation, expected, error) in [(1, 200, None), (2, 401, Some("invalid_token"))] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let rotated = http
            .post(format!("{base}/dev/rotate-session-key"))
            .send()
            .await
            .unwrap();
        assert_eq!(rotated.status(), 200, "rotation {rotation}: {:?}", rotated.text().await);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let minted = mint().await.unwrap();
        let status = minted.status().as_u16();
        let body: Value = minted.json().await.unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (expected, error),
            "after rotation {rotation}: {body}"
        );
    }
    logs.assert_free_of(&["12345678901", &session[20..], "alice@example.com"]);
    std::fs::remove_dir_all(&state_dir).ok();
}

/// `/dev/rotate-keys` runs the deployed rotation against `secrets.json`: the Live Assist profile's
/// pasted key survives two rotations while the JWKS profile's key moves; the pinned-key commands
/// stage (the successor is pasteable before it signs) and switch it. Each Live Assist token is
/// checked by jwcrypto holding only the pasted key, as Live Assist does.
#[tokio::test]
async fn local_rotation_keeps_the_pasted_key_until_the_operator_switches_it() {
    let _logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;
    let text = |path: String| {
        let http = http.clone();
        async move {
            let response = http.get(path).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let post = |path: String| {
        let http = http.clone();
        async move {
            let response = http.post(path).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let login: Value = http
        .post(format!("{base}/dev/login"))
        .json(
            &json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann",
                      "crm_contact_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = login["id_token"].as_str().unwrap().to_string();
    let mint = |profile: &'static str| {
        let (http, id_token, base) = (http.clone(), id_token.clone(), base.clone());
        async move {
            let response = http
                .get(format!("{base}/token/{profile}"))
                .header("origin", base.as_str())
                .bearer_auth(&id_token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{profile}");
            response.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let kid = |token: &str| -> String {
        use base64::Engine;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pasted_verdict = |token: &str, key: &str| {
        verify_independently(&json!({"token": token, "key": {"pasted_spki": key}, "rules": "live-assist"}))["ok"]
            .clone()
    };

    let (status, pasted) = text(format!("{base}/public-key/live-assist")).await;
    assert_eq!(status, 200);
    let liveperson_kid = kid(&mint("liveperson").await);
    for _ in 0..2 {
        let (status, event) = post(format!("{base}/dev/rotate-keys")).await;
        assert_eq!(status, 200, "{event}");
        assert_eq!(event["event"], "scheduled_rotation");
    }
    assert_eq!(
        text(format!("{base}/public-key/live-assist")).await.1,
        pasted,
        "two rotations left the pasted key alone"
    );
    assert_ne!(
        kid(&mint("liveperson").await),
        liveperson_kid,
        "the JWKS profile's key did rotate"
    );
    assert_eq!(pasted_verdict(&mint("live-assist").await, &pasted), true);

    assert_eq!(
        post(format!("{base}/dev/pinned-keys/live-assist/switch")).await.1["error"],
        "NothingStaged"
    );
    let (status, staged) = post(format!("{base}/dev/pinned-keys/live-assist/stage")).await;
    assert_eq!(status, 200, "{staged}");
    let next = text(format!("{base}/public-key/live-assist?key=next")).await;
    assert_eq!(next.0, 200);
    assert_eq!(staged["pinned"][0]["staged_public_key"], next.1.as_str());
    assert_eq!(
        pasted_verdict(&mint("live-assist").await, &pasted),
        true,
        "staging changes nothing that signs"
    );
    let (status, switched) = post(format!("{base}/dev/pinned-keys/live-assist/switch")).await;
    assert_eq!((status, switched["event"].clone()), (200, json!("pinned_key_switched")));
    let after = mint("live-assist").await;
    assert_eq!(pasted_verdict(&after, &next.1), true);
    assert_eq!(
        pasted_verdict(&after, &pasted),
        false,
        "the old paste no longer verifies: the operator re-pastes"
    );
    let (status, body) = post(format!("{base}/dev/pinned-keys/Not%20A%20Pin/stage")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{body}");
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// Puzzel's redirect flow in the local run, starting from nothing: the authorization request
/// without any login goes to the dev provider's login and back, and ends at the client's
/// redirect URI with a code that the token endpoint redeems for alice.
#[tokio::test]
async fn a_puzzel_like_redirect_from_nothing_ends_at_the_client_with_a_code() {
    let (server, state_dir) = start().await;
    let base = &server.base_url;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect_uri = "http://127.0.0.1:8765/callback";
    let mut next = format!(
        "{base}/oauth2/authorize?response_type=code&client_id=local-client&scope=openid%20profile&state=S&nonce=N&redirect_uri={}",
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>()
    );
    // A browser: follows each redirect, keeping the cookies it is given (one host, by name).
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let mut paths = Vec::new();
    for _ in 0..10 {
        if next.starts_with(redirect_uri) {
            break;
        }
        let cookies = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = http.get(&next).header("cookie", cookies).send().await.unwrap();
        assert_eq!(response.status(), 302, "{next}: {:?}", response.text().await);
        for set_cookie in response.headers().get_all("set-cookie") {
            let text = set_cookie.to_str().unwrap();
            let (name, value) = text.split(';').next().unwrap().split_once('=').unwrap();
            if text.contains("Max-Age=0") {
                jar.remove(name)
            } else {
                jar.insert(name.to_string(), value.to_string())
            };
        }
        paths.push(url::Url::parse(&next).unwrap().path().to_string());
        next = url::Url::parse(&next)
            .unwrap()
            .join(response.headers()["location"].to_str().unwrap())
            .unwrap()
            .to_string();
    }
    assert_eq!(
        paths,
        [
            "/oauth2/authorize",
            "/login/dev",
            "/dev/authorize",
            "/callback/dev",
            "/oauth2/authorize"
        ]
    );
    let query: BTreeMap<String, String> = url::Url::parse(&next).unwrap().query_pairs().into_owned().collect();
    assert_eq!(
        (query.get("state").map(String::as_str), query.get("iss")),
        (Some("S"), Some(base)),
        "{next}"
    );
    let code = query.get("code").expect("a code at the client's redirect URI");
    assert!(
        !jar.contains_key("whoscalling_authorize"),
        "the waiting request is gone"
    );

    let secrets: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).unwrap()).unwrap();
    let tokens: Value = http
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", "local-client"),
            ("client_secret", &secrets["whoscalling/clients/local-client"]),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap_or_else(|| panic!("{tokens}"));
    let userinfo: Value = http
        .get(format!("{base}/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (userinfo["sub"].as_str(), userinfo["nin"].as_str()),
        (Some("alice"), Some("123456*****"))
    );
    std::fs::remove_dir_all(&state_dir).ok();
}

/// The operator's `authMapping` for Puzzel, from the configuration's `claim_policy.roles`,
/// named as the client's userinfo names the claims (the default config's is the one
/// docs/setup/puzzel.md shows).
#[tokio::test]
async fn the_puzzel_auth_mapping_comes_from_the_configured_roles() {
    let (server, state_dir) = start().await;
    let base = &server.base_url;
    let response = reqwest::get(format!("{base}/dev/puzzel-auth-mapping")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "client_id": "local-client",
            "authMapping": {
                "sub":          {"MapType": "ChatId",   "Description": "Customer id"},
                "name":         {"MapType": "NickName"},
                "given_name":   {"MapType": "Variable", "Description": "First name"},
                "family_name":  {"MapType": "Variable", "Description": "Last name"},
                "email":        {"MapType": "Variable", "Description": "Email"},
                "phone_number": {"MapType": "Variable", "Description": "Phone"},
                "birthdate":    {"MapType": "Variable", "Description": "Date of birth"},
                "nin":          {"MapType": "Variable", "Description": "National id (last 5 digits hidden)"}
            },
            "unmapped_roles": []
        })
    );
    // A client without an openid-connect profile has none; the control above passes.
    let response = reqwest::get(format!("{base}/dev/puzzel-auth-mapping?client_id=liveperson"))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    std::fs::remove_dir_all(&state_dir).ok();
}

/// The default configuration's `intercom` profile: a token PyJWT verifies under Intercom's rules
/// with the freshly generated secret from `secrets.json` (UTF-8 bytes, not base64-decoded), the
/// user from the verified login; an oversized `name` is refused with its code.
#[tokio::test]
async fn intercom_profile_mints_from_the_default_configuration() {
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;
    let login = |claims: Value| dev_login(&http, base, claims);
    let mint = |id_token: String| mint_with_bearer(&http, base, "intercom", id_token);

    let alice = login(json!({"sub": "alice", "email": "alice@example.com", "phone_number": "+4712345678"})).await;
    let (status, body) = mint(alice).await;
    assert_eq!(status, 200, "{body}");
    let secrets: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).expect("secrets.json"))
            .expect("json");
    let secret = &secrets["whoscalling/intercom-secret"];
    assert!(
        secret.len() == 40 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "an Intercom-shaped secret is generated on first start"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let verdict = verify_intercom(
        &json!({"token": body["token"], "secret": secret, "lifetime": 7200, "now": now,
        "expect": {"user_id": "alice", "email": "alice@example.com", "phone": "+4712345678"}}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");

    let oversized = login(json!({"sub": "bob", "name": "B".repeat(256)})).await;
    let (status, body) = mint(oversized).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_claims")),
        "{body}"
    );
    // Control: the same visitor with a 255-character name gets a token.
    let (status, _) = mint(login(json!({"sub": "bob", "name": "B".repeat(255)})).await).await;
    assert_eq!(status, 200);

    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// The default configuration's `ccai` profile: the body is exactly `{"token": jwt}` (what the CCAI
/// Platform web SDK's `authenticate` promise resolves to), jwcrypto verifies it with the UTF-8
/// bytes of `secrets.json`'s company secret and not with its base64-decoded bytes, and a login
/// whose id is an email gets no token.
#[tokio::test]
async fn ccai_profile_mints_from_the_default_configuration() {
    use base64::Engine as _;
    let logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;
    let login = |claims: Value| dev_login(&http, base, claims);
    let mint = |id_token: String| mint_with_bearer(&http, base, "ccai", id_token);

    let uuid = "5b0c7f0e-8d1e-4c59-9a57-1d2f3e4a5b6c";
    let id_token = login(json!({"sub": uuid, "name": "Alice Nordmann", "email": "alice@example.com"})).await;
    let (status, body) = mint(id_token.clone()).await;
    assert_eq!(status, 200, "{body}");
    let members: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(members, ["token"], "{body}");
    let token = body["token"].as_str().unwrap().to_string();

    let secrets: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).expect("secrets.json"))
            .expect("json");
    let secret = &secrets[CCAI_COMPANY_SECRET];
    let verdict = verify_independently(
        &json!({"token": token, "key": {"hmac_utf8": secret}, "rules": "ccai-platform",
        "expect": {"iss": "Local Example", "identifier": uuid, "name": "Alice Nordmann", "email": "alice@example.com"}}),
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["header"], json!({"alg": "HS256", "typ": "JWT"}));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .expect("base64 text");
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(decoded);
    let wrong = verify_independently(&json!({"token": token, "key": {"jwks": {"keys": [{"kty": "oct", "k": k}]}}}));
    assert_eq!(
        wrong["ok"], false,
        "the key is the secret's UTF-8 bytes, never its base64-decoded bytes"
    );

    let email_id = login(json!({"sub": "mallory@example.net", "name": "Mallory"})).await;
    let (status, body) = mint(email_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_claims")),
        "{body}"
    );
    assert!(body.get("token").is_none());

    logs.assert_free_of(&[&id_token, &token, secret, "alice@example.com", "mallory@example.net"]);
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// The default configuration's `salesforce` profile: the token verifies (jwcrypto) with the key of
/// the certificate in the single JWK `/public-key/salesforce` serves, the JWKS carries the same
/// JWK, `?key=next` is another key's certificate, and a body naming another user changes nothing.
#[tokio::test]
async fn salesforce_profile_mints_from_the_default_configuration() {
    let logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;

    let id_token = dev_login(&http, base, json!({"sub": "alice", "name": "Alice Nordmann"})).await;
    let response = http
        .post(format!("{base}/token/salesforce"))
        .header("origin", base)
        .bearer_auth(&id_token)
        .json(&json!({"sub": "mallory", "iss": "https://evil.example", "aud": "salesforce"}))
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_string();

    let get = |path: String| {
        let http = http.clone();
        async move {
            let response = http.get(path).send().await.expect("public key");
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
            (status, content_type, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, content_type, current) = get(format!("{base}/public-key/salesforce")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let verdict = verify_independently(&json!({"token": token, "key": {"salesforce_jwk": current},
        "rules": "salesforce-miaw", "now": now, "certificate_valid_from": now,
        "certificate_valid_through": now + (2 * 365 + 7 + 10) * 86_400,
        "expect": {"iss": base, "sub": "alice"}, "expect_absent": ["mallory", "evil.example"]}));
    assert_eq!(verdict["ok"], true, "{verdict}");

    let (status, _, next) = get(format!("{base}/public-key/salesforce?key=next")).await;
    assert_eq!(status, 200);
    assert_ne!(next["kid"], current["kid"]);
    assert_ne!(next["x5c"], current["x5c"]);
    let (_, _, jwks) = get(format!("{base}/.well-known/jwks.json")).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(keys.contains(&current) && keys.contains(&next), "{jwks}");

    let (status, _, refused) = get(format!("{base}/public-key/salesforce?key=older")).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_request")));

    logs.assert_free_of(&[&id_token, &token]);
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// Logs `claims` in at the local run's dev provider and returns its id_token.
async fn dev_login(http: &reqwest::Client, base: &str, claims: Value) -> String {
    let answer: Value = http
        .post(format!("{base}/dev/login"))
        .json(&claims)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login JSON");
    answer["id_token"].as_str().expect("id_token").to_string()
}

/// `POST /token/{profile}` from the page's origin with `id_token` as the bearer: status and body.
async fn mint_with_bearer(http: &reqwest::Client, base: &str, profile: &str, id_token: String) -> (u16, Value) {
    let response = http
        .post(format!("{base}/token/{profile}"))
        .header("origin", base)
        .bearer_auth(id_token)
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.expect("json"))
}
/// The d365 profile of the default configuration: the bare token (`application/jwt`) verifies
/// with jwcrypto against the key list `/public-key/d365` serves, picked by its kid; after a
/// rotation the new token names the new current key and the old token still verifies against the
/// new list (its key is kept as previous). A login whose CRM id is not a GUID gets 403.
#[tokio::test]
async fn d365_profile_mints_and_follows_a_rotation_through_the_key_list() {
    let logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;
    let guid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    let id_token = dev_login(
        &http,
        base,
        json!({"sub": "alice", "given_name": "Alice",
        "crm_contact_id": guid, "email": "alice@example.com", "nin_issuing_country": "NO"}),
    )
    .await;
    let mint = || async {
        let response = http
            .post(format!("{base}/token/d365"))
            .header("origin", base)
            .bearer_auth(&id_token)
            .send()
            .await
            .expect("token");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/jwt");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["access-control-allow-origin"], base.as_str());
        response.text().await.expect("text")
    };
    let key_list = || async {
        let response = http
            .get(format!("{base}/public-key/d365"))
            .send()
            .await
            .expect("key list");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.expect("text")
    };
    let verify = |token: &str, keys: &str| {
        verify_independently(
            &json!({"token": token, "key": {"d365_key_url": keys}, "rules": "d365-omnichannel",
            "expect": {"sub": guid, "iss": "127.0.0.1", "email": "alice@example.com",
                "lwicontexts": r#"{"msdyn_country":"NO"}"#}}),
        )
    };
    let first = mint().await;
    let keys = key_list().await;
    let verdict = verify(&first, &keys);
    assert_eq!(verdict["ok"], true, "{verdict}");
    let first_kid = verdict["header"]["kid"].as_str().unwrap().to_string();

    let rotated = http
        .post(format!("{base}/dev/rotate-keys"))
        .send()
        .await
        .expect("rotate");
    assert_eq!(rotated.status().as_u16(), 200);
    let second = mint().await;
    let keys_after = key_list().await;
    let verdict = verify(&second, &keys_after);
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_ne!(
        verdict["header"]["kid"],
        first_kid.as_str(),
        "the next key signs after a rotation"
    );
    assert_eq!(
        verify(&first, &keys_after)["ok"],
        true,
        "the retired key stays in the list"
    );
    let listed: Value = serde_json::from_str(&keys_after).unwrap();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(3),
        "current, next and previous: {listed}"
    );

    let not_a_guid = dev_login(&http, base, json!({"sub": "bob", "crm_contact_id": "bob"})).await;
    let (status, body) = mint_with_bearer(&http, base, "d365", not_a_guid).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_claims")),
        "{body}"
    );

    logs.assert_free_of(&[&id_token, &first, &second, "alice@example.com"]);
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// The default configuration's `freshchat` profile: the page's `{"freshchat_uuid"}` and the
/// verified login make a token jwcrypto verifies under Freshchat's rules with the UTF-8 bytes of
/// `secrets.json`'s encryption key (not its base64-decoded bytes); a body that also tries to set
/// `reference_id` is 400 `invalid_request`, and nothing the page sent reaches the logs.
#[tokio::test]
async fn freshchat_profile_mints_from_the_default_configuration() {
    use base64::Engine as _;
    let logs = CapturedLogs::install();
    let (server, state_dir) = start().await;
    let http = reqwest::Client::new();
    let base = &server.base_url;
    let uuid = "8d3c1f0a-5b6e-4a7d-9c2b-1e0f3a4b5c6d";
    let id_token = dev_login(
        &http,
        base,
        json!({"sub": "alice", "given_name": "Alice", "family_name": "Nordmann",
        "email": "alice@example.com"}),
    )
    .await;
    let mint = |body: Value| mint_with_body(&http, base, "freshchat", id_token.clone(), body);

    let (status, body) = mint(json!({ "freshchat_uuid": uuid })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let secrets: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).expect("secrets.json"))
            .expect("json");
    let key = &secrets[FRESHCHAT_KEY_SECRET];
    let verdict = verify_independently(&json!({"token": token, "key": {"hmac_utf8": key}, "rules": "freshchat",
        "lifetime": 900, "expect": {"freshchat_uuid": uuid, "reference_id": "alice", "first_name": "Alice",
            "last_name": "Nordmann", "email": "alice@example.com"}}));
    assert_eq!(verdict["ok"], true, "{verdict}");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("base64 text");
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(decoded);
    let wrong = verify_independently(&json!({"token": token, "key": {"jwks": {"keys": [{"kty": "oct", "k": k}]}}}));
    assert_eq!(
        wrong["ok"], false,
        "the key is the UTF-8 bytes, never the base64-decoded bytes"
    );

    let (status, body) = mint(json!({ "freshchat_uuid": uuid, "reference_id": "mallory" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let (status, body) = mint(json!({ "freshchat_uuid": uuid.to_uppercase() })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );

    logs.assert_free_of(&[
        &id_token,
        &token,
        key,
        uuid,
        &uuid.to_uppercase(),
        "mallory",
        "alice@example.com",
    ]);
    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// `POST /token/{profile}` from the page's origin with `id_token` as the bearer and a JSON body.
async fn mint_with_body(
    http: &reqwest::Client,
    base: &str,
    profile: &str,
    id_token: String,
    body: Value,
) -> (u16, Value) {
    let response = http
        .post(format!("{base}/token/{profile}"))
        .header("origin", base)
        .bearer_auth(id_token)
        .json(&body)
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.expect("json"))
}
