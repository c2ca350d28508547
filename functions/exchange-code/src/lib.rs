//! The OpenID provider that chat platforms run an authorization-code flow against (LivePerson
//! code flow, Puzzel Secure Chat, Genesys Cloud). Routes:
//!
//! - `GET /.well-known/openid-configuration`: discovery;
//! - `GET /oauth2/authorize`: a code for the verified visitor, by redirect; a visitor without a
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
use whoscalling::http::{self, ApiError, Cors, ErrorCode, OriginCheck};
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
            Route::Discovery | Route::Authorize => method == Method::GET,
            Route::PageCode => method == Method::POST || method == Method::OPTIONS,
            Route::Token => method == Method::POST,
            Route::UserInfo => method == Method::GET || method == Method::POST,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            Route::Discovery | Route::Authorize => "GET",
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
        Some(Route::Authorize) => authorize(deps, &request, &mut outcome).await,
        Some(Route::PageCode) => page_code(deps, &request, &mut outcome).await,
        Some(Route::Token) => token(deps, &request, &mut outcome).await,
        Some(Route::UserInfo) => userinfo(deps, &request, &mut outcome).await,
    };
    let status = response.status().as_u16();
    let request_id = http::request_id(&request).unwrap_or("-");
    let route = route.map_or("(none)", Route::name);
    let Outcome { client, error, grant_id, kid } = outcome;
    if status >= 500 {
        tracing::error!(request_id, route, client, status, error, "provider request failed");
    } else {
        tracing::info!(request_id, route, client, status, error, grant_id, kid, "provider request");
    }
    Ok(response)
}

fn discovery(deps: &Deps) -> Response<Body> {
    let mut response = Response::new(Body::Text(deps.discovery_body.clone()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Public metadata that changes only with a deployment.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET /oauth2/authorize`. Until the client and redirect URI are trusted, errors are a page;
/// after that they go back to the client as the protocol says. With no query and a login
/// configured, it is the return from that login: the request waiting in the browser's cookie
/// resumes, checked again in full.
async fn authorize<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Response<Body> {
    let query = request.uri().query().unwrap_or("");
    let resuming = match &deps.login {
        Some(login) if query.is_empty() => Some(login),
        _ => None,
    };
    let mut response = authorize_request(deps, request, query, resuming, outcome).await;
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

async fn authorize_request<'a>(
    deps: &'a Deps,
    request: &Request,
    query: &str,
    resuming: Option<&AuthorizeLogin>,
    outcome: &mut Outcome<'a>,
) -> Response<Body> {
    let params = match resuming {
        Some(login) => login.resume(cookie_header(request)).await,
        // Re-parse the raw query: the decoded map would hide repeated parameters' order and count.
        None => Params::from_form(query.as_bytes()),
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
        match visitor(deps, request).await {
            Ok(identity) => deps.provider.issue_code(&checked, identity).await.map(Next::Code),
            Err(error) if error.is_transient() => Err(OAuthError::unavailable()),
            // A resumed request never starts a second login, and `prompt=none` forbids any.
            Err(error) => match &deps.login {
                Some(login) if resuming.is_none() && !prompt_none(&params) => login.start(query).await.map(Next::Login),
                _ => Err(login_error(error)),
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

/// OIDC Core 3.1.2.1: `prompt=none` asks for no interaction, so no login may start.
fn prompt_none(params: &Params) -> bool {
    params.get("prompt").is_some_and(|prompt| prompt.split(' ').any(|value| value == "none"))
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
            // RFC 6749 5.2: a failed Basic attempt is answered with the scheme's challenge.
            if error.code == OAuthErrorCode::InvalidClient && matches!(authorization, Ok(Some(_))) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"whoscalling\""));
            }
            response
        }
    }
}

/// `GET|POST /oauth2/userinfo` with `Authorization: Bearer <access token>` (RFC 6750 2.1 only:
/// tokens in a query string or form body are not accepted).
async fn userinfo<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Response<Body> {
    let token = match http::credentials(request) {
        Ok(Credentials { bearer: Some(token), .. }) => Ok(token),
        Ok(_) => Err(OAuthError::new(OAuthErrorCode::InvalidToken, "send the access token as `Authorization: Bearer`")),
        Err(_) => Err(OAuthError::invalid_request("send the access token once, as `Authorization: Bearer`")),
    };
    let result = match token {
        Ok(token) => deps.provider.userinfo(token).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(claims) => no_store_json(StatusCode::OK, &Value::Object(claims)),
        Err(error) => {
            outcome.error = Some(error.code.as_str());
            let mut response = oauth_json(&error, error.code.status());
            let challenge = match error.code {
                OAuthErrorCode::InvalidToken => "Bearer error=\"invalid_token\"",
                OAuthErrorCode::InvalidRequest => "Bearer error=\"invalid_request\"",
                _ => "Bearer",
            };
            if error.code.status() == StatusCode::UNAUTHORIZED || error.code == OAuthErrorCode::InvalidRequest {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            response
        }
    }
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
