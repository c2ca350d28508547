//! Helpers for the integration tests: the real peers (moto's Secrets Manager, npm
//! `oidc-provider`, Python `jwcrypto` as an independent verifier), the sample events, and log
//! capture. The peers are installed by `scripts/setup-tools`; a missing one fails the test with
//! that instruction rather than skipping it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn tool(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `scripts/setup-tools` (or the README test command) first",
        path.display()
    );
    path
}

pub fn python() -> PathBuf {
    tool(workspace_root().join(".tools/venv/bin/python"))
}

pub fn node() -> PathBuf {
    let recorded = std::fs::read_to_string(workspace_root().join(".tools/node-bin")).unwrap_or_default();
    let recorded = recorded.trim();
    tool(if recorded.is_empty() {
        workspace_root().join("tests/peers/node_modules/.bin/node")
    } else {
        PathBuf::from(recorded)
    })
}

/// A peer process on loopback. It exits when its stdin closes, so it dies with the test
/// process even on a crash; dropping the handle kills it at once.
pub struct Peer {
    child: Child,
    pub url: String,
    name: String,
}

impl Peer {
    pub fn spawn(name: &str, mut command: Command) -> Peer {
        let log_dir = workspace_root().join("target/peer-logs");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log_path = log_dir.join(format!("{name}-{}-{}.log", std::process::id(), unique()));
        let log = std::fs::File::create(&log_path).expect("peer log file");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("peer stdout");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name} did not start; see {}", log_path.display()))
            .to_string();
        Peer {
            child,
            url,
            name: name.to_string(),
        }
    }

    /// Stops the peer now (an outage).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unique() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// moto's server, speaking the Secrets Manager API.
pub fn moto() -> Peer {
    let mut command = Command::new(python());
    command.arg(workspace_root().join("tests/peers/moto-server.py"));
    Peer::spawn("moto", command)
}

/// npm `oidc-provider`, with the accounts and client described in tests/peers/README.md, opted
/// in to scope claims in the ID token (`OIDC_ID_TOKEN_CLAIMS=all`): for tests that present the
/// ID token itself as the visitor's identity (a page's bearer token), which must carry the
/// person. By default the peer, like Signicat, puts only `sub` in the ID token.
pub fn oidc_provider_with_id_token_claims() -> Peer {
    let mut command = Command::new(node());
    command
        .arg(workspace_root().join("tests/peers/oidc-provider.mjs"))
        .env("OIDC_ID_TOKEN_CLAIMS", "all");
    Peer::spawn("oidc-provider", command)
}

/// The test client registered at [`oidc_provider_with_id_token_claims`].
pub const OIDC_CLIENT_ID: &str = "whoscalling-web";
const OIDC_CLIENT_SECRET: &str = "whoscalling-web-secret";
const OIDC_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

