//! The OpenID provider that chat platforms run an authorization-code flow against (LivePerson
//! code flow, Puzzel Secure Chat, Genesys Cloud). Routes:
//!
//! - `GET /.well-known/openid-configuration`: discovery;
//! - `GET|POST /oauth2/authorize`: a code for the verified visitor, by redirect (OIDC Core 3.1.2.1:
//!   POST carries the same parameters as a form body); a visitor without a
//!   login is sent to the upstream login first when one is configured, and the request resumes
//!   at `GET /oauth2/authorize` with no query (the login's fixed return address);
//! - `POST /oauth2/code`: the same for page JavaScript (LivePerson's `lpGetAuthenticationToken`);
//! - `POST /oauth2/token`: the code exchange, server to server;
//! - `GET|POST /oauth2/userinfo`: the mapped claims for an access token.
//!
//! The handler only shapes HTTP; the protocol lives in [`whoscalling::provider`].

use std::borrow::Cow;
use std::sync::Arc;

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::{Value, json};
use tracing::Instrument;
use whoscalling::http::{self, ApiError, Cors, ErrorCode, OriginCheck};
use whoscalling::metrics::{self, RequestMetrics};
use whoscalling::identity::Credentials;
use whoscalling::provider::login::{AuthorizeLogin, LoginRedirect};
use whoscalling::provider::{Channel, GrantStore, IssuedCode, OAuthError, OAuthErrorCode, Params, ProviderService, TrustedRedirect};
use whoscalling::config::IdentitySource;
use whoscalling::{Clock, ConfigError, IdentityError, IdentityVerifier, SecretStore, ServiceConfig, VerifiedClaims};

/// Everything a request needs, built once per container.
pub struct Deps {
    pub cors: Cors,
    pub identity: IdentityVerifier,
    pub provider: ProviderService,
    /// The upstream login a visitor without one is sent to from `/oauth2/authorize` (`None`:
    /// `login_required`).
    pub login: Option<AuthorizeLogin>,
    pub max_body_bytes: usize,
    discovery_body: String,
}

impl Deps {
    /// `identity` is built by the caller so tests and the local run choose where the JWKS comes from.
    pub fn new(
        config: &ServiceConfig,
        identity: IdentityVerifier,
        grants: Arc<dyn GrantStore>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let sessions = config.accepts(IdentitySource::Session);
        let identity = identity.with_sessions_from(config, secrets.clone(), clock.clone())?;
        let login = AuthorizeLogin::from_config(config, secrets.clone(), clock.clone())?;
        let provider = ProviderService::new(config, grants, secrets, clock)?;
        Ok(Self {
            cors: Cors::new(config.allowed_origins.clone(), "POST, OPTIONS").with_credentials(sessions),
            identity,
            discovery_body: provider.discovery().to_string(),
            provider,
            login,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The production wiring: the visitor's JWKS over HTTPS as configured.
    pub fn from_config(
        config: &ServiceConfig,
        grants: Arc<dyn GrantStore>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let identity = IdentityVerifier::from_config(config, clock.clone())?;
        Self::new(config, identity, grants, secrets, clock)
    }
}

/// The grants table the Lambda keeps codes and access tokens in; required at cold start (the
/// local run keeps grants in memory and needs none).
pub fn grants_table(config: &ServiceConfig) -> Result<String, ConfigError> {
    config.provider.as_ref().and_then(|p| p.grants_table.clone()).ok_or(ConfigError::Setting {
        setting: "provider.grants_table".into(),
        reason: "the Lambda keeps grants in DynamoDB: name the table (\"${WHOSCALLING_GRANTS_TABLE}\")".into(),
    })
}

/// The endpoints, by the path's ending (a stage prefix may come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Discovery,
    Authorize,
    PageCode,
    Token,
    UserInfo,
}

impl Route {
    fn of(path: &str) -> Option<Self> {
        [
            ("/.well-known/openid-configuration", Route::Discovery),
            ("/oauth2/authorize", Route::Authorize),
            ("/oauth2/code", Route::PageCode),
            ("/oauth2/token", Route::Token),
            ("/oauth2/userinfo", Route::UserInfo),
        ]
        .into_iter()
        .find_map(|(suffix, route)| path.ends_with(suffix).then_some(route))
    }

    fn name(self) -> &'static str {
        match self {
            Route::Discovery => "discovery",
            Route::Authorize => "authorize",
            Route::PageCode => "code",
            Route::Token => "token",
            Route::UserInfo => "userinfo",
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Discovery => method == Method::GET,
            Route::Authorize => method == Method::GET || method == Method::POST,
            Route::PageCode => method == Method::POST || method == Method::OPTIONS,
            Route::Token => method == Method::POST,
            Route::UserInfo => method == Method::GET || method == Method::POST,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            Route::Discovery => "GET",
            Route::Authorize => "GET, POST",
            Route::PageCode => "POST, OPTIONS",
            Route::Token => "POST",
            Route::UserInfo => "GET, POST",
        }
    }
}

/// What one request did, for its log line (ids and codes only, never values).
#[derive(Default)]
struct Outcome<'a> {
    client: Option<&'a str>,
    error: Option<&'static str>,
    grant_id: Option<String>,
    kid: Option<String>,
}

pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let span = http::invocation_span(&request, FUNCTION);
    let ((response, mut record), counters) = metrics::measure(handle(deps, &request).instrument(span)).await;
    record.counters = counters;
    record.emit();
    Ok(response)
}

/// The function's name in metrics and logs.
const FUNCTION: &str = "exchange-code";

async fn handle<'r>(deps: &'r Deps, request: &'r Request) -> (Response<Body>, RequestMetrics<'r>) {
    let route = Route::of(request.uri().path());
    let mut outcome = Outcome::default();
    let response = match route {
        None => oauth_json(&OAuthError::invalid_request("no such endpoint"), StatusCode::NOT_FOUND),
        Some(route) if !route.allows(request.method()) => {
            let mut response = oauth_json(&OAuthError::invalid_request("method not allowed"), StatusCode::METHOD_NOT_ALLOWED);
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(route.allow_header()));
            response
        }
        Some(Route::Discovery) => discovery(deps),
        Some(Route::Authorize) => authorize(deps, request, &mut outcome).await,
        Some(Route::PageCode) => page_code(deps, request, &mut outcome).await,
        Some(Route::Token) => token(deps, request, &mut outcome).await,
        Some(Route::UserInfo) => userinfo(deps, request, &mut outcome).await,
    };
    let status = response.status().as_u16();
    let request_id = http::request_id(request).unwrap_or("-");
    let route_name = route.map_or("(none)", Route::name);
    let Outcome { client, error, grant_id, kid } = outcome;
    // An id_token is signed only by a successful token request (its kid is recorded).
    let tokens_minted = u32::from(matches!(route, Some(Route::Token)) && kid.is_some());
    if status >= 500 {
        tracing::error!(request_id, route = route_name, client, status, error, "provider request failed");
    } else {
        tracing::info!(request_id, route = route_name, client, status, error, grant_id, kid, "provider request");
    }
    // Only token requests count per profile: the dimension stays off every other route.
    let profile = client.filter(|_| matches!(route, Some(Route::Token))).and_then(|c| deps.provider.client_profile(c));
    (response, RequestMetrics { profile, error, tokens_minted, ..http::request_metrics(request, FUNCTION) })
}

