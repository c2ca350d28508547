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
//! The handler only shapes HTTP; the protocol lives in [`whoscalling::openid_provider`].

use std::sync::Arc;

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::Value;
use whoscalling::http::oauth::{self, ProviderRoute};
use whoscalling::http::{self, ApiError, Cors, ErrorCode, OriginCheck, Reply};
use whoscalling::metrics::RequestMetrics;
use whoscalling::openid_provider::login::AuthorizeLogin;
use whoscalling::openid_provider::{
    AuthorizeInput, Authorized, GrantStore, OAuthErrorCode, OpenIdProvider, ProviderService,
};
use whoscalling::values::IdentitySource;
use whoscalling::{Clock, ConfigError, IdentityVerifier, SecretStore, ServiceConfig};

/// Everything a request needs, built once per container.
pub struct Deps {
    pub cors: Cors,
    pub provider: OpenIdProvider,
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
        // The upstream login a visitor without one is sent to from `/oauth2/authorize` (`None`:
        // `login_required`).
        let login = AuthorizeLogin::from_config(config, secrets.clone(), clock.clone())?;
        let service = ProviderService::new(config, grants, secrets, clock)?;
        Ok(Self {
            cors: Cors::new(config.allowed_origins.clone(), "POST, OPTIONS").with_credentials(sessions),
            discovery_body: service.discovery().to_string(),
            provider: OpenIdProvider::new(service, identity, login),
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

/// What one request did, for its log line (ids and codes only, never values).
#[derive(Default)]
struct Outcome<'a> {
    client: Option<&'a str>,
    error: Option<&'static str>,
    grant_id: Option<String>,
    kid: Option<String>,
}

pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    http::serve(FUNCTION, &request, handle(deps, &request)).await
}

/// The function's name in metrics and logs.
const FUNCTION: &str = "exchange-code";

async fn handle<'r>(deps: &'r Deps, request: &'r Request) -> (Reply, RequestMetrics<'r>) {
    let route = ProviderRoute::of(request.uri().path());
    let mut outcome = Outcome::default();
    let reply = match route {
        None => Reply::error(&ApiError::new(ErrorCode::UnknownEndpoint, "no such endpoint")),
        Some(route) if !route.allows(request.method()) => {
            Reply::error(&ApiError::new(ErrorCode::MethodNotSupported, "method not allowed"))
                .header(header::ALLOW, route.allow_header())
        }
        Some(ProviderRoute::Discovery) => {
            // Public metadata that changes only with a deployment.
            Reply::public(
                "application/json",
                deps.discovery_body.clone(),
                HeaderValue::from_static("public, max-age=300"),
            )
        }
        Some(ProviderRoute::Authorize) => authorize(deps, request, &mut outcome).await,
        Some(ProviderRoute::PageCode) => page_code(deps, request, &mut outcome).await,
        Some(ProviderRoute::Token) => token(deps, request, &mut outcome).await,
        Some(ProviderRoute::UserInfo) => userinfo(deps, request, &mut outcome).await,
    };
    let status = reply.status();
    let request_id = http::request_id(request).unwrap_or("-");
    let route_name = route.map_or("(none)", ProviderRoute::name);
    let Outcome {
        client,
        error,
        grant_id,
        kid,
    } = outcome;
    // An id_token is signed only by a successful token request (its kid is recorded).
    let tokens_minted = u32::from(matches!(route, Some(ProviderRoute::Token)) && kid.is_some());
    if status >= 500 {
        tracing::error!(
            request_id,
            route = route_name,
            client,
            status,
            error,
            "provider request failed"
        );
    } else {
        tracing::info!(
            request_id,
            route = route_name,
            client,
            status,
            error,
            grant_id,
            kid,
            "provider request"
        );
    }
    // Only token requests count per profile: the dimension stays off every other route.
    let profile = client
        .filter(|_| matches!(route, Some(ProviderRoute::Token)))
        .and_then(|c| deps.provider.service.client_profile(c));
    (
        reply,
        RequestMetrics {
            profile,
            error,
            tokens_minted,
            ..http::request_metrics(request, FUNCTION)
        },
    )
}

/// Records the error's code for the log line and renders it.
fn fail(outcome: &mut Outcome<'_>, error: ApiError, render: impl FnOnce(&ApiError) -> Reply) -> Reply {
    outcome.error = Some(error.code.as_str());
    render(&error)
}

/// The page for authorization errors that must not be redirected (unknown client, unregistered
/// redirect URI, a request that cannot be resumed).
fn error_page(error: &ApiError) -> Reply {
    Reply::error_page(error, "This sign-in request cannot be completed")
}

