//! The one error type of every HTTP answer: a stable, machine-readable code with an exhaustive
//! mapping to its status, and the conversions from each domain's own errors (identity, mint,
//! keys, the OpenID provider's OAuth errors, the upstream login's refusals).

use std::borrow::Cow;

use lambda_http::http::StatusCode;

use crate::identity::IdentityError;
use crate::keys::KeyError;
use crate::mint::MintError;
use crate::openid_provider::{OAuthError, OAuthErrorCode, PageCodeError};
use crate::platforms::ClaimsError;
use crate::secrets::SecretError;
use crate::upstream_login::LoginError;
use crate::values::PageInputError;

/// Stable, machine-readable error codes (OAuth style where one exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    /// `invalid_request` too, about the credentials themselves (a malformed `Authorization`, a
    /// token in the query string): RFC 6750 3.1 answers it with a `WWW-Authenticate` challenge.
    MalformedCredentials,
    /// `invalid_request` at 404: the OpenID provider's answer to a path it does not serve.
    UnknownEndpoint,
    /// `invalid_request` at 405: the OpenID provider's answer to a method a route does not take
    /// (the `method_not_allowed` of the token endpoints predates it; both stay as they are).
    MethodNotSupported,
    MissingToken,
    InvalidToken,
    OriginNotAllowed,
    /// A session cookie on a request without `Origin` (not a browser's CORS request).
    OriginRequired,
    UnknownProfile,
    /// `/public-key/{profile}?key=next` with nothing staged.
    NoStagedKey,
    MethodNotAllowed,
    RequestTooLarge,
    UnsupportedMediaType,
    InsufficientClaims,
    TokenTooLarge,
    TemporarilyUnavailable,
    ServerError,
    /// An OAuth 2.0 / OpenID Connect error of the OpenID provider (RFC 6749 4.1.2.1 and 5.2,
    /// RFC 6750 3.1, OIDC Core 3.1.2.6): the protocol names the code, this layer its status.
    OAuth(OAuthErrorCode),
    /// The upstream login: no login provider has this name.
    UnknownProvider,
    /// The upstream login's state cookie is missing, expired or another login's.
    InvalidState,
    /// The upstream provider answered the callback with an error.
    UpstreamError,
    InvalidCallback,
    StateUsed,
    CodeRejected,
    InvalidIdToken,
    UserinfoMismatch,
    /// The upstream provider gave no usable answer (502) or none in time (504).
    UpstreamUnavailable,
    UpstreamTimeout,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::MalformedCredentials
            | ErrorCode::UnknownEndpoint
            | ErrorCode::MethodNotSupported => "invalid_request",
            ErrorCode::MissingToken => "missing_token",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::OriginRequired => "origin_required",
            ErrorCode::UnknownProfile => "unknown_profile",
            ErrorCode::NoStagedKey => "no_staged_key",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InsufficientClaims => "insufficient_claims",
            ErrorCode::TokenTooLarge => "token_too_large",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
            ErrorCode::OAuth(code) => code.as_str(),
            ErrorCode::UnknownProvider => "unknown_provider",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::InvalidCallback => "invalid_callback",
            ErrorCode::StateUsed => "state_used",
            ErrorCode::CodeRejected => "code_rejected",
            ErrorCode::InvalidIdToken => "invalid_id_token",
            ErrorCode::UserinfoMismatch => "userinfo_mismatch",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::MalformedCredentials
            | ErrorCode::InvalidState
            | ErrorCode::UpstreamError
            | ErrorCode::InvalidCallback
            | ErrorCode::StateUsed
            | ErrorCode::CodeRejected => StatusCode::BAD_REQUEST,
            ErrorCode::MissingToken
            | ErrorCode::InvalidToken
            | ErrorCode::InvalidIdToken
            | ErrorCode::UserinfoMismatch => StatusCode::UNAUTHORIZED,
            ErrorCode::OriginNotAllowed | ErrorCode::OriginRequired | ErrorCode::InsufficientClaims => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::UnknownProfile
            | ErrorCode::NoStagedKey
            | ErrorCode::UnknownEndpoint
            | ErrorCode::UnknownProvider => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed | ErrorCode::MethodNotSupported => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TokenTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::OAuth(code) => oauth_status(code),
        }
    }
}

