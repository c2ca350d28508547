//! The HTTP edge, the only module that knows `lambda_http`: the one error type ([`error`]), the
//! one response builder and invocation wrapper ([`response`]), CORS from an allow-list (on errors
//! too, or the browser hides them), body limits, and extraction of credentials from an API
//! Gateway v2 request.

pub mod error;
pub mod oauth;
pub mod response;

use lambda_http::http::header::{self, HeaderMap, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

use crate::config::Origin;
use crate::identity::{Credentials, IdentityError};
use crate::values::PageInput;

pub use error::{ApiError, ErrorCode};
pub use response::{Reply, serve};

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
        Self {
            allowed,
            methods,
            credentials: false,
        }
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

    pub(crate) fn decorate(&self, headers: &mut HeaderMap, origin: &OriginCheck) {
        // Responses differ by Origin, so caches must key on it even when it is absent.
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let OriginCheck::Allowed(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if self.credentials {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
    }

    /// The answer to a preflight from an allowed origin.
    pub fn preflight(&self, origin: &OriginCheck) -> Reply {
        let reply = Reply::empty(StatusCode::NO_CONTENT).cors(self, origin);
        let reply = reply.header(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods);
        reply
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type")
            .header(header::ACCESS_CONTROL_MAX_AGE, "600")
    }

    /// A JSON answer that must not be cached (tokens, errors).
    pub fn json(&self, status: StatusCode, body: &serde_json::Value, origin: &OriginCheck) -> Reply {
        Reply::json(status, body).cors(self, origin)
    }

    /// `{"error": code, "error_description": ...}` with the same CORS headers as a success,
    /// `WWW-Authenticate` on 401 and on a malformed credential (RFC 6750 3), `Retry-After` on
    /// 503 and `Allow` on 405.
    pub fn error(&self, error: &ApiError, origin: &OriginCheck) -> Reply {
        let reply = Reply::error(error).cors(self, origin);
        match error.code {
            ErrorCode::MissingToken => reply.header(header::WWW_AUTHENTICATE, "Bearer"),
            ErrorCode::InvalidToken => reply.header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""),
            ErrorCode::MalformedCredentials => {
                reply.header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_request\"")
            }
            ErrorCode::MethodNotAllowed => reply.header(header::ALLOW, self.methods),
            _ => reply,
        }
    }

    /// The bare token (`application/jwt`, no-store) with the same CORS headers as a JSON answer.
    pub fn jwt(&self, token: &str, origin: &OriginCheck) -> Reply {
        Reply::jwt(token).cors(self, origin)
    }
}

/// The request's credentials: authorizer claims if API Gateway attached them, and the bearer
/// token. A token in the query string is refused outright (it would end up in access logs).
pub fn credentials(request: &Request) -> Result<Credentials<'_>, IdentityError> {
    let query = request.query_string_parameters_ref();
    if query.is_some_and(|q| {
        ["access_token", "id_token", "token"]
            .iter()
            .any(|name| q.first(name).is_some())
    }) {
        return Err(IdentityError::TokenInQueryString);
    }
    let authorizer_claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let bearer = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => Some(parse_bearer(value)?),
        _ => return Err(IdentityError::MalformedAuthorization),
    };
    Ok(Credentials {
        authorizer_claims,
        bearer,
        cookies: cookies(request),
    })
}

fn parse_bearer(value: &HeaderValue) -> Result<&str, IdentityError> {
    let text = value.to_str().map_err(|_| IdentityError::MalformedAuthorization)?;
    let (scheme, token) = text.split_once(' ').ok_or(IdentityError::MalformedAuthorization)?;
    let token_chars_ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if scheme.eq_ignore_ascii_case("bearer") && token_chars_ok {
        Ok(token)
    } else {
        Err(IdentityError::MalformedAuthorization)
    }
}

