//! The local run's demo page in a real browser (Debian's headless Chromium driven by
//! `playwright-core`): a sample customer logs in at the dev provider, the Amazon Connect
//! `authenticate` callback fetches a token, and the page shows its decoded header and claims.

use std::process::Command;

use serde_json::{Value, json};
use whoscalling_local::{Options, serve};
use whoscalling_tests::{node, random_token, workspace_root};

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
    assert!(output.status.success(), "the demo page run failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("demo-page.mjs prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_obtains_a_connect_token_in_a_real_browser() {
    let state_dir = std::env::temp_dir().join(format!("whoscalling-demo-{}", random_token()));
    let server = serve(Options { port: 0, state_dir: state_dir.clone(), config_file: None }).await.expect("serve");
    let base = server.base_url.clone();

    let alice = tokio::task::spawn_blocking({
        let base = base.clone();
        move || drive_demo_page(&base, "alice")
    })
    .await
    .expect("browser");
    assert!(alice["status"].as_str().unwrap_or_default().starts_with("Token received"), "{alice}");
    assert_eq!(alice["header"], json!({"alg": "HS256", "typ": "JWT"}));
    let claims = &alice["claims"];
    assert_eq!(claims["sub"], "local-widget-id");
    assert_eq!(claims["customerId"], "alice");
    assert_eq!(claims["attributes"]["firstName"], "Alice");
    assert_eq!(claims["attributes"]["nationalId"], "123456*****");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 500);
    assert_eq!(alice["consoleErrors"], json!([]));

    let bob = tokio::task::spawn_blocking(move || drive_demo_page(&base, "bob")).await.expect("browser");
    assert_eq!(bob["claims"]["attributes"], json!({"firstName": "Bob", "lastName": "Smith"}));

    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}