/// The status of an OAuth error given as a direct answer (token, userinfo, code endpoints).
fn oauth_status(code: OAuthErrorCode) -> StatusCode {
    match code {
        OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken | OAuthErrorCode::LoginRequired => {
            StatusCode::UNAUTHORIZED
        }
        OAuthErrorCode::AccessDenied | OAuthErrorCode::UnauthorizedClient => StatusCode::FORBIDDEN,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::InvalidRequest
        | OAuthErrorCode::InvalidGrant
        | OAuthErrorCode::UnsupportedGrantType
        | OAuthErrorCode::InvalidScope
        | OAuthErrorCode::UnsupportedResponseType
        | OAuthErrorCode::ConsentRequired
        | OAuthErrorCode::AccountSelectionRequired
        | OAuthErrorCode::RequestNotSupported
        | OAuthErrorCode::RequestUriNotSupported => StatusCode::BAD_REQUEST,
    }
}

/// An error answer. 4xx descriptions say what was wrong; 5xx descriptions say nothing internal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub(crate) fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the service could not complete the request")
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; retry shortly",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// `{"error": code, "error_description": ...}` (RFC 6749 5.2's shape, for every error).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code.as_str(), "error_description": self.description})
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        let code = match &error {
            IdentityError::MissingCredentials => ErrorCode::MissingToken,
            IdentityError::TokenInQueryString | IdentityError::MalformedAuthorization => {
                ErrorCode::MalformedCredentials
            }
            IdentityError::KeysUnavailable => return Self::unavailable(),
            IdentityError::Malformed(_)
            | IdentityError::AlgorithmNotAllowed
            | IdentityError::ForbiddenHeader(_)
            | IdentityError::UnknownKey
            | IdentityError::BadSignature
            | IdentityError::WrongIssuer
            | IdentityError::WrongAudience
            | IdentityError::MissingClaim(_)
            | IdentityError::InvalidClaim(_)
            | IdentityError::Expired
            | IdentityError::NotYetValid
            | IdentityError::IssuedInFuture
            | IdentityError::TooOld
            | IdentityError::LifetimeTooLong
            | IdentityError::NotAPerson(_)
            | IdentityError::MissingRequiredClaim
            | IdentityError::InvalidSession
            | IdentityError::SessionExpired => ErrorCode::InvalidToken,
        };
        Self::new(code, error.to_string())
    }
}

impl From<MintError> for ApiError {
    fn from(error: MintError) -> Self {
        match &error {
            MintError::UnknownProfile(_) => Self::new(ErrorCode::UnknownProfile, "no such token profile"),
            MintError::Claims(ClaimsError::TokenTooLarge { .. }) => {
                Self::new(ErrorCode::TokenTooLarge, error.to_string())
            }
            MintError::Claims(_) => Self::new(ErrorCode::InsufficientClaims, error.to_string()),
            MintError::PageInput(page) => Self::from(page),
            MintError::Secret(secret) => secret_error(secret),
            MintError::Keys(keys) => Self::from(keys),
            MintError::Signing(_) | MintError::Encryption(_) => Self::server_error(),
        }
    }
}

impl From<&PageInputError> for ApiError {
    /// The body is the caller's request: `invalid_request`, as for a body that is not an object.
    /// The description names our member names only, never a value the page sent.
    fn from(error: &PageInputError) -> Self {
        Self::new(ErrorCode::InvalidRequest, error.to_string())
    }
}

impl From<&KeyError> for ApiError {
    /// An empty key set (first rotation pending) or a store outage is retried; anything else
    /// needs an operator, and says nothing internal.
    fn from(error: &KeyError) -> Self {
        if error.is_transient() {
            Self::unavailable()
        } else {
            Self::server_error()
        }
    }
}

fn secret_error(error: &SecretError) -> ApiError {
    if error.is_transient() {
        ApiError::unavailable()
    } else {
        ApiError::server_error()
    }
}

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        Self {
            code: ErrorCode::OAuth(error.code),
            description: error.description,
        }
    }
}

impl From<PageCodeError> for ApiError {
    fn from(error: PageCodeError) -> Self {
        match error {
            PageCodeError::Identity(error) => Self::from(error),
            PageCodeError::SessionWithoutOrigin => Self::new(
                ErrorCode::OriginRequired,
                "a session cookie is accepted only on a browser's CORS request (with an allowed Origin)",
            ),
            PageCodeError::OAuth(error) => Self::from(error),
        }
    }
}

