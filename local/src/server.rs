//! The loopback HTTP server: turns each request into the API Gateway v2 shape the Lambda
//! handlers receive, so the local run exercises exactly the deployed code paths.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use mint_token::Deps;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use whoscalling::secrets::FileSecretStore;
use whoscalling::{SecretName, SecretStore, ServiceConfig, SystemClock};

use crate::dev_idp::DevIdentityProvider;
use crate::state::{DEV_IDP_KEY_SECRET, ensure_secrets_file};
use crate::LocalError;

const DEMO_PAGE: &str = include_str!("../demo/index.html");
const DEFAULT_CONFIG: &str = include_str!("../default-config.json");
/// The local server refuses bodies past this before any handler sees them (handlers cap lower).
const MAX_LOCAL_BODY: usize = 1024 * 1024;

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    pub port: u16,
    pub state_dir: PathBuf,
    pub config_file: Option<PathBuf>,
}

impl Options {
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, LocalError> {
        let mut options = Options { port: 3000, state_dir: PathBuf::from(".whoscalling"), config_file: None };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| LocalError::Usage(format!("{name} needs a value")));
            match arg.as_str() {
                "--port" => {
                    options.port = value("--port")?.parse().map_err(|_| LocalError::Usage("--port takes a number".into()))?
                }
                "--state-dir" => options.state_dir = PathBuf::from(value("--state-dir")?),
                "--config" => options.config_file = Some(PathBuf::from(value("--config")?)),
                "-h" | "--help" => return Err(LocalError::Usage(USAGE.into())),
                other => return Err(LocalError::Usage(format!("unknown argument `{other}`\n{USAGE}"))),
            }
        }
        Ok(options)
    }
}

pub const USAGE: &str = "usage: whoscalling-local [--port 3000] [--state-dir .whoscalling] [--config FILE]";

struct App {
    deps: Deps,
    dev_idp: DevIdentityProvider,
    request_counter: AtomicU64,
}

/// A running local server.
pub struct LocalServer {
    pub address: SocketAddr,
    pub base_url: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds 127.0.0.1 (port 0 picks a free one), builds the handlers and serves until dropped.
pub async fn serve(options: Options) -> Result<LocalServer, LocalError> {
    let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
    let address = listener.local_addr()?;
    let base_url = format!("http://127.0.0.1:{}", address.port());

    let secrets_path = ensure_secrets_file(&options.state_dir)?;
    let secrets = Arc::new(FileSecretStore::new(secrets_path));
    let config = match &options.config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| LocalError::State(format!("{}: {e}", path.display())))?;
            ServiceConfig::from_json(&path.display().to_string(), &text)?
        }
        None => ServiceConfig::from_json("the embedded default config", &DEFAULT_CONFIG.replace("{PORT}", &address.port().to_string()))?,
    };
    let dev_key_name = SecretName::try_from(DEV_IDP_KEY_SECRET.to_string()).map_err(LocalError::State)?;
    let dev_key = secrets.get(&dev_key_name).await.map_err(|e| LocalError::State(e.to_string()))?;
    let clock = Arc::new(SystemClock);
    let dev_idp = DevIdentityProvider::new(format!("{base_url}/dev"), dev_key.value.expose(), clock.clone())?;
    // The real bearer path: JWKS fetched over HTTP, from this very server for the dev provider.
    let deps = Deps::from_config(&config, secrets, clock)?;
    let app = Arc::new(App { deps, dev_idp, request_counter: AtomicU64::new(0) });

    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let app = app.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(route(&app, request, peer).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(LocalServer { address, base_url, task })
}

async fn route(app: &App, request: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (_, p) if p.starts_with("/token/") => {
            let profile = p.trim_start_matches("/token/").to_string();
            lambda_route(app, request, peer, "/token/{profile}", HashMap::from([("profile".to_string(), profile)])).await
        }
        (Method::POST, "/dev/login") => dev_login(app, request).await,
        (Method::GET, "/dev/.well-known/openid-configuration") => json_response(StatusCode::OK, &app.dev_idp.discovery()),
        (Method::GET, "/dev/jwks.json") => json_response(StatusCode::OK, app.dev_idp.jwks()),
        (Method::GET, "/") => {
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(DEMO_PAGE.as_bytes())));
            response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
            response
        }
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found", "error_description": "no such endpoint"})),
    }
}

/// Hands the request to a Lambda handler as API Gateway (HTTP API, payload v2) would.
async fn lambda_route(
    app: &App,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    route_key: &str,
    path_parameters: HashMap<String, String>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let Ok(collected) = Limited::new(body, MAX_LOCAL_BODY).collect().await else {
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": "request_too_large", "error_description": "the request body is too large"}),
        );
    };
    let bytes = collected.to_bytes();
    let body = match bytes.is_empty() {
        true => Body::Empty,
        false => match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        },
    };
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(parts.uri.path().to_string());
    http.source_ip = Some(peer.ip().to_string());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(format!("{} {route_key}", parts.method));
    context.request_id = Some(format!("local-{}", app.request_counter.fetch_add(1, Ordering::Relaxed)));
    context.http = http;
    let lambda_request = lambda_http::Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_path_parameters(path_parameters)
        .with_query_string_parameters(query);

    match mint_token::function_handler(&app.deps, lambda_request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = match body {
                Body::Empty => Bytes::new(),
                Body::Text(text) => Bytes::from(text),
                Body::Binary(bytes) => Bytes::from(bytes),
                _ => Bytes::new(),
            };
            hyper::Response::from_parts(parts, Full::new(bytes))
        }
        Err(_) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": "server_error"})),
    }
}

async fn dev_login(app: &App, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let bad = |description: &str| {
        json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_request", "error_description": description}))
    };
    let Ok(collected) = Limited::new(request.into_body(), 64 * 1024).collect().await else {
        return bad("the body is too large");
    };
    let claims = match serde_json::from_slice::<Value>(&collected.to_bytes()) {
        Ok(Value::Object(claims)) => claims,
        _ => return bad("send a JSON object of claims"),
    };
    if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
        return bad("the claims need a non-empty string `sub`");
    }
    match app.dev_idp.login(claims) {
        Ok(id_token) => json_response(StatusCode::OK, &json!({"id_token": id_token})),
        Err(_) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": "server_error"})),
    }
}

fn json_response(status: StatusCode, body: &Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}
