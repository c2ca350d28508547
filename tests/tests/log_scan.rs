//! The log scan can fail: a token, a key, an email address and a national id planted in logs
//! written in the production format make `scripts/scan-logs.py` fire and name the field each is
//! in (never the value); a clean control (a request line with its request and trace ids, an EMF
//! metric record) passes; a test binary that left no log file is noticed; and this binary's logs
//! were captured before any test ran.

use std::path::{Path, PathBuf};
use std::process::Command;

use whoscalling_tests::{python, random_token, workspace_root};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whoscalling-log-scan-{}", random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `emit` with the production JSON subscriber writing to `<dir>/<name>-<hash>-1.jsonl`.
fn write_logs(dir: &Path, name: &str, emit: impl FnOnce()) {
    let file = std::fs::File::create(dir.join(format!("{name}-0123456789abcdef-1.jsonl"))).unwrap();
    let subscriber = whoscalling::logging::json_subscriber(std::sync::Mutex::new(file));
    tracing::subscriber::with_default(subscriber, emit);
}

/// (exit code, stderr) of the scanner on `dir`.
fn scan(dir: &Path, extra: &[&str]) -> (i32, String) {
    let output = Command::new(python())
        .arg(workspace_root().join("scripts/scan-logs.py"))
        .args(extra)
        .arg(dir)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An EMF record as the handlers print it: one JSON object per request, metrics under `_aws`.
const EMF: &str = r#"{"_aws":{"Timestamp":1795239802123,"CloudWatchMetrics":[{"Namespace":"whoscalling","Dimensions":[["Function","Profile"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"Function":"mint-token","Profile":"connect","Requests":1,"Latency":12.5,"requestId":"8f5c0e1a-77b2-4b5c-9d6e-a12345678901"}"#;

fn clean_lines() {
    // A request id whose last group ends in 11 digits, and an X-Ray trace id: whole values of
    // these shapes carry nothing personal and must not read as a national id.
    tracing::info!(
        request_id = "8f5c0e1a-77b2-4b5c-9d6e-a12345678901",
        trace_id = "Root=1-5759e988-bd862e3fe12345678901e4ab;Parent=53995c3f42cd8ad8;Sampled=1",
        profile = "connect",
        status = 200u16,
        key_version = "00000000-0000-4000-8000-000000000001",
        expires_at = 1_795_239_802u64,
        "token request"
    );
    tracing::warn!(
        error = "the identity provider answered HTTP 503",
        "identity provider keys unavailable: keeping the cached keys"
    );
}

#[test]
fn planted_secrets_and_personal_values_make_the_scanner_fire_naming_their_fields() {
    let dir = scratch();
    let jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
    let pem =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";
    let email = "alice@example.com";
    let national_id = 12_345_678_901u64;
    write_logs(&dir, "planted", || {
        clean_lines();
        tracing::info!(token = jwt, "token request");
        tracing::error!(error = %format!("could not parse {pem}"), "token request failed");
        tracing::info!(email, "provider request");
        tracing::info!(nin = national_id, "provider request");
    });
    let (code, stderr) = scan(&dir, &[]);
    assert_eq!(code, 1, "{stderr}");
    for (shape, field) in [
        ("a JWT", "token"),
        ("a PEM block", "error"),
        ("an email address", "email"),
        ("a national id", "nin"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(shape) && l.ends_with(&format!(" in {field}"))),
            "{shape} in {field}: {stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 4, "exactly the four planted values: {stderr}");
    for value in [jwt, "MIGHAgEAMBMGByqGSM49", email, &national_id.to_string()] {
        assert!(!stderr.contains(value), "the scanner must not print what it found");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The control: request lines with request and trace ids, an outage warning and an EMF record.
#[test]
fn clean_logs_with_request_ids_and_emf_records_pass_the_scan() {
    let dir = scratch();
    write_logs(&dir, "clean", clean_lines);
    let mut text = std::fs::read_to_string(dir.join("clean-0123456789abcdef-1.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 2, "the subscriber wrote the lines: {text}");
    text.push_str(EMF);
    text.push('\n');
    std::fs::write(dir.join("clean-0123456789abcdef-1.jsonl"), text).unwrap();
    let (code, stderr) = scan(&dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_test_binary_without_a_log_file_fails_the_scan() {
    let (tests, logs) = (scratch(), scratch());
    for name in ["key_rotation", "session_key_rotation"] {
        std::fs::write(tests.join(format!("{name}.rs")), "").unwrap();
    }
    write_logs(&logs, "session_key_rotation", clean_lines);
    let every = ["--every-test-in", tests.to_str().unwrap()];
    let (code, stderr) = scan(&logs, &every);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("key_rotation.rs left no log file") && !stderr.contains("session_key_rotation.rs left"),
        "{stderr}"
    );
    // Control: with both present, it passes.
    write_logs(&logs, "key_rotation", clean_lines);
    assert_eq!(scan(&logs, &every).0, 0);
    let _ = (std::fs::remove_dir_all(tests), std::fs::remove_dir_all(logs));
}

/// The constructor in `whoscalling_tests` installed the capture before `main`: no test here
/// installs it, yet a global subscriber is set and this binary's log file exists.
#[test]
fn this_binary_captured_its_logs_before_any_test_ran() {
    assert!(
        tracing::dispatcher::has_been_set(),
        "no global subscriber: the capture constructor did not run"
    );
    let binary = std::env::current_exe()
        .unwrap()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let file = workspace_root().join(format!("target/test-logs/{binary}-{}.jsonl", std::process::id()));
    assert!(file.exists(), "{} is missing", file.display());
}
