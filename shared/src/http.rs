//! HTTP conventions shared by every endpoint: the one `ApiError` with its exhaustive mapping to
//! status and machine-readable code, CORS from an allow-list (on errors too, or the browser hides
//! them), body limits, and extraction of credentials from an API Gateway v2 request.

use std::borrow::Cow;

use lambda_http::http::header::{self, HeaderMap, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::config::Origin;
use crate::identity::{Credentials, IdentityError};
use crate::keys::KeyError;
use crate::mint::MintError;
use crate::platforms::ClaimsError;
use crate::secrets::SecretError;

/// Stable, machine-readable error codes (OAuth style where one exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    /// `invalid_request` too, about the credentials themselves (a malformed `Authorization`, a
    /// token in the query string): RFC 6750 3.1 answers it with a `WWW-Authenticate` challenge.
    MalformedCredentials,
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
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::MalformedCredentials => "invalid_request",
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
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::MalformedCredentials => StatusCode::BAD_REQUEST,
            ErrorCode::MissingToken | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::OriginNotAllowed | ErrorCode::OriginRequired | ErrorCode::InsufficientClaims => StatusCode::FORBIDDEN,
            ErrorCode::UnknownProfile | ErrorCode::NoStagedKey => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TokenTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECONDS: u32 = 5;

/// An error answer. 4xx descriptions say what was wrong; 5xx descriptions say nothing internal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into() }
    }

    fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the service could not complete the request")
    }

    fn unavailable() -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable; retry shortly")
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        let code = match &error {
            IdentityError::MissingCredentials => ErrorCode::MissingToken,
            IdentityError::TokenInQueryString | IdentityError::MalformedAuthorization => ErrorCode::MalformedCredentials,
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
            MintError::Secret(secret) => secret_error(secret),
            MintError::Keys(keys) => Self::from(keys),
            MintError::Signing(_) | MintError::Encryption(_) => Self::server_error(),
        }
    }
}

impl From<&KeyError> for ApiError {
    /// An empty key set (first rotation pending) or a store outage is retried; anything else
    /// needs an operator, and says nothing internal.
    fn from(error: &KeyError) -> Self {
        if error.is_transient() { Self::unavailable() } else { Self::server_error() }
    }
}

fn secret_error(error: &SecretError) -> ApiError {
    if error.is_transient() { ApiError::unavailable() } else { ApiError::server_error() }
}

/// CORS from an allow-list. An `Origin` is echoed only when it equals an allowed one exactly.
#[derive(Debug, Clone)]
pub struct Cors {
    allowed: Vec<Origin>,
    methods: &'static str,
    /// `Access-Control-Allow-Credentials: true`, so pages may send the session cookie
    /// (`fetch(..., {credentials: 'include'})`); only with an exact origin, never `*`.
    credentials: bool,
}

/// What the request's `Origin` header means for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginCheck {
    /// Not a browser cross-origin call (server-to-server, curl): no CORS headers.
    Absent,
    /// An allowed origin: echoed in `Access-Control-Allow-Origin`.
    Allowed(HeaderValue),
    /// Refused with 403 (and no CORS headers, so the page cannot read anything).
    Denied,
}

impl Cors {
    pub fn new(allowed: Vec<Origin>, methods: &'static str) -> Self {
        Self { allowed, methods, credentials: false }
    }

    /// Allows credentialed requests (the session cookie) from the allowed origins.
    pub fn with_credentials(mut self, credentials: bool) -> Self {
        self.credentials = credentials;
        self
    }

    pub fn check(&self, headers: &HeaderMap) -> OriginCheck {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        match (origins.next(), origins.next()) {
            (None, _) => OriginCheck::Absent,
            (Some(origin), None) if self.allowed.iter().any(|a| a.as_str().as_bytes() == origin.as_bytes()) => {
                OriginCheck::Allowed(origin.clone())
            }
            _ => OriginCheck::Denied,
        }
    }

