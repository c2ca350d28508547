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
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use mint_token::Deps;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use whoscalling::adapters::FileSecretStore;
use whoscalling::keys::PinName;
use whoscalling::openid_provider::{GrantStore, MemoryGrantStore};
use whoscalling::rotation::PinnedKeyAction;
use whoscalling::{Clock, SecretName, SecretStore, ServiceConfig, SystemClock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::LocalError;
use crate::dev_idp::{self, DevIdentityProvider};
use crate::rotation::LocalRotation;
use crate::state::{
    DEV_IDP_KEY_SECRET, DEV_LIVEPERSON_KEY_SECRET, DEV_UPSTREAM_CLIENT_SECRET, ensure_pinned_keys, ensure_secrets_file,
};

const DEMO_PAGE: &str = include_str!("../demo/index.html");
const DEFAULT_CONFIG: &str = include_str!("../default-config.json");
/// The local server refuses bodies past this before any handler sees them (handlers cap lower).
const MAX_LOCAL_BODY: usize = 1024 * 1024;

/// Command-line options.
#[derive(Clone)]
pub struct Options {
    pub port: u16,
    pub state_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    /// Stores to use instead of `secrets.json` and in-memory grants (integration tests put
    /// moto's Secrets Manager and DynamoDB here; the binary never does).
    pub stores: Option<Stores>,
}

/// Real stores behind the local server's endpoints.
#[derive(Clone)]
pub struct Stores {
    pub secrets: Arc<dyn SecretStore>,
    pub grants: Arc<dyn GrantStore>,
    /// The clock the OpenID provider times its codes and grants by (tests move it to expire a
    /// code instead of waiting for one).
    pub provider_clock: Arc<dyn Clock>,
}

impl Options {
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, LocalError> {
        let mut options = Options {
            port: 3000,
            state_dir: PathBuf::from(".whoscalling"),
            config_file: None,
            stores: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| LocalError::Usage(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--port" => {
                    options.port = value("--port")?
                        .parse()
                        .map_err(|_| LocalError::Usage("--port takes a number".into()))?
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
    keys: publish_keys::Deps,
    provider: Option<exchange_code::Deps>,
    login: Option<visitor_login::Deps>,
    dev_idp: DevIdentityProvider,
    /// The dev provider's copy of our upstream client secret, and our callback URL there.
    dev_client_secret: String,
    dev_callback: String,
    /// The LivePerson stand-in's private key (PKCS#8 DER), to show what LivePerson would decrypt.
    liveperson_private_key: Vec<u8>,
    /// The rotation function over `secrets.json` (`/dev/rotate-keys`, `/dev/pinned-keys/...`,
    /// `/dev/rotate-session-key`).
    rotation: Option<LocalRotation>,
    /// The configuration served, for `/dev/puzzel-auth-mapping`.
    config: ServiceConfig,
    request_counter: AtomicU64,
}

/// Which Lambda handler a route belongs to.
#[derive(Clone, Copy)]
enum Function {
    MintToken,
    PublishKeys,
    ExchangeCode,
    VisitorLogin,
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
    let file_secrets = Arc::new(FileSecretStore::new(secrets_path.clone()));
    let secrets = file_secrets.clone();
    let read = |name: &'static str| {
        let secrets = secrets.clone();
        async move {
            let name = SecretName::try_from(name.to_string()).map_err(LocalError::State)?;
            secrets.get(&name).await.map_err(|e| LocalError::State(e.to_string()))
        }
    };
    let liveperson_key = read(DEV_LIVEPERSON_KEY_SECRET).await?;
    // Config files may use the same placeholders as the embedded default.
    let placeholders = |document: &str| -> Result<String, LocalError> {
        Ok(document
            .replace("{BASE_URL}", &base_url)
            .replace("{PORT}", &address.port().to_string())
            .replace("{HOST}", "127.0.0.1")
            .replace(
                "{LIVEPERSON_TEST_PUBLIC_KEY}",
                &dev_idp::rsa_public_key_spki(liveperson_key.value.expose())?,
            ))
    };
    let config = match &options.config_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| LocalError::State(format!("{}: {e}", path.display())))?;
            ServiceConfig::from_json(&path.display().to_string(), &placeholders(&text)?)?
        }
        None => ServiceConfig::from_json("the embedded default config", &placeholders(DEFAULT_CONFIG)?)?,
    };
    let pins: Vec<PinName> = config.pinned_keys().into_iter().collect();
    ensure_pinned_keys(&secrets_path, &pins)?;
    // Rotation acts on secrets.json; with injected stores (tests) there is no file to rotate.
    let rotation = options
        .stores
        .is_none()
        .then(|| LocalRotation::new(secrets_path.clone(), pins, Arc::new(SystemClock)));
    let (secrets, grants): (Arc<dyn SecretStore>, Arc<dyn GrantStore>) = match &options.stores {
        Some(stores) => (stores.secrets.clone(), stores.grants.clone()),
        None => (file_secrets.clone(), Arc::new(MemoryGrantStore::new())),
    };
    let dev_key = read(DEV_IDP_KEY_SECRET).await?;
    let dev_client_secret = read(DEV_UPSTREAM_CLIENT_SECRET).await?.value.expose().to_string();
    let liveperson_key_text = liveperson_key.value.expose().trim().to_string();
    let clock = Arc::new(SystemClock);
    let dev_idp = DevIdentityProvider::new(format!("{base_url}/dev"), dev_key.value.expose(), clock.clone())?;
    // The real bearer path: JWKS fetched over HTTP, from this very server for the dev provider.
    let deps = Deps::from_config(&config, secrets.clone(), clock)?;
    let keys = publish_keys::Deps::new(&config, secrets.clone())?;
    // The OpenID provider at the root; grants in memory (codes live a minute).
    let provider = match &config.provider {
        Some(_) => {
            let clock = options
                .stores
                .as_ref()
                .map_or_else(|| Arc::new(SystemClock) as Arc<dyn Clock>, |s| s.provider_clock.clone());
            Some(exchange_code::Deps::from_config(
                &config,
                grants,
                secrets.clone(),
                clock,
            )?)
        }
        None => None,
    };
    let login = match &config.upstream {
        Some(_) => Some(visitor_login::Deps::new(
            &config,
            secrets.clone(),
            Arc::new(SystemClock),
        )?),
        None => None,
    };
    let liveperson_private_key = STANDARD
        .decode(&liveperson_key_text)
        .map_err(|_| LocalError::State("bad LivePerson test key".into()))?;
    let dev_callback = format!("{base_url}/callback/dev");
    let app = Arc::new(App {
        deps,
        keys,
        provider,
        login,
        dev_idp,
        dev_client_secret,
        dev_callback,
        liveperson_private_key,
        rotation,
        config,
        request_counter: AtomicU64::new(0),
    });

    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(route(&app, request, peer).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(LocalServer {
        address,
        base_url,
        task,
    })
}

async fn route(app: &App, request: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (_, p) if p.starts_with("/token/") => {
            let profile = p.trim_start_matches("/token/").to_string();
            let parameters = HashMap::from([("profile".to_string(), profile)]);
            lambda_route(app, Function::MintToken, request, peer, "/token/{profile}", parameters).await
        }
        (
            _,
            p @ ("/.well-known/openid-configuration"
            | "/oauth2/authorize"
            | "/oauth2/code"
            | "/oauth2/token"
            | "/oauth2/userinfo"),
        ) if app.provider.is_some() => {
            let route_key = p.to_string();
            lambda_route(app, Function::ExchangeCode, request, peer, &route_key, HashMap::new()).await
        }
        (_, p)
            if app.login.is_some() && (p.starts_with("/login/") || p.starts_with("/callback/") || p == "/logout") =>
        {
            let (route_key, parameters) = match p.split_once('/').map(|(_, rest)| rest.split_once('/')) {
                Some(Some((kind, provider))) => (
                    format!("/{kind}/{{provider}}"),
                    HashMap::from([("provider".to_string(), provider.to_string())]),
                ),
                _ => ("/logout".to_string(), HashMap::new()),
            };
            lambda_route(app, Function::VisitorLogin, request, peer, &route_key, parameters).await
        }
        (_, "/.well-known/jwks.json") => {
            lambda_route(
                app,
                Function::PublishKeys,
                request,
                peer,
                "/.well-known/jwks.json",
                HashMap::new(),
            )
            .await
        }
        (_, p) if p.starts_with("/public-key/") => {
            let profile = p.trim_start_matches("/public-key/").to_string();
            let parameters = HashMap::from([("profile".to_string(), profile)]);
            lambda_route(
                app,
                Function::PublishKeys,
                request,
                peer,
                "/public-key/{profile}",
                parameters,
            )
            .await
        }
        (Method::POST, "/dev/login") => dev_login(app, request).await,
        (Method::POST, "/dev/liveperson/decrypt") => liveperson_decrypt(app, request).await,
        (Method::POST, "/dev/rotate-keys") => key_change(app, None).await,
        (Method::POST, "/dev/rotate-session-key") => session_key_rotation(app).await,
        (Method::POST, p) if p.starts_with("/dev/pinned-keys/") => {
            let command = p
                .trim_start_matches("/dev/pinned-keys/")
                .split_once('/')
                .and_then(|(pin, action)| {
                    let action = match action {
                        "stage" => PinnedKeyAction::Stage,
                        "switch" => PinnedKeyAction::Switch,
                        _ => return None,
                    };
                    Some((PinName::parse(pin)?, action))
                });
            match command {
                Some(command) => key_change(app, Some(command)).await,
                None => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": "not_found", "error_description": "POST /dev/pinned-keys/{pin}/stage or /switch"}),
                ),
            }
        }
        (Method::GET, "/dev/.well-known/openid-configuration") => {
            json_response(StatusCode::OK, &app.dev_idp.discovery())
        }
        (Method::GET, "/dev/jwks.json") => json_response(StatusCode::OK, app.dev_idp.jwks()),
        (Method::GET, "/dev/authorize") => dev_authorize(app, &request),
        (Method::POST, "/dev/token") => dev_token(app, request).await,
        (Method::GET, "/dev/userinfo") => dev_userinfo(app, &request),
        (Method::GET, "/dev/puzzel-auth-mapping") => puzzel_auth_mapping(app, &request),
        (Method::GET, "/") => {
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(DEMO_PAGE.as_bytes())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "error_description": "no such endpoint"}),
        ),
    }
}

