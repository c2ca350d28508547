//! `GET /.well-known/jwks.json`: every public key a verifier may meet (previous, current, next),
//! so LivePerson (JWKS URL) and any other verifier can follow rotations by `kid`.
//! `GET /public-key/{profile}`: the public key the profile signs with now, as single-line base64
//! SPKI, the paste format of LivePerson's and Live Assist's consoles. `?key=next` gives the key
//! that follows it (a pinned key's staged successor, or the rotating `next` key), so an operator
//! has it ready before a switch: a console that holds one pasted key (Live Assist) takes it right
//! after the switch, never before, or it refuses the tokens signed until then; 404
//! `no_staged_key` when nothing is staged. A profile whose platform asks for another format
//! ([`PublicKeyFormat`]) gets it instead: Salesforce's single JWK with its `x5c` certificate, or
//! Dynamics 365's public-key URL (the PEM text when one key is live, otherwise
//! `[{"kid", "publicKey", "expiry"}]` with every key a token may name, so Dynamics follows
//! rotations by `kid`).

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use whoscalling::SecretStore;
use whoscalling::config::{ConfigError, ProfileName, ServiceConfig};
use whoscalling::http::{self, ApiError, ErrorCode, Reply};
use whoscalling::keys::D365KeyList;
use whoscalling::keys::{KeyChoice, KeyStatus, SigningKeys};
use whoscalling::metrics::RequestMetrics;
use whoscalling::platforms::{ProfileConfig, PublicKeyFormat};

/// Built once per container.
pub struct Deps {
    keys: SigningKeys,
    /// Profiles that sign with keys we own, with which key, and how their console wants it.
    profiles: BTreeMap<ProfileName, (KeyChoice, PublicKeyFormat)>,
    /// How long the certificates in `x5c` are valid after their key's creation.
    certificate_validity_seconds: u64,
    /// How long a retired key stays published (the key list's `expiry` of a previous key).
    retention_seconds: u64,
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
            .filter_map(|(name, profile): (&ProfileName, &ProfileConfig)| {
                let format = profile.platform().public_key_format();
                Some((name.clone(), (profile.key_choice(name)?, format)))
            })
            .collect();
        let cache_control = HeaderValue::from_str(&format!("public, max-age={}", keys_config.jwks_max_age_seconds))
            .map_err(|_| ConfigError::Setting {
                setting: "signing_keys.jwks_max_age_seconds".into(),
                reason: "invalid".into(),
            })?;
        Ok(Self {
            keys: SigningKeys::new(secrets, keys_config.secret.clone()),
            profiles,
            certificate_validity_seconds: keys_config.certificate_validity_seconds(),
            retention_seconds: keys_config.retention_seconds,
            cache_control,
            errors: http::Cors::new(Vec::new(), "GET"),
        })
    }
}

pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    http::serve(FUNCTION, &request, handle(deps, &request)).await
}

/// The function's name in metrics and logs.
const FUNCTION: &str = "publish-keys";

async fn handle<'r>(deps: &Deps, request: &'r Request) -> (Reply, RequestMetrics<'r>) {
    let path = request.uri().path().to_string();
    let outcome = respond(deps, request, &path).await;
    let request_id = http::request_id(request).unwrap_or("-");
    let mut error = None;
    let response = match outcome {
        Ok(response) => response,
        Err(refusal) => {
            tracing::info!(
                request_id,
                error = refusal.code.as_str(),
                "public key request refused or failed"
            );
            error = Some(refusal.code.as_str());
            deps.errors.error(&refusal, &http::OriginCheck::Absent)
        }
    };
    tracing::info!(request_id, status = response.status(), "public key request");
    (
        response,
        RequestMetrics {
            error,
            ..http::request_metrics(request, FUNCTION)
        },
    )
}

async fn respond(deps: &Deps, request: &Request, path: &str) -> Result<Reply, ApiError> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET"));
    }
    let ring = deps.keys.ring().await.map_err(|error| {
        tracing::error!(error = %error, "signing keys unavailable");
        ApiError::from(&error)
    })?;
    if path.ends_with("/.well-known/jwks.json") {
        return Ok(Reply::public(
            "application/jwk-set+json",
            ring.jwks_with_certificates(deps.certificate_validity_seconds)
                .map_err(|error| {
                    tracing::error!(error = %error, "certificates could not be derived");
                    ApiError::from(&error)
                })?
                .to_string(),
            deps.cache_control.clone(),
        ));
    }
    let profile = request
        .path_parameters_ref()
        .and_then(|p| p.first("profile"))
        .unwrap_or_default();
    let (choice, format) = ProfileName::parse(profile)
        .and_then(|name| deps.profiles.get(&name))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownProfile,
                "no profile that signs with our keys has this name",
            )
        })?;
    let key_parameter = request.query_string_parameters_ref().and_then(|q| q.first("key"));
    if *format == PublicKeyFormat::D365KeyList {
        return d365_key_list(deps, &ring, choice, key_parameter, profile);
    }
    let status = match key_parameter {
        None | Some("current") => KeyStatus::Current,
        Some("next") => KeyStatus::Next,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "key is `current` (the default) or `next`",
            ));
        }
    };
    let published = match format {
        PublicKeyFormat::SpkiBase64 => ring
            .public_key_spki(choice, status)
            .map(|spki| ("text/plain; charset=utf-8", spki.to_string())),
        PublicKeyFormat::SalesforceJwk => ring
            .certified_jwk(choice, status, deps.certificate_validity_seconds)
            .map_err(|error| {
                tracing::error!(error = %error, "certificates could not be derived");
                ApiError::from(&error)
            })?
            .map(|jwk| ("application/json", jwk.to_string())),
        // Answered above: its one document holds every live key, so it takes no `key`.
        PublicKeyFormat::D365KeyList => None,
    };
    let (content_type, body) = match (published, status) {
        (Some(published), _) => published,
        (None, KeyStatus::Next) => {
            return Err(ApiError::new(
                ErrorCode::NoStagedKey,
                "no key is staged to follow this profile's key",
            ));
        }
        (None, _) => {
            tracing::error!(profile, key = ?choice, "the profile's key is missing from the signing-key secret");
            return Err(ApiError::new(
                ErrorCode::ServerError,
                "the service could not complete the request",
            ));
        }
    };
    Ok(Reply::public(content_type, body, deps.cache_control.clone()))
}

/// Dynamics 365's public-key URL: the PEM text of the one live key, or the key list.
fn d365_key_list(
    deps: &Deps,
    ring: &whoscalling::keys::KeyRing,
    choice: &KeyChoice,
    key_parameter: Option<&str>,
    profile: &str,
) -> Result<Reply, ApiError> {
    if key_parameter.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "this profile's key list already holds every live key: ask without `key`",
        ));
    }
    let listed = match choice {
        KeyChoice::Rotating(alg) => ring.d365_key_list(*alg, deps.retention_seconds),
        KeyChoice::Pinned(_) => None,
    };
    match listed {
        Some(D365KeyList::SinglePem(pem)) => Ok(Reply::public(
            "text/plain; charset=utf-8",
            pem,
            deps.cache_control.clone(),
        )),
        Some(D365KeyList::List(list)) => Ok(Reply::public(
            "application/json",
            list.to_string(),
            deps.cache_control.clone(),
        )),
        None => {
            tracing::error!(profile, key = ?choice, "the profile's key is missing from the signing-key secret");
            Err(ApiError::new(
                ErrorCode::ServerError,
                "the service could not complete the request",
            ))
        }
    }
}