    fn decorate(&self, headers: &mut HeaderMap, origin: &OriginCheck) {
        // Responses differ by Origin, so caches must key on it even when it is absent.
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let OriginCheck::Allowed(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if self.credentials {
                headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            }
        }
    }

    /// The answer to a preflight from an allowed origin.
    pub fn preflight(&self, origin: &OriginCheck) -> Response<Body> {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        self.decorate(headers, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(self.methods));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        response
    }

    /// A JSON answer that must not be cached (tokens, errors).
    pub fn json(&self, status: StatusCode, body: &serde_json::Value, origin: &OriginCheck) -> Response<Body> {
        let mut response = Response::new(Body::Text(body.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        self.decorate(headers, origin);
        response
    }

    /// `{"error": code, "error_description": ...}` with the same CORS headers as a success,
    /// `WWW-Authenticate` on 401 and on a malformed credential (RFC 6750 3), `Retry-After` on
    /// 503 and `Allow` on 405.
    pub fn error(&self, error: &ApiError, origin: &OriginCheck) -> Response<Body> {
        let body = json!({"error": error.code.as_str(), "error_description": error.description});
        let mut response = self.json(error.code.status(), &body, origin);
        let headers = response.headers_mut();
        match error.code {
            ErrorCode::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ErrorCode::InvalidToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            }
            ErrorCode::MalformedCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_request\""));
            }
            ErrorCode::TemporarilyUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            ErrorCode::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static(self.methods));
            }
            _ => {}
        }
        response
    }
}

/// A small HTML page for errors a browser shows the visitor (a sign-in that cannot continue):
/// the title, the description and the machine-readable code; nothing loads, nothing frames it.
pub fn error_page(status: StatusCode, title: &str, description: &str, code: &str) -> Response<Body> {
    let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{}</p><p>Error code: <code>{}</code></p></body></html>",
        escape(description),
        escape(code),
        title = escape(title),
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The request's credentials: authorizer claims if API Gateway attached them, and the bearer
/// token. A token in the query string is refused outright (it would end up in access logs).
pub fn credentials(request: &Request) -> Result<Credentials<'_>, IdentityError> {
    let query = request.query_string_parameters_ref();
    if query.is_some_and(|q| ["access_token", "id_token", "token"].iter().any(|name| q.first(name).is_some())) {
        return Err(IdentityError::TokenInQueryString);
    }
    let authorizer_claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims)
        }
        _ => None,
    };
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let bearer = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => Some(parse_bearer(value)?),
        _ => return Err(IdentityError::MalformedAuthorization),
    };
    let cookies = request.headers().get(header::COOKIE).and_then(|v| v.to_str().ok());
    Ok(Credentials { authorizer_claims, bearer, cookies })
}

fn parse_bearer(value: &HeaderValue) -> Result<&str, IdentityError> {
    let text = value.to_str().map_err(|_| IdentityError::MalformedAuthorization)?;
    let (scheme, token) = text.split_once(' ').ok_or(IdentityError::MalformedAuthorization)?;
    let token_chars_ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if scheme.eq_ignore_ascii_case("bearer") && token_chars_ok { Ok(token) } else { Err(IdentityError::MalformedAuthorization) }
}

/// The request body is not used for identity; a POST may carry a small JSON object (reserved for
/// options), anything else is refused.
pub fn check_body(request: &Request, max_bytes: usize) -> Result<(), ApiError> {
    let body: &[u8] = match request.body() {
        Body::Empty => return Ok(()),
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err(ApiError::new(ErrorCode::InvalidRequest, "unreadable request body")),
    };
    if body.len() > max_bytes {
        return Err(ApiError::new(ErrorCode::RequestTooLarge, format!("the request body exceeds {max_bytes} bytes")));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send no body, or an application/json object"));
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(ApiError::new(ErrorCode::InvalidRequest, "the request body must be a JSON object")),
    }
}

/// The method check shared by the token endpoints.
pub fn allow_get_or_post(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::POST {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET or POST"))
    }
}

/// The API Gateway request id, for logs.
pub fn request_id(request: &Request) -> Option<&str> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.as_deref(),
        _ => None,
    }
}

