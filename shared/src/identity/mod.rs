//! Verified visitor identity.
//!
//! A visitor's claims come from exactly one verified source: the claims API Gateway's JWT
//! authorizer already checked, or a bearer token verified here against the identity provider's
//! JWKS. Never from the request body or query string.

mod bearer;
pub mod jwks;
mod visitor;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::values::IdentitySource;
use crate::values::VerifiedClaims;
pub use bearer::{BearerPolicy, BearerVerifier};
pub use jwks::{JwksError, JwksSource, KeySource, VerificationKey};
pub use visitor::{VisitorPolicy, refuse_client_tokens};

/// Why a visitor's identity was not accepted. Messages are fixed texts: they never quote the
/// token or any claim value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no credentials: send the visitor's token as `Authorization: Bearer <token>`")]
    MissingCredentials,
    #[error("tokens are not accepted in the query string")]
    TokenInQueryString,
    #[error("the Authorization header is not a single `Bearer <token>`")]
    MalformedAuthorization,
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("the token uses a header parameter that is not accepted: {0}")]
    ForbiddenHeader(&'static str),
    #[error("the token was signed with a key the identity provider does not publish")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token was not issued by the trusted identity provider")]
    WrongIssuer,
    #[error("the token is not meant for this service (audience)")]
    WrongAudience,
    #[error("the token lacks the required claim `{0}`")]
    MissingClaim(&'static str),
    #[error("the token's `{0}` claim is not a valid value")]
    InvalidClaim(&'static str),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token was issued too long ago; log in again")]
    TooOld,
    #[error("the token is valid for longer than a visitor login may be (`exp` - `iat`)")]
    LifetimeTooLong,
    #[error("the token identifies a client application, not a person (`{0}`)")]
    NotAPerson(&'static str),
    #[error("the token lacks the claim this service requires of a visitor's login")]
    MissingRequiredClaim,
    #[error("the identity provider's keys are unavailable")]
    KeysUnavailable,
    #[error("the session cookie is not valid; log in again")]
    InvalidSession,
    #[error("the session has expired; log in again")]
    SessionExpired,
}

impl IdentityError {
    /// The identity provider being down is ours to retry, not the visitor's fault.
    pub fn is_transient(&self) -> bool {
        matches!(self, IdentityError::KeysUnavailable)
    }
}

/// What a request offers as proof of identity (the HTTP layer extracts it from the request).
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// Claims from API Gateway's JWT authorizer (present only when the route has one).
    pub authorizer_claims: Option<&'a HashMap<String, String>>,
    /// The token from `Authorization: Bearer`.
    pub bearer: Option<&'a str>,
    /// The `Cookie` header (the session cookie is looked up by name).
    pub cookies: Option<&'a str>,
}

/// The session cookie as an identity source (implemented by `crate::session::SessionVerifier`).
#[async_trait]
pub trait SessionSource: Send + Sync {
    /// `Ok(None)` when the request has no session cookie.
    async fn verify(&self, cookie_header: Option<&str>) -> Result<Option<VerifiedClaims>, IdentityError>;
}

/// Decides which source a request's identity comes from and verifies it.
pub struct IdentityVerifier {
    accept_authorizer: bool,
    bearer: Option<BearerVerifier>,
    sessions: Option<Arc<dyn SessionSource>>,
    visitor: VisitorPolicy,
}

impl IdentityVerifier {
    /// `visitor` applies to authorizer claims (the bearer verifier carries its own copy).
    pub fn new(accept_authorizer: bool, bearer: Option<BearerVerifier>, visitor: VisitorPolicy) -> Self {
        Self {
            accept_authorizer,
            bearer,
            sessions: None,
            visitor,
        }
    }

    /// Adds the session cookie as a source (see `SessionKeys`; wired from the configuration by
    /// `IdentityVerifier::with_sessions_from`).
    pub fn with_sessions(mut self, sessions: Arc<dyn SessionSource>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The bearer verifier, if bearer tokens are accepted.
    pub fn bearer(&self) -> Option<&BearerVerifier> {
        self.bearer.as_ref()
    }

    pub async fn verify(&self, credentials: Credentials<'_>) -> Result<VerifiedClaims, IdentityError> {
        self.verify_with_source(credentials).await.map(|(claims, _)| claims)
    }

    /// As [`IdentityVerifier::verify`], also saying which source the identity came from (an
    /// endpoint may accept a source only in some request shapes, e.g. the session cookie only
    /// on a browser's CORS request).
    pub async fn verify_with_source(
        &self,
        credentials: Credentials<'_>,
    ) -> Result<(VerifiedClaims, IdentitySource), IdentityError> {
        if self.accept_authorizer
            && let Some(claims) = credentials.authorizer_claims.filter(|c| !c.is_empty())
        {
            // API Gateway already checked signature, issuer, audience and expiry; it passes
            // every claim as a string. The visitor rules (lifetime, kind) are ours to apply.
            let map: Map<String, Value> = claims
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            self.visitor.check_authorizer_claims(&map)?;
            let claims = VerifiedClaims::from_json(Value::Object(map)).ok_or(IdentityError::InvalidClaim("sub"))?;
            return Ok((claims, IdentitySource::ApiGatewayAuthorizer));
        }
        match (&self.bearer, credentials.bearer) {
            (Some(verifier), Some(token)) => return Ok((verifier.verify(token).await?, IdentitySource::BearerToken)),
            // A bearer token where bearer tokens are not accepted is not silently ignored.
            (None, Some(_)) if self.sessions.is_none() => return Err(IdentityError::MissingCredentials),
            _ => {}
        }
        match &self.sessions {
            Some(sessions) => {
                let claims = sessions
                    .verify(credentials.cookies)
                    .await?
                    .ok_or(IdentityError::MissingCredentials)?;
                Ok((claims, IdentitySource::Session))
            }
            None => Err(IdentityError::MissingCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verified_claims_debug_hides_values() {
        let claims = VerifiedClaims::from_json(json!({"sub": "alice", "email": "alice@example.com"})).unwrap();
        let shown = format!("{claims:?}");
        assert!(shown.contains("email"));
        assert!(!shown.contains("alice@example.com"));
        assert!(!shown.contains("\"alice\""));
    }

    #[test]
    fn verified_claims_need_a_clean_subject() {
        assert!(VerifiedClaims::from_json(json!({"sub": ""})).is_none());
        assert!(VerifiedClaims::from_json(json!({"sub": "a\u{0}b"})).is_none());
        assert!(VerifiedClaims::from_json(json!({"sub": 5})).is_none());
        assert!(VerifiedClaims::from_json(json!({"name": "x"})).is_none());
        assert!(VerifiedClaims::from_json(json!(["sub"])).is_none());
    }

    fn visitor() -> VisitorPolicy {
        VisitorPolicy {
            max_token_age_seconds: 43_200,
            required_claim: None,
        }
    }

    fn authorizer(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut claims = HashMap::from([
            ("iat".to_string(), "1800000000".to_string()),
            ("exp".to_string(), "1800003600".to_string()),
        ]);
        claims.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        claims
    }

    #[tokio::test]
    async fn authorizer_claims_are_used_only_when_enabled() {
        let claims = authorizer(&[("sub", "alice")]);
        let credentials = Credentials {
            authorizer_claims: Some(&claims),
            bearer: None,
            cookies: None,
        };
        let on = IdentityVerifier::new(true, None, visitor());
        let (verified, source) = on.verify_with_source(credentials).await.unwrap();
        assert_eq!(
            (verified.subject(), source),
            ("alice", IdentitySource::ApiGatewayAuthorizer)
        );
        let off = IdentityVerifier::new(false, None, visitor());
        assert_eq!(off.verify(credentials).await, Err(IdentityError::MissingCredentials));
    }

    #[tokio::test]
    async fn authorizer_claims_get_the_visitor_rules() {
        let verifier = IdentityVerifier::new(true, None, visitor());
        let two_days = authorizer(&[("sub", "alice"), ("iat", "1799827200")]);
        let machine = authorizer(&[("sub", "svc"), ("client_id", "svc")]);
        for (claims, expected) in [
            (two_days, IdentityError::LifetimeTooLong),
            (machine, IdentityError::NotAPerson("client_id")),
        ] {
            let result = verifier
                .verify(Credentials {
                    authorizer_claims: Some(&claims),
                    bearer: None,
                    cookies: None,
                })
                .await;
            assert_eq!(result, Err(expected));
        }
    }

    #[tokio::test]
    async fn authorizer_claims_without_subject_are_refused() {
        let claims = authorizer(&[("email", "x@example.com")]);
        let verifier = IdentityVerifier::new(true, None, visitor());
        let result = verifier
            .verify(Credentials {
                authorizer_claims: Some(&claims),
                bearer: None,
                cookies: None,
            })
            .await;
        assert_eq!(result, Err(IdentityError::InvalidClaim("sub")));
    }
}