impl From<&LoginError> for ApiError {
    /// The login's descriptions are fixed texts: never a code, token or claim.
    fn from(error: &LoginError) -> Self {
        let code = match error {
            LoginError::UnknownProvider => ErrorCode::UnknownProvider,
            LoginError::ReturnNotAllowed | LoginError::InvalidPrompt => ErrorCode::InvalidRequest,
            LoginError::InvalidState => ErrorCode::InvalidState,
            LoginError::ProviderRefused(_) => ErrorCode::UpstreamError,
            LoginError::InvalidCallback(_) => ErrorCode::InvalidCallback,
            LoginError::StateUsed => ErrorCode::StateUsed,
            LoginError::CodeRejected => ErrorCode::CodeRejected,
            LoginError::InvalidIdToken(_) => ErrorCode::InvalidIdToken,
            LoginError::UserinfoMismatch => ErrorCode::UserinfoMismatch,
            LoginError::UnusableClaims => ErrorCode::InsufficientClaims,
            LoginError::Unavailable => ErrorCode::UpstreamUnavailable,
            LoginError::Timeout => ErrorCode::UpstreamTimeout,
            LoginError::TemporarilyUnavailable => ErrorCode::TemporarilyUnavailable,
            LoginError::Internal => ErrorCode::ServerError,
        };
        Self::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every login refusal keeps its wire code and status (the visitor-login tests and the
    /// callback fuzz target assert them).
    #[test]
    fn login_errors_keep_their_codes_and_statuses() {
        let cases = [
            (LoginError::UnknownProvider, 404, "unknown_provider"),
            (LoginError::ReturnNotAllowed, 400, "invalid_request"),
            (LoginError::InvalidPrompt, 400, "invalid_request"),
            (LoginError::InvalidState, 400, "invalid_state"),
            (
                LoginError::ProviderRefused("access_denied".into()),
                400,
                "upstream_error",
            ),
            (LoginError::InvalidCallback("x"), 400, "invalid_callback"),
            (LoginError::StateUsed, 400, "state_used"),
            (LoginError::CodeRejected, 400, "code_rejected"),
            (LoginError::InvalidIdToken("x"), 401, "invalid_id_token"),
            (LoginError::UserinfoMismatch, 401, "userinfo_mismatch"),
            (LoginError::UnusableClaims, 403, "insufficient_claims"),
            (LoginError::Unavailable, 502, "upstream_unavailable"),
            (LoginError::Timeout, 504, "upstream_timeout"),
            (LoginError::TemporarilyUnavailable, 503, "temporarily_unavailable"),
            (LoginError::Internal, 500, "server_error"),
        ];
        for (error, status, code) in cases {
            let answer = ApiError::from(&error);
            assert_eq!(
                (answer.status().as_u16(), answer.code.as_str()),
                (status, code),
                "{error:?}"
            );
        }
    }

    #[test]
    fn oauth_errors_keep_their_codes_and_statuses() {
        let cases = [
            (OAuthErrorCode::InvalidRequest, 400, "invalid_request"),
            (OAuthErrorCode::InvalidClient, 401, "invalid_client"),
            (OAuthErrorCode::InvalidGrant, 400, "invalid_grant"),
            (OAuthErrorCode::UnauthorizedClient, 403, "unauthorized_client"),
            (OAuthErrorCode::UnsupportedGrantType, 400, "unsupported_grant_type"),
            (OAuthErrorCode::InvalidScope, 400, "invalid_scope"),
            (
                OAuthErrorCode::UnsupportedResponseType,
                400,
                "unsupported_response_type",
            ),
            (OAuthErrorCode::AccessDenied, 403, "access_denied"),
            (OAuthErrorCode::LoginRequired, 401, "login_required"),
            (OAuthErrorCode::ConsentRequired, 400, "consent_required"),
            (
                OAuthErrorCode::AccountSelectionRequired,
                400,
                "account_selection_required",
            ),
            (OAuthErrorCode::RequestNotSupported, 400, "request_not_supported"),
            (OAuthErrorCode::RequestUriNotSupported, 400, "request_uri_not_supported"),
            (OAuthErrorCode::InvalidToken, 401, "invalid_token"),
            (OAuthErrorCode::TemporarilyUnavailable, 503, "temporarily_unavailable"),
            (OAuthErrorCode::ServerError, 500, "server_error"),
        ];
        for (code, status, wire) in cases {
            let answer = ApiError::from(OAuthError::new(code, "d"));
            assert_eq!(
                (answer.status().as_u16(), answer.code.as_str()),
                (status, wire),
                "{code:?}"
            );
        }
        assert_eq!(
            (
                ErrorCode::UnknownEndpoint.status().as_u16(),
                ErrorCode::UnknownEndpoint.as_str()
            ),
            (404, "invalid_request")
        );
        assert_eq!(
            (
                ErrorCode::MethodNotSupported.status().as_u16(),
                ErrorCode::MethodNotSupported.as_str()
            ),
            (405, "invalid_request")
        );
    }
}