fn discovery(deps: &Deps) -> Response<Body> {
    let mut response = Response::new(Body::Text(deps.discovery_body.clone()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Public metadata that changes only with a deployment.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET|POST /oauth2/authorize`. Until the client and redirect URI are trusted, errors are a
/// page; after that they go back to the client as the protocol says. A GET with no query and a
/// login configured is the return from that login: the request waiting in the browser's cookie
/// resumes, checked again in full.
async fn authorize<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Response<Body> {
    let query = request.uri().query().unwrap_or("");
    // OIDC Core 3.1.2.1: a POST carries the same parameters as a form body. They are taken from
    // one place only: a POST with a query string as well is ambiguous.
    let raw = if request.method() == Method::POST {
        let body = body_bytes(request, deps.max_body_bytes).and_then(|body| {
            if !content_type_is(request, "application/x-www-form-urlencoded") {
                return Err(OAuthError::invalid_request("send the authorization request as an application/x-www-form-urlencoded body"));
            }
            if !query.is_empty() {
                return Err(OAuthError::invalid_request("send the parameters in the body or the query string, not both"));
            }
            std::str::from_utf8(body).map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))
        });
        match body {
            Ok(body) => body,
            Err(error) => return error_page(&error, outcome),
        }
    } else {
        query
    };
    let resuming = match &deps.login {
        Some(login) if request.method() == Method::GET && query.is_empty() => Some(login),
        _ => None,
    };
    let mut response = authorize_request(deps, request, raw, resuming, outcome).await;
    if let Some(login) = resuming
        && let Ok(clear) = HeaderValue::from_str(&login.clear_cookie())
    {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// Where an authorization with a checked request goes next.
enum Next {
    Code(IssuedCode),
    Login(LoginRedirect),
}

/// `raw` is the request's parameters form-encoded (the query, or a POST's body).
async fn authorize_request<'a>(
    deps: &'a Deps,
    request: &Request,
    raw: &str,
    resuming: Option<&AuthorizeLogin>,
    outcome: &mut Outcome<'a>,
) -> Response<Body> {
    let (params, sent_to_login_at) = match resuming {
        Some(login) => match login.resume_pending(cookie_header(request)).await {
            Ok(resumed) => (Ok(resumed.params), Some(resumed.sent_to_login_at)),
            Err(error) => (Err(error), None),
        },
        // Re-parse the raw form: the decoded map would hide repeated parameters' order and count.
        None => (Params::from_form(raw.as_bytes()), None),
    };
    let params = match params {
        Ok(params) => params,
        Err(error) => return error_page(&error, outcome),
    };
    outcome.client = deps.provider.registered_client(params.get("client_id")).map(|id| id.as_str());
    let target = match deps.provider.trusted_redirect(&params, Channel::Redirect) {
        Ok(target) => target,
        Err(error) => return error_page(&error, outcome),
    };
    let state = params.get("state");
    let result = async {
        let checked = deps.provider.check_request(target.clone(), &params, Channel::Redirect)?;
        // A resumed request never starts a second login, and `prompt=none` forbids any.
        let login = deps.login.as_ref().filter(|_| resuming.is_none() && !checked.prompt.none);
        match visitor(deps, request).await {
            Ok(identity) => match deps.provider.check_login(&checked, &identity, sent_to_login_at) {
                Ok(()) => deps.provider.issue_code(&checked, identity).await.map(Next::Code),
                // `prompt=login`, `select_account` or an exceeded `max_age`: a fresh login cures it.
                Err(error) if matches!(error.code, OAuthErrorCode::LoginRequired | OAuthErrorCode::AccountSelectionRequired) => match login {
                    Some(login) => login.start(raw, true).await.map(Next::Login),
                    None => Err(error),
                },
                Err(error) => Err(error),
            },
            Err(error) if error.is_transient() => Err(OAuthError::unavailable()),
            Err(error) => match login {
                Some(login) => login.start(raw, false).await.map(Next::Login),
                None => Err(login_error(error)),
            },
        }
    }
    .await;
    if let Err(error) = &result {
        outcome.error = Some(error.code.as_str());
    }
    let state = state.filter(|s| s.len() <= 1024);
    match result {
        Ok(Next::Code(issued)) => redirect(&deps.provider.redirect_location(&target, Ok(&issued), state)),
        Ok(Next::Login(login)) => {
            let mut response = redirect(&login.location);
            if let Ok(cookie) = HeaderValue::from_str(&login.set_cookie) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => redirect(&deps.provider.redirect_location(&target, Err(&error), state)),
    }
}

fn cookie_header(request: &Request) -> Option<&str> {
    request.headers().get(header::COOKIE).and_then(|v| v.to_str().ok())
}

/// `POST /oauth2/code`: the code as JSON for page JavaScript, which hands it to the chat
/// platform (`callback({ssoKey, redirect_uri})` for LivePerson). CORS as for `/token`.
async fn page_code<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Response<Body> {
    let origin = deps.cors.check(request.headers());
    if origin == OriginCheck::Denied {
        let error = ApiError::new(ErrorCode::OriginNotAllowed, "this origin may not call the code endpoint");
        outcome.error = Some(error.code.as_str());
        return deps.cors.error(&error, &origin);
    }
    if request.method() == Method::OPTIONS {
        return deps.cors.preflight(&origin);
    }
    let params = match json_params(request, deps.max_body_bytes) {
        Ok(params) => params,
        Err(error) => return page_error(deps, &origin, error, outcome),
    };
    outcome.client = deps.provider.registered_client(params.get("client_id")).map(|id| id.as_str());
    let identity = match http::credentials(request) {
        Ok(credentials) => deps.identity.verify_with_source(credentials).await,
        Err(error) => Err(error),
    };
    let identity = match identity {
        // As at /token: the ambient session cookie counts only on a browser's CORS request. (The
        // authorization endpoint is a top-level navigation, which carries no Origin on GET; it
        // answers with a redirect to a registered redirect_uri, never a readable body.)
        Ok((_, IdentitySource::Session)) if origin == OriginCheck::Absent => {
            let error = ApiError::new(ErrorCode::OriginRequired, "a session cookie is accepted only on a browser's CORS request (with an allowed Origin)");
            return page_error(deps, &origin, Failure::Api(error), outcome);
        }
        Ok((identity, _)) => identity,
        Err(error) => return page_error(deps, &origin, Failure::Api(ApiError::from(error)), outcome),
    };
    let issued = async {
        let target = deps.provider.trusted_redirect(&params, Channel::PageScript)?;
        let checked = deps.provider.check_request(target, &params, Channel::PageScript)?;
        let issued = deps.provider.issue_code(&checked, identity).await?;
        Ok::<_, OAuthError>((checked.target, issued))
    }
    .await;
    match issued {
        Ok((TrustedRedirect { redirect_uri, .. }, issued)) => {
            let body = json!({"ssoKey": issued.code, "redirect_uri": redirect_uri, "expires_in": issued.expires_in});
            deps.cors.json(StatusCode::OK, &body, &origin)
        }
        Err(error) => page_error(deps, &origin, Failure::OAuth(error), outcome),
    }
}

/// `POST /oauth2/token` (RFC 6749 4.1.3; errors as 5.2).
async fn token<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Response<Body> {
    let mut authorizations = request.headers().get_all(header::AUTHORIZATION).iter();
    let authorization = match (authorizations.next(), authorizations.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.as_bytes())),
        _ => Err(OAuthError::invalid_request("send one Authorization header")),
    };
    let result = async {
        let authorization = authorization.clone()?;
        let params = form_params(request, deps.max_body_bytes)?;
        outcome.client = deps.provider.registered_client(params.get("client_id")).map(|id| id.as_str());
        deps.provider.exchange(authorization, &params).await
    }
    .await;
    match result {
        Ok(response) => {
            outcome.grant_id = Some(response.grant_id.clone());
            outcome.kid = Some(response.kid.clone());
            no_store_json(StatusCode::OK, &response.body)
        }
        Err(error) => {
            outcome.error = Some(error.code.as_str());
            let mut response = oauth_json(&error, error.code.status());
            // RFC 6749 5.2 asks for the challenge when Basic was tried; we send it on every 401
            // (no authentication, or client_secret_post with a wrong secret too): Basic is the
            // method every client library supports, so it is the one to name.
            if error.code == OAuthErrorCode::InvalidClient {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"whoscalling\""));
            }
            response
        }
    }
}

/// `GET|POST /oauth2/userinfo` with `Authorization: Bearer <access token>` (RFC 6750 2.1) or, on
/// a POST, `access_token` in a form body (2.2; pyoidc's default). Never in the query string
/// (2.3: it ends up in access logs), and never two ways at once.
async fn userinfo<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Response<Body> {
    // From the raw URI too: API Gateway's decoded parameters are not there for every caller.
    let in_query = form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()).any(|(name, _)| name == "access_token");
    let token = match http::credentials(request) {
        _ if in_query => Err(OAuthError::invalid_request("send the access token as `Authorization: Bearer` or in a form body, never in the URL")),
        Ok(Credentials { bearer, .. }) => match (bearer, form_token(deps, request)) {
            (_, Err(error)) => Err(error),
            (Some(_), Ok(Some(_))) => Err(OAuthError::invalid_request("send the access token one way, not two")),
            (Some(token), Ok(None)) => Ok(Some(token.to_string())),
            (None, Ok(body)) => Ok(body),
        },
        Err(_) => Err(OAuthError::invalid_request("send the access token once, as `Authorization: Bearer` or in a form body")),
    };
    let result = match token {
        Ok(Some(token)) => deps.provider.userinfo(&token).await,
        Ok(None) => {
            // RFC 6750 3.1: a request with no authentication at all gets the challenge without an
            // error code (it is not an error to have to authenticate).
            outcome.error = Some("no_token");
            let mut response = no_store_json(StatusCode::UNAUTHORIZED, &json!({"error_description": "send the access token as `Authorization: Bearer`"}));
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"whoscalling\""));
            return response;
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(claims) => no_store_json(StatusCode::OK, &Value::Object(claims)),
        Err(error) => {
            outcome.error = Some(error.code.as_str());
            let mut response = oauth_json(&error, error.code.status());
            let challenge = match error.code {
                OAuthErrorCode::InvalidToken => "Bearer realm=\"whoscalling\", error=\"invalid_token\"",
                OAuthErrorCode::InvalidRequest => "Bearer realm=\"whoscalling\", error=\"invalid_request\"",
                _ => "Bearer realm=\"whoscalling\"",
            };
            if error.code.status() == StatusCode::UNAUTHORIZED || error.code == OAuthErrorCode::InvalidRequest {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            response
        }
    }
}

/// RFC 6750 2.2: `access_token` in an `application/x-www-form-urlencoded` POST body. Other bodies
/// carry no token (`Ok(None)`).
fn form_token(deps: &Deps, request: &Request) -> Result<Option<String>, OAuthError> {
    if request.method() != Method::POST || !content_type_is(request, "application/x-www-form-urlencoded") {
        return Ok(None);
    }
    let params = Params::from_form(body_bytes(request, deps.max_body_bytes)?)?;
    Ok(params.get("access_token").map(str::to_string))
}

async fn visitor(deps: &Deps, request: &Request) -> Result<VerifiedClaims, IdentityError> {
    let credentials = http::credentials(request)?;
    deps.identity.verify(credentials).await
}

/// At the authorization endpoint, a visitor without a valid login is `login_required`; an
/// identity provider outage is ours (`temporarily_unavailable`).
fn login_error(error: IdentityError) -> OAuthError {
    if error.is_transient() {
        OAuthError::unavailable()
    } else {
        OAuthError::new(OAuthErrorCode::LoginRequired, "the visitor has no valid login")
    }
}

enum Failure {
    Api(ApiError),
    OAuth(OAuthError),
}

fn page_error<'a>(deps: &Deps, origin: &OriginCheck, failure: Failure, outcome: &mut Outcome<'a>) -> Response<Body> {
    match failure {
        Failure::Api(error) => {
            outcome.error = Some(error.code.as_str());
            deps.cors.error(&error, origin)
        }
        Failure::OAuth(error) => {
            outcome.error = Some(error.code.as_str());
            let mut response = deps.cors.json(error.code.status(), &error.body(), origin);
            if error.code == OAuthErrorCode::TemporarilyUnavailable {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            response
        }
    }
}

fn body_bytes(request: &Request, max_bytes: usize) -> Result<&[u8], OAuthError> {
    let body: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err(OAuthError::invalid_request("unreadable request body")),
    };
    if body.len() > max_bytes {
        return Err(OAuthError::invalid_request(format!("the request body exceeds {max_bytes} bytes")));
    }
    Ok(body)
}

fn content_type_is(request: &Request, expected: &str) -> bool {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(expected)
}

fn form_params(request: &Request, max_bytes: usize) -> Result<Params, OAuthError> {
    let body = body_bytes(request, max_bytes)?;
    if !content_type_is(request, "application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("send an application/x-www-form-urlencoded body"));
    }
    if request.uri().query().is_some_and(|q| !q.is_empty()) {
        // Parameters belong in the body; a query string would end up in access logs.
        return Err(OAuthError::invalid_request("send the parameters in the body, not the query string"));
    }
    Params::from_form(body)
}

/// The code endpoint's JSON object of string members, as parameters.
fn json_params(request: &Request, max_bytes: usize) -> Result<Params, Failure> {
    let body = body_bytes(request, max_bytes).map_err(Failure::OAuth)?;
    if !content_type_is(request, "application/json") {
        return Err(Failure::Api(ApiError::new(ErrorCode::UnsupportedMediaType, "send an application/json object")));
    }
    let invalid = || Failure::OAuth(OAuthError::invalid_request("the body must be a JSON object of string members"));
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else { return Err(invalid()) };
    let mut pairs = Vec::with_capacity(members.len());
    for (name, value) in members {
        let Value::String(value) = value else { return Err(invalid()) };
        pairs.push((Cow::Owned(name), Cow::Owned(value)));
    }
    Params::from_pairs(pairs).map_err(Failure::OAuth)
}

fn no_store_json(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_json(error: &OAuthError, status: StatusCode) -> Response<Body> {
    let mut response = no_store_json(status, &error.body());
    if error.code == OAuthErrorCode::TemporarilyUnavailable {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The code is in the URL: the next page must not leak it through Referer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The page for errors that must not be redirected (unknown client, unregistered redirect URI).
fn error_page<'a>(error: &OAuthError, outcome: &mut Outcome<'a>) -> Response<Body> {
    outcome.error = Some(error.code.as_str());
    // The caller's mistakes are 400; our own trouble (the session key unreadable while resuming) is not.
    let status = match error.code {
        OAuthErrorCode::TemporarilyUnavailable | OAuthErrorCode::ServerError => error.code.status(),
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = http::error_page(status, "This sign-in request cannot be completed", &error.description, error.code.as_str());
    if error.code == OAuthErrorCode::TemporarilyUnavailable {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}