/// Lambda's own request id and the X-Ray trace id (absent outside Lambda: tests, the local run).
pub fn lambda_ids(request: &Request) -> (Option<&str>, Option<&str>) {
    match request.lambda_context_ref() {
        Some(context) => {
            let id = Some(context.request_id.as_str()).filter(|id| !id.is_empty());
            (id, context.xray_trace_id.as_deref())
        }
        None => (None, None),
    }
}

/// The span every line of one invocation is logged in: API Gateway's request id, Lambda's and the
/// X-Ray trace id, so a line found by any of them leads to the others.
pub fn invocation_span(request: &Request, function: &'static str) -> tracing::Span {
    let (lambda_request_id, trace_id) = lambda_ids(request);
    tracing::info_span!("invocation", function, api_request_id = request_id(request), lambda_request_id, trace_id)
}

/// The metric record of one request, with its ids filled in (the handler adds the rest).
pub fn request_metrics<'a>(request: &'a Request, function: &'static str) -> crate::metrics::RequestMetrics<'a> {
    let (lambda_request_id, trace_id) = lambda_ids(request);
    crate::metrics::RequestMetrics { function, api_request_id: request_id(request), lambda_request_id, trace_id, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(vec![Origin::try_from("https://www.example.com".to_string()).unwrap()], "GET, POST, OPTIONS")
    }

    fn headers(origins: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for origin in origins {
            map.append(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        map
    }

    #[test]
    fn only_exact_origins_are_allowed() {
        let cors = cors();
        assert!(matches!(cors.check(&headers(&["https://www.example.com"])), OriginCheck::Allowed(_)));
        assert_eq!(cors.check(&headers(&[])), OriginCheck::Absent);
        for hostile in [
            "null",
            "https://www.example.com.evil.com",
            "https://evilwww.example.com",
            "http://www.example.com",
            "https://www.example.com/",
            "https://WWW.example.com",
            "https://www.example.com:443",
        ] {
            assert_eq!(cors.check(&headers(&[hostile])), OriginCheck::Denied, "{hostile}");
        }
        assert_eq!(cors.check(&headers(&["https://www.example.com", "https://www.example.com"])), OriginCheck::Denied);
    }

    #[test]
    fn errors_carry_cors_and_protocol_headers() {
        let cors = cors();
        let origin = cors.check(&headers(&["https://www.example.com"]));
        let response = cors.error(&ApiError::new(ErrorCode::InvalidToken, "bad"), &origin);
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://www.example.com");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"");
        let unavailable = cors.error(&ApiError::unavailable(), &origin);
        assert_eq!(unavailable.status(), 503);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "5");
        let body: serde_json::Value = match unavailable.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            _ => panic!("text body expected"),
        };
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    #[test]
    fn malformed_credentials_get_an_rfc6750_challenge_and_other_bad_requests_do_not() {
        let cors = cors();
        let origin = cors.check(&headers(&["https://www.example.com"]));
        for error in [IdentityError::MalformedAuthorization, IdentityError::TokenInQueryString] {
            let response = cors.error(&ApiError::from(error), &origin);
            assert_eq!(response.status(), 400);
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer error=\"invalid_request\"");
            assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://www.example.com");
        }
        let body_error = cors.error(&ApiError::new(ErrorCode::InvalidRequest, "the request body must be a JSON object"), &origin);
        assert_eq!(body_error.status(), 400);
        assert!(!body_error.headers().contains_key(header::WWW_AUTHENTICATE), "control: not about credentials");
        let required = cors.error(&ApiError::new(ErrorCode::OriginRequired, "x"), &OriginCheck::Absent);
        assert_eq!((required.status().as_u16(), ErrorCode::OriginRequired.as_str()), (403, "origin_required"));
    }

    #[test]
    fn bearer_parsing_is_strict() {
        let ok = HeaderValue::from_static("Bearer abc.def.ghi");
        assert_eq!(parse_bearer(&ok), Ok("abc.def.ghi"));
        assert_eq!(parse_bearer(&HeaderValue::from_static("bearer abc")), Ok("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearerabc"] {
            assert!(parse_bearer(&HeaderValue::from_static(bad)).is_err(), "{bad}");
        }
    }

    /// Rows of [`expected_answer`]: one per `IdentityError` variant.
    const IDENTITY_ERROR_ROWS: usize = 22;

    /// The answer each identity error must get, by a `match` with no wildcard: a new variant does
    /// not compile until it has its own row here (and [`IDENTITY_ERROR_ROWS`] grows, so the test
    /// below then also wants an instance of it).
    fn expected_answer(error: &IdentityError) -> (usize, u16, &'static str) {
        match error {
            IdentityError::MissingCredentials => (0, 401, "missing_token"),
            IdentityError::TokenInQueryString => (1, 400, "invalid_request"),
            IdentityError::MalformedAuthorization => (2, 400, "invalid_request"),
            IdentityError::Malformed(_) => (3, 401, "invalid_token"),
            IdentityError::AlgorithmNotAllowed => (4, 401, "invalid_token"),
            IdentityError::ForbiddenHeader(_) => (5, 401, "invalid_token"),
            IdentityError::UnknownKey => (6, 401, "invalid_token"),
            IdentityError::BadSignature => (7, 401, "invalid_token"),
            IdentityError::WrongIssuer => (8, 401, "invalid_token"),
            IdentityError::WrongAudience => (9, 401, "invalid_token"),
            IdentityError::MissingClaim(_) => (10, 401, "invalid_token"),
            IdentityError::InvalidClaim(_) => (11, 401, "invalid_token"),
            IdentityError::Expired => (12, 401, "invalid_token"),
            IdentityError::NotYetValid => (13, 401, "invalid_token"),
            IdentityError::IssuedInFuture => (14, 401, "invalid_token"),
            IdentityError::TooOld => (15, 401, "invalid_token"),
            IdentityError::LifetimeTooLong => (16, 401, "invalid_token"),
            IdentityError::NotAPerson(_) => (17, 401, "invalid_token"),
            IdentityError::MissingRequiredClaim => (18, 401, "invalid_token"),
            IdentityError::InvalidSession => (19, 401, "invalid_token"),
            IdentityError::SessionExpired => (20, 401, "invalid_token"),
            // The provider's keys are our outage, not the caller's mistake: retry, never a 4xx.
            IdentityError::KeysUnavailable => (21, 503, "temporarily_unavailable"),
        }
    }

    #[test]
    fn every_identity_error_maps_to_its_status_and_code() {
        let every_variant = [
            IdentityError::MissingCredentials,
            IdentityError::TokenInQueryString,
            IdentityError::MalformedAuthorization,
            IdentityError::Malformed("x"),
            IdentityError::AlgorithmNotAllowed,
            IdentityError::ForbiddenHeader("crit"),
            IdentityError::UnknownKey,
            IdentityError::BadSignature,
            IdentityError::WrongIssuer,
            IdentityError::WrongAudience,
            IdentityError::MissingClaim("sub"),
            IdentityError::InvalidClaim("exp"),
            IdentityError::Expired,
            IdentityError::NotYetValid,
            IdentityError::IssuedInFuture,
            IdentityError::TooOld,
            IdentityError::LifetimeTooLong,
            IdentityError::NotAPerson("client_id"),
            IdentityError::MissingRequiredClaim,
            IdentityError::InvalidSession,
            IdentityError::SessionExpired,
            IdentityError::KeysUnavailable,
        ];
        let rows: std::collections::BTreeSet<usize> = every_variant.iter().map(|e| expected_answer(e).0).collect();
        assert_eq!(rows, (0..IDENTITY_ERROR_ROWS).collect(), "one instance of every variant");
        for error in every_variant {
            let (_, status, code) = expected_answer(&error);
            let answer = ApiError::from(error.clone());
            assert_eq!((answer.code.status().as_u16(), answer.code.as_str()), (status, code), "{error:?}");
        }
    }
}