/// Hands the request to a Lambda handler as API Gateway (HTTP API, payload v2) would.
async fn lambda_route(
    app: &App,
    function: Function,
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

    let outcome = match function {
        Function::MintToken => mint_token::function_handler(&app.deps, lambda_request).await,
        Function::PublishKeys => publish_keys::function_handler(&app.keys, lambda_request).await,
        Function::ExchangeCode => match &app.provider {
            Some(provider) => exchange_code::function_handler(provider, lambda_request).await,
            None => return json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        },
        Function::VisitorLogin => match &app.login {
            Some(login) => visitor_login::function_handler(login, lambda_request).await,
            None => return json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        },
    };
    match outcome {
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

type LocalResponse = hyper::Response<Full<Bytes>>;

/// Puzzel's `authMapping` for this configuration's `claim_policy.roles`, named as the client's
/// userinfo names the claims (`?client_id=`; default: the only openid-connect client).
fn puzzel_auth_mapping(app: &App, request: &hyper::Request<Incoming>) -> LocalResponse {
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    match whoscalling::openid_provider::auth_mapping::auth_mapping(
        &app.config,
        query.get("client_id").map(String::as_str),
    ) {
        Ok(mapping) => json_response(StatusCode::OK, &json!(mapping)),
        Err(error) => bad_request(&error.to_string()),
    }
}

fn bad_request(description: &str) -> LocalResponse {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

/// The JSON object a dev endpoint was sent (64 KiB at most), or the 400 to answer.
async fn json_object(
    request: hyper::Request<Incoming>,
    what: &str,
) -> Result<serde_json::Map<String, Value>, LocalResponse> {
    let collected = Limited::new(request.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|_| bad_request("the body is too large"))?;
    match serde_json::from_slice::<Value>(&collected.to_bytes()) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(bad_request(what)),
    }
}

async fn dev_login(app: &App, request: hyper::Request<Incoming>) -> LocalResponse {
    let bad = bad_request;
    let claims = match json_object(request, "send a JSON object of claims").await {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
        return bad("the claims need a non-empty string `sub`");
    }
    match app.dev_idp.login(claims) {
        Ok(id_token) => json_response(StatusCode::OK, &json!({"id_token": id_token})),
        Err(_) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": "server_error"})),
    }
}

/// Plays LivePerson's part for the demo page: opens a JWE with the stand-in private key and shows
/// the inner token's header and claims (decoded only; the page's verifier is LivePerson).
async fn liveperson_decrypt(app: &App, request: hyper::Request<Incoming>) -> LocalResponse {
    let bad = bad_request;
    let body = match json_object(request, "send {\"token\": \"<compact JWE>\"}").await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(token) = body.get("token").and_then(Value::as_str).map(String::from) else {
        return bad("send {\"token\": \"<compact JWE>\"}");
    };
    let Ok((jwe_header, inner)) = whoscalling::jwe::decrypt_compact(&token, &app.liveperson_private_key) else {
        return bad("the token does not decrypt with the LivePerson test key");
    };
    let decode = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let inner = String::from_utf8_lossy(&inner).into_owned();
    let mut parts = inner.split('.');
    let (Some(header), Some(claims)) = (parts.next().and_then(decode), parts.next().and_then(decode)) else {
        return bad("the decrypted content is not a JWT");
    };
    json_response(
        StatusCode::OK,
        &json!({"jwe_header": jwe_header, "header": header, "claims": claims}),
    )
}

fn dev_oauth_error(error: dev_idp::DevOAuthError) -> LocalResponse {
    let status = match error {
        dev_idp::DevOAuthError::InvalidClient | dev_idp::DevOAuthError::InvalidToken => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    json_response(status, &json!({"error": error.code()}))
}

fn dev_authorize(app: &App, request: &hyper::Request<Incoming>) -> LocalResponse {
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    match app.dev_idp.authorize(&query, &app.dev_callback) {
        Ok(location) => {
            let mut response = hyper::Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Err(error) => dev_oauth_error(error),
    }
}

async fn dev_token(app: &App, request: hyper::Request<Incoming>) -> LocalResponse {
    // client_secret_basic with the client id and secret form-encoded (RFC 6749 2.3.1).
    let basic_ok = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some(decode(id)? == dev_idp::DEV_UPSTREAM_CLIENT_ID && decode(secret)? == app.dev_client_secret)
        })
        .unwrap_or(false);
    let Ok(collected) = Limited::new(request.into_body(), 64 * 1024).collect().await else {
        return bad_request("the body is too large");
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&collected.to_bytes())
        .into_owned()
        .collect();
    match app.dev_idp.token(basic_ok, &form) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => dev_oauth_error(error),
    }
}

fn dev_userinfo(app: &App, request: &hyper::Request<Incoming>) -> LocalResponse {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| app.dev_idp.userinfo(t)) {
        Some(Ok(claims)) => json_response(StatusCode::OK, &claims),
        _ => dev_oauth_error(dev_idp::DevOAuthError::InvalidToken),
    }
}