/// `GET|POST /oauth2/authorize`: decodes the request and renders the provider's answer.
async fn authorize<'a>(deps: &'a Deps, request: &'a Request, outcome: &mut Outcome<'a>) -> Reply {
    let form = match oauth::authorize_form(request, deps.max_body_bytes) {
        Ok(form) => form,
        Err(error) => return fail(outcome, error.into(), error_page),
    };
    let input = AuthorizeInput {
        form,
        bare_get: request.method() == Method::GET && request.uri().query().unwrap_or("").is_empty(),
        cookies: http::cookies(request),
        credentials: http::credentials(request),
    };
    let authorization = deps.provider.authorize(input).await;
    outcome.client = authorization.client.map(|id| id.as_str());
    let reply = match authorization.answer {
        Authorized::Page(error) => fail(outcome, error.into(), error_page),
        Authorized::Redirect { location, error } => {
            outcome.error = error.map(OAuthErrorCode::as_str);
            Reply::redirect(&location, [])
        }
    };
    authorization
        .set_cookies
        .iter()
        .fold(reply, |reply, cookie| reply.cookie(cookie))
}

/// `POST /oauth2/code`: the code as JSON for page JavaScript, which hands it to the chat
/// platform (`callback({ssoKey, redirect_uri})` for LivePerson). CORS as for `/token`.
async fn page_code<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Reply {
    let origin = deps.cors.check(request.headers());
    let cors_error = |error: &ApiError| deps.cors.error(error, &origin);
    if origin == OriginCheck::Denied {
        let error = ApiError::new(
            ErrorCode::OriginNotAllowed,
            "this origin may not call the code endpoint",
        );
        return fail(outcome, error, cors_error);
    }
    if request.method() == Method::OPTIONS {
        return deps.cors.preflight(&origin);
    }
    let params = match oauth::json_params(request, deps.max_body_bytes) {
        Ok(params) => params,
        Err(error) => return fail(outcome, error, cors_error),
    };
    outcome.client = deps
        .provider
        .service
        .registered_client(params.get("client_id"))
        .map(|id| id.as_str());
    match deps
        .provider
        .page_code(&params, http::credentials(request), origin != OriginCheck::Absent)
        .await
    {
        Ok(issued) => deps.cors.json(StatusCode::OK, &issued.body(), &origin),
        Err(error) => fail(outcome, error.into(), cors_error),
    }
}

/// `POST /oauth2/token` (RFC 6749 4.1.3; errors as 5.2).
async fn token<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Reply {
    let result = async {
        let authorization = oauth::client_authorization(request)?;
        let params = oauth::form_params(request, deps.max_body_bytes)?;
        outcome.client = deps
            .provider
            .service
            .registered_client(params.get("client_id"))
            .map(|id| id.as_str());
        deps.provider.token(authorization, &params).await
    }
    .await;
    match result {
        Ok(response) => {
            outcome.grant_id = Some(response.grant_id.clone());
            outcome.kid = Some(response.kid.clone());
            Reply::json(StatusCode::OK, &response.body)
        }
        // RFC 6749 5.2 asks for the challenge when Basic was tried; we send it on every 401 (no
        // authentication, or client_secret_post with a wrong secret too): Basic is the method
        // every client library supports, so it is the one to name.
        Err(error) if error.code == OAuthErrorCode::InvalidClient => {
            fail(outcome, error.into(), Reply::error).header(header::WWW_AUTHENTICATE, "Basic realm=\"whoscalling\"")
        }
        Err(error) => fail(outcome, error.into(), Reply::error),
    }
}

/// `GET|POST /oauth2/userinfo` with the access token as RFC 6750 2.1 or 2.2 allow.
async fn userinfo<'a>(deps: &'a Deps, request: &Request, outcome: &mut Outcome<'a>) -> Reply {
    let result = match oauth::access_token(request, deps.max_body_bytes) {
        Ok(Some(token)) => deps.provider.userinfo(&token).await,
        Ok(None) => {
            // RFC 6750 3.1: a request with no authentication at all gets the challenge without an
            // error code (it is not an error to have to authenticate).
            outcome.error = Some("no_token");
            let body = serde_json::json!({"error_description": "send the access token as `Authorization: Bearer`"});
            return Reply::json(StatusCode::UNAUTHORIZED, &body)
                .header(header::WWW_AUTHENTICATE, "Bearer realm=\"whoscalling\"");
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(claims) => Reply::json(StatusCode::OK, &Value::Object(claims)),
        Err(error) => {
            let challenge = match error.code {
                OAuthErrorCode::InvalidToken => "Bearer realm=\"whoscalling\", error=\"invalid_token\"",
                OAuthErrorCode::InvalidRequest => "Bearer realm=\"whoscalling\", error=\"invalid_request\"",
                _ => "Bearer realm=\"whoscalling\"",
            };
            let invalid_request = error.code == OAuthErrorCode::InvalidRequest;
            let reply = fail(outcome, error.into(), Reply::error);
            if reply.status() == 401 || invalid_request {
                reply.header(header::WWW_AUTHENTICATE, challenge)
            } else {
                reply
            }
        }
    }
}