/// The request body, parsed once: empty, or an application/json object naming each member once
/// (a [`PageInput`]). It is never used for identity; a platform may read a page-side value from it
/// (Freshchat's widget UUID). Anything else is refused.
pub fn check_body(request: &Request, max_bytes: usize) -> Result<PageInput, ApiError> {
    let body = body(request).ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "unreadable request body"))?;
    if body.len() > max_bytes {
        return Err(ApiError::new(
            ErrorCode::RequestTooLarge,
            format!("the request body exceeds {max_bytes} bytes"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PageInput::empty());
    }
    if !content_type_is(request, "application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send no body, or an application/json object",
        ));
    }
    PageInput::from_json(body).map_err(|error| ApiError::from(&error))
}

/// The request's body as bytes (empty when there is none; `None` when it is unreadable).
pub fn body(request: &Request) -> Option<&[u8]> {
    match request.body() {
        Body::Empty => Some(b""),
        Body::Text(text) => Some(text.as_bytes()),
        Body::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// Whether the `Content-Type`'s essence (before any `;`) is `expected`, case-insensitively.
pub fn content_type_is(request: &Request, expected: &str) -> bool {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case(expected)
}

/// The `Cookie` header, if it is text.
pub fn cookies(request: &Request) -> Option<&str> {
    request.headers().get(header::COOKIE).and_then(|v| v.to_str().ok())
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
    tracing::info_span!(
        "invocation",
        function,
        api_request_id = request_id(request),
        lambda_request_id,
        trace_id
    )
}

/// The metric record of one request, with its ids filled in (the handler adds the rest).
pub fn request_metrics<'a>(request: &'a Request, function: &'static str) -> crate::metrics::RequestMetrics<'a> {
    let (lambda_request_id, trace_id) = lambda_ids(request);
    crate::metrics::RequestMetrics {
        function,
        api_request_id: request_id(request),
        lambda_request_id,
        trace_id,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(
            vec![Origin::try_from("https://www.example.com".to_string()).unwrap()],
            "GET, POST, OPTIONS",
        )
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
        assert!(matches!(
            cors.check(&headers(&["https://www.example.com"])),
            OriginCheck::Allowed(_)
        ));
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
        assert_eq!(
            cors.check(&headers(&["https://www.example.com", "https://www.example.com"])),
            OriginCheck::Denied
        );
    }

    #[test]
    fn errors_carry_cors_and_protocol_headers() {
        let cors = cors();
        let origin = cors.check(&headers(&["https://www.example.com"]));
        let response = cors
            .error(&ApiError::new(ErrorCode::InvalidToken, "bad"), &origin)
            .into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://www.example.com"
        );
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let unavailable = cors.error(&ApiError::unavailable(), &origin).into_response();
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
            let response = cors.error(&ApiError::from(error), &origin).into_response();
            assert_eq!(response.status(), 400);
            assert_eq!(
                response.headers()[header::WWW_AUTHENTICATE],
                "Bearer error=\"invalid_request\""
            );
            assert_eq!(
                response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                "https://www.example.com"
            );
        }
        let body_error = cors
            .error(
                &ApiError::new(ErrorCode::InvalidRequest, "the request body must be a JSON object"),
                &origin,
            )
            .into_response();
        assert_eq!(body_error.status(), 400);
        assert!(
            !body_error.headers().contains_key(header::WWW_AUTHENTICATE),
            "control: not about credentials"
        );
        let required = cors
            .error(&ApiError::new(ErrorCode::OriginRequired, "x"), &OriginCheck::Absent)
            .into_response();
        assert_eq!(
            (required.status().as_u16(), ErrorCode::OriginRequired.as_str()),
            (403, "origin_required")
        );
    }

    #[test]
    fn bearer_parsing_is_strict() {
        let ok = HeaderValue::from_static("Bearer abc.def.ghi");
        assert_eq!(parse_bearer(&ok), Ok("abc.def.ghi"));
        assert_eq!(parse_bearer(&HeaderValue::from_static("bearer abc")), Ok("abc"));
        for bad in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearerabc",
        ] {
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
        assert_eq!(
            rows,
            (0..IDENTITY_ERROR_ROWS).collect(),
            "one instance of every variant"
        );
        for error in every_variant {
            let (_, status, code) = expected_answer(&error);
            let answer = ApiError::from(error.clone());
            assert_eq!(
                (answer.code.status().as_u16(), answer.code.as_str()),
                (status, code),
                "{error:?}"
            );
        }
    }
}
