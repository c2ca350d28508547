//! The local run's demo page in a real browser (Debian's headless Chromium driven by
//! `playwright-core`): a sample customer logs in at the dev provider, then each platform's page
//! callback runs as its snippet does (Amazon Connect `authenticate`, LivePerson
//! `lpGetAuthenticationToken`, plain and encrypted, Live Assist `authoriseChatWithCallback`, Intercom
//! `Intercom('boot', {app_id, intercom_user_jwt})`, CCAI Platform's `authenticate`, Zendesk
//! `zE('messenger', 'loginUser', jwtCallback, loginCallback)` against a stand-in `zE`, Salesforce
//! `embeddedservice_bootstrap.userVerificationAPI.setIdentityToken` after `onEmbeddedMessagingReady`
//! and again on `onEmbeddedMessagingIdentityTokenExpired`, against a stand-in, Dynamics 365's
//! `getAuthenticationToken(callback)` against a stand-in widget, Freshchat's
//! `fcWidget.authenticate` on `user:statechange` against a stand-in `fcWidget`), and
//! the page shows the decoded (for the JWE, decrypted) header and claims.

use std::process::Command;

use serde_json::{Value, json};
use whoscalling_local::{Options, serve};
use whoscalling_tests::{CapturedLogs, node, random_token, workspace_root};