/// `POST /dev/rotate-keys` (one scheduled rotation) or a pinned-key command: the key event as
/// the deployment would publish it, or the rotation error's stable name.
async fn key_change(app: &App, command: Option<(PinName, PinnedKeyAction)>) -> hyper::Response<Full<Bytes>> {
    let Some(rotation) = &app.rotation else {
        return json_response(
            StatusCode::NOT_IMPLEMENTED,
            &json!({"error": "not_available", "error_description": "rotation acts on secrets.json; this run uses other stores"}),
        );
    };
    let outcome = match command {
        None => rotation.rotate().await,
        Some((pin, action)) => rotation.pinned(pin, action).await,
    };
    match outcome {
        Ok(event) => json_response(StatusCode::OK, &serde_json::to_value(&event).unwrap_or_default()),
        Err(error) => json_response(
            StatusCode::CONFLICT,
            &json!({"error": error.name(), "error_description": error.to_string()}),
        ),
    }
}

/// `POST /dev/rotate-session-key`: one scheduled rotation of the session key (sessions go on).
async fn session_key_rotation(app: &App) -> hyper::Response<Full<Bytes>> {
    let Some(rotation) = &app.rotation else {
        return json_response(
            StatusCode::NOT_IMPLEMENTED,
            &json!({"error": "not_available", "error_description": "rotation acts on secrets.json; this run uses other stores"}),
        );
    };
    match rotation.rotate_session_key().await {
        Ok(version) => json_response(StatusCode::OK, &json!({"rotated": "session_key", "version": version})),
        Err(error) => json_response(
            StatusCode::CONFLICT,
            &json!({"error": error.name(), "error_description": error.to_string()}),
        ),
    }
}

fn json_response(status: StatusCode, body: &Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}
