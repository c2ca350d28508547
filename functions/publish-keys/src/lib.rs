//! `GET /.well-known/jwks.json`: every public key a verifier may meet (previous, current, next),
//! so LivePerson (JWKS URL) and any other verifier can follow rotations by `kid`.
//! `GET /public-key/{profile}`: the profile's current public key as single-line base64 SPKI, the
//! paste format of LivePerson's and Live Assist's consoles.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use whoscalling::config::{ConfigError, ProfileConfig, ProfileName, ServiceConfig};
use whoscalling::http::{self, ApiError, ErrorCode};
use whoscalling::keys::SigningKeys;
use whoscalling::signing::SigningAlgorithm;
use whoscalling::SecretStore;

/// Built once per container.
pub struct Deps {
    keys: SigningKeys,
    /// Profiles that sign with keys we own, and with which algorithm.
    profiles: BTreeMap<ProfileName, SigningAlgorithm>,
    cache_control: HeaderValue,
    /// Public documents: no origin allow-list applies and server-side verifiers need no CORS;
    /// this only shapes error answers the same way as every other endpoint's.
    errors: http::Cors,
}

impl Deps {
    pub fn new(config: &ServiceConfig, secrets: Arc<dyn SecretStore>) -> Result<Self, ConfigError> {
        let keys_config = config.signing_keys.as_ref().ok_or(ConfigError::Setting {
            setting: "signing_keys".into(),
            reason: "publish-keys needs the signing-key secret".into(),
        })?;
        let profiles = config
            .profiles
            .iter()
            .filter_map(|(name, profile)| match profile {
                ProfileConfig::LivePerson(_) | ProfileConfig::LiveAssist(_) => Some((name.clone(), SigningAlgorithm::RS256)),
                ProfileConfig::AmazonConnect(_) | ProfileConfig::OpenIdConnect(_) => None,
            })
            .collect();
        let cache_control = HeaderValue::from_str(&format!("public, max-age={}", keys_config.jwks_max_age_seconds))
            .map_err(|_| ConfigError::Setting { setting: "signing_keys.jwks_max_age_seconds".into(), reason: "invalid".into() })?;
        Ok(Self {
            keys: SigningKeys::new(secrets, keys_config.secret.clone()),
            profiles,
            cache_control,
            errors: http::Cors::new(Vec::new(), "GET"),
        })
    }
}

pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let path = request.uri().path().to_string();
    let outcome = respond(deps, &request, &path).await;
    let request_id = http::request_id(&request).unwrap_or("-");
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(request_id, error = error.code.as_str(), "public key request refused or failed");
            deps.errors.error(&error, &http::OriginCheck::Absent)
        }
    };
    tracing::info!(request_id, status = response.status().as_u16(), "public key request");
    Ok(response)
}

async fn respond(deps: &Deps, request: &Request, path: &str) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET"));
    }
    let ring = deps.keys.ring().await.map_err(|error| {
        tracing::error!(error = %error, "signing keys unavailable");
        ApiError::from(&error)
    })?;
    if path.ends_with("/.well-known/jwks.json") {
        return Ok(public(StatusCode::OK, "application/jwk-set+json", ring.jwks().to_string(), &deps.cache_control));
    }
    let profile = request.path_parameters_ref().and_then(|p| p.first("profile")).unwrap_or_default();
    let algorithm = ProfileName::parse(profile)
        .and_then(|name| deps.profiles.get(&name).copied())
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownProfile, "no profile that signs with our keys has this name"))?;
    let spki = ring
        .current_public_key_spki(algorithm)
        .ok_or_else(|| ApiError::new(ErrorCode::ServerError, "the service could not complete the request"))?;
    Ok(public(StatusCode::OK, "text/plain; charset=utf-8", spki.to_string(), &deps.cache_control))
}

fn public(status: StatusCode, content_type: &'static str, body: String, cache_control: &HeaderValue) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, cache_control.clone());
    response
}