fn drive_demo_page(base_url: &str, customer: &str) -> Value {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run `scripts/setup-tools` (it installs Debian's chromium)"
    );
    let output = Command::new(node())
        .arg(workspace_root().join("tests/peers/demo-page.mjs"))
        .args([base_url, customer])
        .output()
        .expect("node");
    assert!(
        output.status.success(),
        "the demo page run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("demo-page.mjs prints JSON")
}

fn lifetime(claims: &Value) -> u64 {
    claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_obtains_a_token_from_every_platform_panel() {
    let logs = CapturedLogs::install();
    let state_dir = std::env::temp_dir().join(format!("whoscalling-demo-{}", random_token()));
    let server = serve(Options {
        port: 0,
        state_dir: state_dir.clone(),
        config_file: None,
        stores: None,
    })
    .await
    .expect("serve");
    let base = server.base_url.clone();

    let alice = tokio::task::spawn_blocking({
        let base = base.clone();
        move || drive_demo_page(&base, "alice")
    })
    .await
    .expect("browser");
    assert_eq!(alice["consoleErrors"], json!([]), "{alice}");

    let connect = &alice["connect"];
    assert_eq!(connect["ok"], true, "{connect}");
    assert_eq!(connect["header"], json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(connect["claims"]["sub"], "local-widget-id");
    assert_eq!(connect["claims"]["attributes"]["nationalId"], "123456*****");
    assert_eq!(lifetime(&connect["claims"]), 500);

    let liveperson = &alice["liveperson"];
    assert_eq!(liveperson["ok"], true, "{liveperson}");
    assert_eq!(liveperson["header"]["alg"], "RS256");
    assert!(liveperson["header"]["kid"].is_string());
    assert_eq!(liveperson["claims"]["iss"], base.as_str());
    assert_eq!(liveperson["claims"]["lp_sdes"][0]["info"]["socialId"], "123456*****");
    assert_eq!(liveperson["claims"]["lp_sdes"][1]["personal"]["gender"], "FEMALE");
    assert_eq!(liveperson["jweHeader"], Value::Null, "not encrypted");

    let encrypted = &alice["livepersonEncrypted"];
    assert_eq!(encrypted["ok"], true, "{encrypted}");
    assert!(
        encrypted["status"]
            .as_str()
            .unwrap()
            .starts_with("Encrypted token received")
    );
    assert_eq!(encrypted["jweHeader"]["alg"], "RSA-OAEP-256");
    assert_eq!(encrypted["jweHeader"]["enc"], "A256GCM");
    assert_eq!(encrypted["jweHeader"]["cty"], "JWT");
    assert_eq!(encrypted["claims"]["sub"], "alice");

    let live_assist = &alice["liveAssist"];
    assert_eq!(live_assist["ok"], true, "{live_assist}");
    assert_eq!(live_assist["header"]["alg"], "RS256");
    assert_eq!(live_assist["claims"]["sub"], "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    assert_eq!(live_assist["claims"]["iss"], "127.0.0.1");

    // Intercom: booted with the signed token only; the user comes from the verified login.
    let intercom = &alice["intercom"];
    assert_eq!(intercom["ok"], true, "{intercom}");
    assert_eq!(intercom["header"], json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(intercom["claims"]["user_id"], "alice");
    assert_eq!(intercom["claims"]["email"], "alice@example.com");
    assert_eq!(lifetime(&intercom["claims"]), 7200);
    // CCAI Platform: the SDK stand-in took `token` from an object with that one member.
    let ccai = &alice["ccai"];
    assert_eq!(ccai["ok"], true, "{ccai}");
    assert_eq!(ccai["header"], json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(ccai["claims"]["iss"], "Local Example");
    assert_eq!(ccai["claims"]["identifier"], "alice");
    assert_eq!(ccai["claims"]["email"], "alice@example.com");
    assert_eq!(lifetime(&ccai["claims"]), 3600);

    // Zendesk: the stand-in widget got the bare token through jwtCallback and logged in.
    let zendesk = &alice["zendesk"];
    assert_eq!(zendesk["ok"], true, "{zendesk}");
    assert!(
        zendesk["status"].as_str().unwrap().starts_with("loginCallback(null)"),
        "{zendesk}"
    );
    let kid = zendesk["header"]["kid"].as_str().expect("kid").to_string();
    assert!(kid.starts_with("app_") && kid.len() == 28, "{kid}");
    assert_eq!(zendesk["header"], json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
    assert_eq!(zendesk["claims"]["scope"], "user");
    assert_eq!(zendesk["claims"]["external_id"], "alice");
    assert_eq!(zendesk["claims"]["email"], "alice@example.com");
    assert_eq!(
        zendesk["claims"]["email_verified"], false,
        "the dev login does not say it is verified"
    );
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("secrets.json")).unwrap()).unwrap();
    let zendesk_key: Value = serde_json::from_str(stored["whoscalling/zendesk-key"].as_str().unwrap()).unwrap();
    assert_eq!(
        zendesk_key["kid"],
        kid.as_str(),
        "the header's kid is the one stored with the secret"
    );

    // Salesforce: setIdentityToken got an RS256 token signed by the key /public-key/salesforce
    // serves (the single JWK with x5c that the keyset uploads), and a new one on expiry.
    let salesforce = &alice["salesforce"];
    assert_eq!(salesforce["ok"], true, "{salesforce}");
    assert!(
        salesforce["status"]
            .as_str()
            .unwrap()
            .starts_with("setIdentityToken accepted"),
        "{salesforce}"
    );
    assert_eq!(salesforce["header"]["alg"], "RS256");
    assert_eq!(salesforce["claims"]["iss"], base.as_str());
    assert_eq!(salesforce["claims"]["sub"], "alice");
    assert_eq!(salesforce["claims"].get("aud"), None);
    assert_eq!(lifetime(&salesforce["claims"]), 300);
    let upload: Value = reqwest::get(format!("{base}/public-key/salesforce"))
        .await
        .expect("public key")
        .json()
        .await
        .expect("a JWK");
    assert_eq!(salesforce["header"]["kid"], upload["kid"], "{upload}");
    assert!(upload["x5c"][0].is_string(), "{upload}");
    let renewed = &alice["salesforceRenewed"];
    assert_eq!(renewed["claims"]["sub"], "alice", "{renewed}");
    // Dynamics 365: the page passed the response text as is, and the stand-in widget got a JWT.
    let d365 = &alice["d365"];
    assert_eq!(d365["ok"], true, "{d365}");
    let d365_kid = d365["header"]["kid"].as_str().expect("kid").to_string();
    assert_eq!(d365["header"], json!({"alg": "RS256", "typ": "JWT", "kid": d365_kid}));
    assert_eq!(d365["claims"]["sub"], "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    assert_eq!(d365["claims"]["iss"], "127.0.0.1");
    assert_eq!(d365["claims"]["email"], "alice@example.com");
    assert_eq!(d365["claims"]["lwicontexts"], r#"{"msdyn_country":"NO"}"#);
    assert_eq!(lifetime(&d365["claims"]), 300);
    // Freshchat: the page sent the stand-in widget's UUID, the token binds it to the verified login,
    // and the widget accepted it.
    let freshchat = &alice["freshchat"];
    assert_eq!(freshchat["ok"], true, "{freshchat}");
    assert_eq!(freshchat["header"], json!({"alg": "HS256", "typ": "JWT"}));
    let widget_uuid = freshchat["widgetUuid"].as_str().expect("the stand-in's UUID");
    assert_eq!(widget_uuid.len(), 36, "{widget_uuid}");
    assert_eq!(freshchat["claims"]["freshchat_uuid"], widget_uuid);
    assert_eq!(freshchat["claims"]["reference_id"], "alice");
    assert_eq!(freshchat["claims"]["first_name"], "Alice");
    assert_eq!(freshchat["claims"]["email"], "alice@example.com");
    assert_eq!(lifetime(&freshchat["claims"]), 900);

    // Bob has no CRM contact: Live Assist's callback gets (null, reason); the others still work.
    let bob = tokio::task::spawn_blocking({
        let base = base.clone();
        move || drive_demo_page(&base, "bob")
    })
    .await
    .expect("browser");
    assert_eq!(
        bob["connect"]["claims"]["attributes"],
        json!({"firstName": "Bob", "lastName": "Smith"})
    );
    assert_eq!(bob["liveperson"]["ok"], true);
    assert_eq!(bob["intercom"]["claims"]["user_id"], "bob");
    assert_eq!(bob["zendesk"]["claims"]["external_id"], "bob");
    assert_eq!(bob["zendesk"]["claims"].get("email"), None, "bob has no email");
    assert_eq!(bob["salesforce"]["claims"]["sub"], "bob");
    assert_eq!(bob["freshchat"]["claims"]["reference_id"], "bob");
    assert_eq!(
        bob["freshchat"]["claims"]["freshchat_uuid"],
        bob["freshchat"]["widgetUuid"]
    );
    assert_ne!(
        bob["freshchat"]["widgetUuid"], alice["freshchat"]["widgetUuid"],
        "another browser, another UUID"
    );
    assert_eq!(bob["liveAssist"]["ok"], false);
    assert_eq!(bob["d365"]["ok"], false);
    assert!(
        bob["d365"]["status"]
            .as_str()
            .unwrap()
            .contains("403: insufficient_claims"),
        "{bob}"
    );
    assert!(
        bob["liveAssist"]["status"]
            .as_str()
            .unwrap()
            .contains("insufficient_claims"),
        "{bob}"
    );

    // The code-flow login: the page's token calls carry only the session cookie, which the token
    // endpoint takes only with an Origin (the page's POST fetches send one).
    let session = tokio::task::spawn_blocking(move || drive_demo_page(&base, "session"))
        .await
        .expect("browser");
    assert_eq!(session["consoleErrors"], json!([]), "{session}");
    assert_eq!(session["connect"]["ok"], true, "{session}");
    assert_eq!(session["connect"]["claims"]["attributes"]["nationalId"], "123456*****");
    assert_eq!(session["liveperson"]["ok"], true, "{session}");
    assert_eq!(session["intercom"]["ok"], true, "{session}");
    assert_eq!(session["salesforce"]["ok"], true, "{session}");
    assert_eq!(session["d365"]["ok"], true, "{session}");
    assert_eq!(session["freshchat"]["ok"], true, "{session}");

    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
    // The browser flow's logs (the dev provider, every token endpoint) hold none of alice's values.
    logs.assert_free_of(&["12345678901", "alice@example.com", "Nordmann", "1985-04-12"]);
}
