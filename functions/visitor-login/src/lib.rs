//! Visitor login through an upstream OpenID provider. Routes:
//!
//! - `GET /login/{provider}?return_to=<allowed page>`: to the provider, with a login-state cookie;
//! - `GET /callback/{provider}`: the provider's answer; sets the session cookie and returns the
//!   visitor to the page;
//! - `GET|POST /logout?return_to=<allowed page>`: clears the session.
//!
//! Errors are a small page (or JSON for `Accept: application/json`) with a machine-readable code;
//! the protocol lives in [`whoscalling::upstream_login`].

use std::sync::Arc;

use lambda_http::http::Method;
use lambda_http::http::header;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use whoscalling::http::{self, ApiError, Reply};
use whoscalling::metrics::{self, RequestMetrics};
use whoscalling::openid_provider::Params;
use whoscalling::upstream_login::{LoginError, Redirect, UpstreamLogin};
use whoscalling::used_states::{UsedStates, valid_table_name};
use whoscalling::{Clock, ConfigError, SecretStore, ServiceConfig};

pub struct Deps {
    pub login: UpstreamLogin,
}

impl Deps {
    /// With a per-process used-state store (tests, the local run).
    pub fn new(
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            login: UpstreamLogin::new(config, secrets, clock)?,
        })
    }

    /// With the store shared by every container (the Lambda function: DynamoDB).
    pub fn with_used_states(
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
        used_states: Arc<dyn UsedStates>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            login: UpstreamLogin::new(config, secrets, clock)?.with_used_states(used_states),
        })
    }
}

/// The environment variable naming the DynamoDB table where callbacks record used login states
/// (template: `UsedLoginStatesTable`).
pub const USED_STATES_TABLE: &str = "WHOSCALLING_USED_STATES_TABLE";

/// The used-state table's name from the environment; required at cold start, because every
/// container must share one record of used states (a replay could land on another container).
pub fn used_states_table(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    lookup(USED_STATES_TABLE)
        .filter(|t| valid_table_name(t))
        .ok_or(ConfigError::Setting {
            setting: USED_STATES_TABLE.into(),
            reason: "the Lambda records used login states in DynamoDB: name the table".into(),
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Login,
    Callback,
    Logout,
}

/// The route and the `{provider}` segment (from the path parameters, or the path itself in the
/// local run).
fn route(request: &Request) -> Option<(Route, String)> {
    let path = request.uri().path();
    let parameter = request
        .path_parameters_ref()
        .and_then(|p| p.first("provider"))
        .map(String::from);
    let segment = |prefix: &str| path.rsplit_once(prefix).map(|(_, rest)| rest.to_string());
    if path.ends_with("/logout") {
        return Some((Route::Logout, String::new()));
    }
    if path.contains("/login/") {
        return Some((Route::Login, parameter.or_else(|| segment("/login/"))?));
    }
    if path.contains("/callback/") {
        return Some((Route::Callback, parameter.or_else(|| segment("/callback/"))?));
    }
    None
}

pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    http::serve(FUNCTION, &request, handle(deps, &request)).await
}

/// The function's name in metrics and logs.
const FUNCTION: &str = "visitor-login";

async fn handle<'r>(deps: &Deps, request: &'r Request) -> (Reply, RequestMetrics<'r>) {
    let routed = route(request);
    let provider = routed.as_ref().map(|(_, p)| p.clone()).unwrap_or_default();
    let outcome = match &routed {
        None => Err(LoginError::UnknownProvider),
        Some((route, provider)) => respond(deps, request, *route, provider).await,
    };
    let mut code = None;
    let response = match outcome {
        Ok(redirect) => Reply::redirect(&redirect.location, redirect.set_cookies.iter().map(String::as_str)),
        Err(error) => {
            let answer = ApiError::from(&error);
            code = Some(answer.code.as_str());
            // The upstream provider failed us (not the visitor): an operator's metric.
            if matches!(error, LoginError::Unavailable | LoginError::Timeout) {
                metrics::upstream_failure();
            }
            let mut response = error_response(request, &answer);
            // A failed callback still ends its login attempt.
            if matches!(routed, Some((Route::Callback, _))) && deps.login.has_provider(&provider) {
                response = response.cookie(&deps.login.clear_login_state(&provider));
            }
            tracing::info!(error = answer.code.as_str(), detail = %error, "login refused or failed");
            response
        }
    };
    let status = response.status();
    let request_id = http::request_id(request).unwrap_or("-");
    let route = routed.map_or("(none)", |(r, _)| match r {
        Route::Login => "login",
        Route::Callback => "callback",
        Route::Logout => "logout",
    });
    let provider = if deps.login.has_provider(&provider) {
        provider.as_str()
    } else {
        "(unknown)"
    };
    if status >= 500 {
        tracing::error!(request_id, route, provider, status, "login request failed");
    } else {
        tracing::info!(request_id, route, provider, status, "login request");
    }
    (
        response,
        RequestMetrics {
            error: code,
            ..http::request_metrics(request, FUNCTION)
        },
    )
}

async fn respond(deps: &Deps, request: &Request, route: Route, provider: &str) -> Result<Redirect, LoginError> {
    let raw_query = request.uri().query().unwrap_or("");
    let method = request.method();
    if route == Route::Callback && method == Method::GET {
        // The callback checks its own parameters against the provider's allow-list.
        let cookies = request.headers().get(header::COOKIE).and_then(|v| v.to_str().ok());
        return deps.login.callback(provider, raw_query, cookies).await;
    }
    let query = Params::from_form(raw_query.as_bytes())
        .map_err(|_| LoginError::InvalidCallback("repeated or oversized query parameters"))?;
    match route {
        Route::Login if method == Method::GET => {
            deps.login
                .start(provider, query.get("return_to"), query.get("prompt"))
                .await
        }
        Route::Logout if method == Method::GET || method == Method::POST => deps.login.logout(query.get("return_to")),
        _ => Err(LoginError::InvalidCallback("method not allowed")),
    }
}

/// A small page, or JSON for `Accept: application/json`.
fn error_response(request: &Request, error: &ApiError) -> Reply {
    let wants_json = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    if wants_json {
        Reply::error(error)
    } else {
        Reply::error_page(error, "The login could not be completed")
    }
}
