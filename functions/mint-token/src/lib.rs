//! `GET|POST /token/{profile}`: mints a chat-platform token for the verified visitor.
//!
//! The handler checks the origin, method, profile and body, takes the visitor's identity from a
//! verified source, and asks the shared [`MintService`] for a token. Everything protocol-shaped
//! lives in the `whoscalling` crate.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use whoscalling::http::{self, ApiError, Cors, ErrorCode, OriginCheck, Reply};
use whoscalling::metrics::RequestMetrics;
use whoscalling::mint::MintProfile;
use whoscalling::platforms::ResponseShape;
use whoscalling::values::IdentitySource;
use whoscalling::{Clock, ConfigError, IdentityVerifier, MintService, SecretStore, ServiceConfig};

/// Everything a request needs, built once per container.
pub struct Deps {
    pub cors: Cors,
    pub identity: IdentityVerifier,
    pub minter: MintService,
    pub max_body_bytes: usize,
}

impl Deps {
    /// Wires the configuration to its adapters. `identity` is built by the caller so tests and
    /// the local run can choose where the JWKS comes from.
    pub fn new(
        config: &ServiceConfig,
        identity: IdentityVerifier,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let sessions = config.accepts(IdentitySource::Session);
        Ok(Self {
            cors: Cors::new(config.allowed_origins.clone(), "GET, POST, OPTIONS").with_credentials(sessions),
            identity: identity.with_sessions_from(config, secrets.clone(), clock.clone())?,
            minter: MintService::new(config, secrets, clock)?,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The production wiring: JWKS over HTTPS as configured.
    pub fn from_config(
        config: &ServiceConfig,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let identity = IdentityVerifier::from_config(config, clock.clone())?;
        Self::new(config, identity, secrets, clock)
    }
}

/// What the log line says about a minted token (ids only).
struct Minted {
    key_version: Option<String>,
    expires_at: u64,
}

pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    http::serve(FUNCTION, &request, handle(deps, &request)).await
}

/// The function's name in metrics and logs.
const FUNCTION: &str = "mint-token";

async fn handle<'r>(deps: &'r Deps, request: &'r Request) -> (Reply, RequestMetrics<'r>) {
    let origin = deps.cors.check(request.headers());
    // The profile is resolved once, from the path; everything after takes the typed handle.
    let profile = request.path_parameters_ref().and_then(|p| p.first("profile"));
    let profile = profile.and_then(|name| deps.minter.profile(name));
    let (response, error, minted) = match respond(deps, request, &origin, profile).await {
        Ok((response, minted)) => (response, None, minted),
        Err(error) => (deps.cors.error(&error, &origin), Some(error.code), None),
    };
    let status = response.status();
    let request_id = http::request_id(request).unwrap_or("-");
    let error = error.map(ErrorCode::as_str);
    let tokens_minted = u32::from(minted.is_some());
    let (key_version, expires_at) = minted.map(|m| (m.key_version, Some(m.expires_at))).unwrap_or_default();
    // Profile names come from the path: log them (and use them as a metric dimension) only when
    // they are ours.
    let known = profile.map(|profile| profile.name().as_str());
    let logged = known.unwrap_or("(unknown)");
    if status >= 500 {
        tracing::error!(request_id, profile = logged, status, error, "token request failed");
    } else {
        tracing::info!(
            request_id,
            profile = logged,
            status,
            error,
            key_version,
            expires_at,
            "token request"
        );
    }
    let record = RequestMetrics {
        profile: known,
        error,
        tokens_minted,
        ..http::request_metrics(request, FUNCTION)
    };
    (response, record)
}

async fn respond(
    deps: &Deps,
    request: &Request,
    origin: &OriginCheck,
    profile: Option<&MintProfile>,
) -> Result<(Reply, Option<Minted>), ApiError> {
    if *origin == OriginCheck::Denied {
        return Err(ApiError::new(
            ErrorCode::OriginNotAllowed,
            "this origin may not call the token endpoint",
        ));
    }
    if request.method() == Method::OPTIONS {
        return Ok((deps.cors.preflight(origin), None));
    }
    http::allow_get_or_post(request.method())?;
    let Some(profile) = profile else {
        return Err(ApiError::new(ErrorCode::UnknownProfile, "no such token profile"));
    };
    // The body is parsed once; it is handed to the platform, never used for identity.
    let page = http::check_body(request, deps.max_body_bytes)?;
    let credentials = http::credentials(request)?;
    let (identity, source) = deps.identity.verify_with_source(credentials).await?;
    // The session cookie is ambient: the browser attaches it to any request to us. Browsers send
    // `Origin` on every CORS fetch (our page is cross-origin to the API) and on any POST, so a
    // cookie-only request without one is not our page's fetch (an <img>/<script> tag, a
    // navigation, a same-origin GET). A server-side caller proves itself with a token instead.
    if source == IdentitySource::Session && *origin == OriginCheck::Absent {
        return Err(ApiError::new(
            ErrorCode::OriginRequired,
            "a session cookie is accepted only on a browser's CORS request (with an allowed Origin); server-side callers send a bearer token",
        ));
    }
    let minted = deps.minter.mint(profile, identity, &page).await.inspect_err(|error| {
        // The cause stays in the logs (names and kinds only); the caller gets the code.
        tracing::warn!(error = %error, "mint refused or failed");
    })?;
    let response = match minted.shape {
        // Dynamics 365's page passes the response text as is to the widget: the token itself.
        ResponseShape::Bare => deps.cors.jwt(&minted.token, origin),
        _ => deps.cors.json(StatusCode::OK, &minted.response_body(), origin),
    };
    Ok((
        response,
        Some(Minted {
            key_version: minted.key_version,
            expires_at: minted.expires_at,
        }),
    ))
}