/// Logs `user` in at the provider as a browser would (authorization code flow with PKCE, the
/// provider's interactions finished automatically) and returns the ID token.
pub async fn log_in_at_provider(issuer: &str, user: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let verifier = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    let state = random_token();
    let mut url = url::Url::parse(&format!("{issuer}/auth")).expect("issuer URL");
    url.query_pairs_mut()
        .append_pair("client_id", OIDC_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email phone address nin")
        .append_pair("redirect_uri", OIDC_REDIRECT_URI)
        .append_pair("state", &state)
        .append_pair("nonce", &random_token())
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", user);
    // A minimal cookie jar: the provider's cookies are path-scoped but uniquely named.
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut next = url.to_string();
    let code = loop {
        let cookie_header = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = client
            .get(&next)
            .header("cookie", cookie_header)
            .send()
            .await
            .expect("provider request");
        for set_cookie in response.headers().get_all("set-cookie") {
            let pair = set_cookie
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                cookies.insert(name.trim().to_string(), value.to_string());
            }
        }
        assert!(
            response.status().is_redirection(),
            "login stopped at {} with {}",
            next,
            response.status()
        );
        let location = response.headers()["location"].to_str().expect("location").to_string();
        let location = url::Url::parse(&next)
            .expect("url")
            .join(&location)
            .expect("location URL");
        if location.as_str().starts_with(OIDC_REDIRECT_URI) {
            let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
            assert_eq!(query.get("state"), Some(&state), "state round trip");
            break query
                .get("code")
                .cloned()
                .unwrap_or_else(|| panic!("no code: {query:?}"));
        }
        next = location.to_string();
    };
    let response = client
        .post(format!("{issuer}/token"))
        .basic_auth(OIDC_CLIENT_ID, Some(OIDC_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", OIDC_REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "token endpoint refused the code");
    let body: Value = response.json().await.expect("token response");
    body["id_token"].as_str().expect("id_token").to_string()
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs the independent verifier (`tests/peers/verify_jwt.py`, jwcrypto) on `request` and
/// returns its verdict (`{"ok": true, "header": ..., "claims": ...}` or `{"ok": false, ...}`).
pub fn verify_independently(request: &Value) -> Value {
    run_verifier("tests/peers/verify_jwt.py", request)
}

/// Runs a Python verifier script with `request` as JSON on stdin and returns its JSON verdict.
fn run_verifier(script: &str, request: &Value) -> Value {
    let mut child = Command::new(python())
        .arg(workspace_root().join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("verifier");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("verifier output");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("verifier {script} said: {}", String::from_utf8_lossy(&output.stderr)))
}

/// A sample event from `events/`, decoded exactly as the Lambda runtime decodes it.
pub fn load_event(relative: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(workspace_root().join("events").join(relative)).expect("event file");
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{relative} is not an HTTP API event: {e}"))
}

/// The `WHOSCALLING_CONFIG` of `events/env.json` (what `sam local invoke --env-vars` uses).
pub fn events_config() -> whoscalling::ServiceConfig {
    events_config_for("MintTokenFunction")
}

/// The configuration `events/env.json` gives one function (by its template logical id): its
/// `WHOSCALLING_CONFIG` and any section variables, read as the function's `main` reads them.
pub fn events_config_for(function: &str) -> whoscalling::ServiceConfig {
    let env: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("events/env.json")).expect("env.json"))
            .expect("env.json JSON");
    let variables = env[function]
        .as_object()
        .unwrap_or_else(|| panic!("env.json has no {function}"))
        .clone();
    whoscalling::ServiceConfig::from_lookup(|name| variables.get(name).and_then(Value::as_str).map(String::from))
        .expect("events config")
}

/// `events/<function>/expected.json`, in file-name order, after checking that every event file
/// has an expectation and every expectation a file (so a new sample cannot go untested).
pub fn event_expectations(function: &str) -> Vec<(String, Value)> {
    let dir = workspace_root().join("events").join(function);
    let expected: std::collections::BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"))
            .expect("JSON");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("events dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && name != "expected.json")
        .collect();
    files.sort();
    assert_eq!(
        files,
        expected.keys().cloned().collect::<Vec<_>>(),
        "{function}: every event needs an expectation and vice versa"
    );
    expected.into_iter().collect()
}

/// A Secrets Manager client config for a moto server (dummy credentials, no instance metadata),
/// sending through the functions' own HTTP client.
pub fn secrets_manager_config(endpoint: &str) -> aws_sdk_secretsmanager::config::Builder {
    aws_sdk_secretsmanager::config::Builder::new()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .http_client(whoscalling::adapters::sdk_http::sdk_http_client())
        .region(aws_sdk_secretsmanager::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
}

/// Creates the secret `name` holding `value` (a moto server's Secrets Manager, through the real
/// SDK) and returns its ARN.
pub async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: impl Into<String>) -> String {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
    created.arn().expect("arn").to_string()
}

/// A DynamoDB client configuration for moto at `endpoint` (the functions' HTTP client), with short timeouts so a stopped
/// moto fails a call quickly instead of hanging the test.
pub fn dynamodb_config(endpoint: &str) -> aws_sdk_dynamodb::Config {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(3))
        .connect_timeout(std::time::Duration::from_secs(1))
        .build();
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .http_client(whoscalling::adapters::sdk_http::sdk_http_client())
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        .timeout_config(timeouts)
        .build()
}

/// The system clock, moved forward on demand: for "after the refetch interval" or "past max age"
/// against real peers, whose own tokens carry real times, without waiting.
#[derive(Debug, Default)]
pub struct AdvancingClock(std::sync::atomic::AtomicU64);

impl AdvancingClock {
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl whoscalling::Clock for AdvancingClock {
    fn now_unix(&self) -> u64 {
        whoscalling::SystemClock.now_unix() + self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Installs [`CapturedLogs`] as the global subscriber of every test binary that links this crate,
/// before its `main` runs, so every test's logs are captured and scanned whichever test starts
/// first, including tests that never look at their logs themselves. `scripts/scan-logs.py
/// --every-test-in tests/tests` (run by the test command) fails if a test binary left no log
/// file, so a file that uses nothing from this crate (and so does not link it) is noticed.
///
/// A constructor (`.init_array`, as the `ctor` crate generates) rather than a call in each test:
/// a call is forgotten, and a callsite first reached before any subscriber exists caches "never
/// enabled", so a late install misses its lines. rustc keeps `#[used]` statics of a dependency in
/// the link.
#[used]
#[cfg_attr(target_os = "linux", unsafe(link_section = ".init_array"))]
#[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__mod_init_func"))]
static CAPTURE_LOGS_OF_EVERY_TEST: extern "C" fn() = {
    extern "C" fn install() {
        CapturedLogs::install();
    }
    install
};

/// Everything the tests' code logs, in the production JSON format. Also appended to
/// `target/test-logs/<test binary>-<pid>.jsonl`, which `scripts/scan-logs.py` (run by the test
/// command after every scenario) scans for anything token-, key- or person-shaped.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>, Option<Arc<Mutex<std::fs::File>>>);

impl CapturedLogs {
    /// Installs the capture as this test binary's global subscriber (once; the constructor above
    /// already did so before `main`), and returns it.
    pub fn install() -> CapturedLogs {
        static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let dir = workspace_root().join("target/test-logs");
            let file = std::fs::create_dir_all(&dir).ok().and_then(|()| {
                let binary = std::env::current_exe()
                    .ok()?
                    .file_stem()?
                    .to_string_lossy()
                    .into_owned();
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{binary}-{}.jsonl", std::process::id())))
                    .ok()
            });
            let logs = CapturedLogs(Arc::default(), file.map(|f| Arc::new(Mutex::new(f))));
            let subscriber = whoscalling::logging::json_subscriber(logs.clone());
            tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
            logs
        })
        .clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Fails if any of `needles` (tokens, keys, personal values) appears in the logs.
    pub fn assert_free_of(&self, needles: &[&str]) {
        let text = self.text();
        assert!(
            text.contains("token request") || text.contains("provider request"),
            "the capture saw no request logs at all"
        );
        for needle in needles.iter().filter(|n| !n.is_empty()) {
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                let field = line
                    .split(needle)
                    .next()
                    .unwrap_or_default()
                    .rsplit(',')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                panic!(
                    "the logs contain a secret or personal value ({} chars), after {field:?}",
                    needle.len()
                );
            }
        }
    }
}

impl CapturedLogs {
    /// Fails if key material appears in the logs (without requiring request logs to exist).
    pub fn assert_free_of_material(&self, material: &str) {
        assert!(
            !material.is_empty() && !self.text().contains(material),
            "the logs contain key material"
        );
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        if let Some(file) = &self.1 {
            file.lock().unwrap_or_else(|e| e.into_inner()).write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The body of a handler response as JSON.
pub fn json_body(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        lambda_http::Body::Empty => Value::Null,
        other => panic!("unexpected body {other:?}"),
    }
}

/// A long-running jwcrypto verifier (`verify_jwt.py --lines`): one request in, one verdict out,
/// for tests that check many tokens.
pub struct LineVerifier {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl LineVerifier {
    pub fn start() -> LineVerifier {
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/peers/verify_jwt.py"))
            .arg("--lines")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("verifier");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        LineVerifier { child, stdin, stdout }
    }

    pub fn verify(&mut self, request: &Value) -> Value {
        writeln!(self.stdin, "{request}").expect("write to verifier");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("verifier answer");
        serde_json::from_str(&line).expect("verdict JSON")
    }
}

impl Drop for LineVerifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Intercom's rules checked by PyJWT (`tests/peers/verify_intercom.py`; request and answer in its
/// docstring): exact header, the secret's UTF-8 bytes (never base64-decoded), string claims, lifetime.
pub fn verify_intercom(request: &Value) -> Value {
    run_verifier("tests/peers/verify_intercom.py", request)
}
