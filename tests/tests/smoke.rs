//! `scripts/smoke` against the local run, started as `local_run.rs` starts it: every check passes
//! on the real stack, and the script fails with one clear line when the stack answers wrongly
//! (a foreign origin passed as allowed, a profile that does not exist, a JWKS without its cache
//! headers from a stub server).

use std::process::Output;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use whoscalling_local::{Options, serve};
use whoscalling_tests::{random_token, workspace_root};

async fn start() -> (whoscalling_local::LocalServer, std::path::PathBuf) {
    let state_dir = std::env::temp_dir().join(format!("whoscalling-smoke-test-{}", random_token()));
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

/// Runs the script as an operator does (its shebang, its exec bit), from the workspace root.
async fn smoke(args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = tokio::process::Command::new(workspace_root().join("scripts/smoke"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .await
        .expect("scripts/smoke runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8 output");
    (status.code().expect("exit code"), text(stdout), text(stderr))
}

/// The failure contract: exit 1 and exactly one line on stderr, `FAIL <what>: <why>`.
fn assert_one_failure_line(code: i32, stderr: &str, starts_with: &str, mentions: &str) {
    assert_eq!(code, 1, "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on the first failure: {stderr}");
    assert!(lines[0].starts_with(starts_with), "{}", lines[0]);
    assert!(lines[0].contains(mentions), "{}", lines[0]);
}

#[tokio::test]
async fn smoke_passes_against_the_local_run_and_fails_clearly_when_it_answers_wrongly() {
    let (server, state_dir) = start().await;
    let base = server.base_url.clone();

    // Control first: the real local run, the defaults (its own origin, profile `connect`), and the
    // provider required, so discovery is checked rather than skipped.
    let (code, stdout, stderr) = smoke(&[&base, "--provider", "yes"]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    for check in [
        "JWKS",
        "discovery",
        "preflight, allowed origin",
        "preflight, foreign origin",
        "token, foreign origin",
        "token, no identity",
        "token, unknown profile",
    ] {
        assert!(
            stdout.contains(&format!("ok   {check}: ")),
            "{check} ran and passed: {stdout}"
        );
    }
    assert!(stdout.contains("smoke: 7 checks passed"), "{stdout}");
    // Another profile and localhost, the local run's other allowed origin, pass too.
    let localhost = base.replace("127.0.0.1", "localhost");
    let (code, stdout, stderr) = smoke(&[&base, "--origin", &localhost, "--profile", "live-assist"]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");

    // A foreign origin passed as allowed: the preflight gets no CORS headers.
    let (code, stdout, stderr) = smoke(&[&base, "--origin", "http://127.0.0.1:1"]).await;
    assert_one_failure_line(
        code,
        &stderr,
        "FAIL CORS preflight from http://127.0.0.1:1",
        "expected 204 or 200",
    );
    assert!(
        stdout.contains("ok   JWKS") && !stdout.contains("smoke:"),
        "stops at the first failure: {stdout}"
    );

    // A profile the stack does not serve: the request without identity gets 404, not 401.
    let (code, _, stderr) = smoke(&[&base, "--profile", "no-such-profile"]).await;
    assert_one_failure_line(
        code,
        &stderr,
        "FAIL token request without identity",
        "status 404, expected 401 missing_token",
    );

    // Discovery required from a stack whose issuer is another URL: localhost is the same server,
    // but the issuer names 127.0.0.1.
    let (code, _, stderr) = smoke(&[&localhost, "--provider", "yes"]).await;
    assert_one_failure_line(code, &stderr, "FAIL discovery", &format!("expected '{localhost}'"));

    server.task.abort();
    let _ = std::fs::remove_dir_all(state_dir);
}

/// A server that answers every request 200 with a well-formed JWKS marked `no-store`: the first
/// check must refuse it for its cache headers.
#[tokio::test]
async fn smoke_fails_on_a_jwks_without_public_cache_headers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let stub = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let body = r#"{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    let (code, stdout, stderr) = smoke(&[&base]).await;
    assert_one_failure_line(
        code,
        &stderr,
        "FAIL JWKS",
        "Cache-Control is 'no-store', expected public with a max-age above 0",
    );
    assert!(stdout.is_empty(), "{stdout}");
    stub.abort();
}
