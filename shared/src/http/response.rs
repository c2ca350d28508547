//! The one response builder every handler answers with (no-store JSON, OAuth error JSON,
//! redirects with cookies, public documents, HTML error pages, `Retry-After` on 503), and the
//! one invocation wrapper (span, metrics, emit) every HTTP function's handler is a call to.

use std::future::Future;

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderName, HeaderValue};
use lambda_http::{Body, Request, Response};
use tracing::Instrument;

use super::error::{ApiError, ErrorCode};
use super::{Cors, OriginCheck, invocation_span};
use crate::metrics::{self, RequestMetrics};

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECONDS: u32 = 5;

/// A response under construction. Handlers never build a `Response` themselves.
pub struct Reply(Response<Body>);

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies carry tokens and codes, headers cookies and locations: the status only.
        f.debug_struct("Reply")
            .field("status", &self.0.status().as_u16())
            .finish_non_exhaustive()
    }
}

impl Reply {
    fn new(status: StatusCode, body: Body) -> Self {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        Self(response)
    }

    /// A JSON answer that must not be cached (tokens, codes, claims, errors).
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        Self::new(status, Body::Text(body.to_string()))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache")
    }

    /// `{"error": code, "error_description": ...}` at the code's status, `Retry-After` on 503.
    pub fn error(error: &ApiError) -> Self {
        Self::json(error.status(), &error.body()).retry_after_if_unavailable(error.code)
    }

    /// A public document that caches may keep (`cache_control` says how long).
    pub fn public(content_type: &'static str, body: String, cache_control: HeaderValue) -> Self {
        Self::new(StatusCode::OK, Body::Text(body))
            .header(header::CONTENT_TYPE, content_type)
            .value(header::CACHE_CONTROL, cache_control)
    }

    /// `302 Found` to `location` with the cookies to set. The location may carry a code: it is
    /// not cached and not leaked to the next page through `Referer`.
    pub fn redirect<'c>(location: &str, set_cookies: impl IntoIterator<Item = &'c str>) -> Self {
        let mut reply = Self::new(StatusCode::FOUND, Body::Empty);
        if let Ok(value) = HeaderValue::from_str(location) {
            reply.0.headers_mut().insert(header::LOCATION, value);
        }
        let reply = reply
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::REFERRER_POLICY, "no-referrer");
        set_cookies.into_iter().fold(reply, Self::cookie)
    }

    /// A small HTML page for errors a browser shows the visitor (a sign-in that cannot
    /// continue): the title, the description and the machine-readable code; nothing loads,
    /// nothing frames it. `Retry-After` on 503.
    pub fn error_page(error: &ApiError, title: &str) -> Self {
        let escape = |text: &str| {
            text.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{}</p><p>Error code: <code>{}</code></p></body></html>",
            escape(&error.description),
            escape(error.code.as_str()),
            title = escape(title),
        );
        Self::new(error.status(), Body::Text(html))
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'")
            .header(header::X_FRAME_OPTIONS, "DENY")
            .retry_after_if_unavailable(error.code)
    }

    /// An empty answer (a CORS preflight).
    pub fn empty(status: StatusCode) -> Self {
        Self::new(status, Body::Empty)
    }

    /// Sets a header to a fixed value (replacing any earlier one).
    pub fn header(self, name: HeaderName, value: &'static str) -> Self {
        self.value(name, HeaderValue::from_static(value))
    }

    fn value(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers_mut().insert(name, value);
        self
    }

    /// Adds a `Set-Cookie` (a cookie that is not a valid header value is left out).
    pub fn cookie(mut self, set_cookie: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(set_cookie) {
            self.0.headers_mut().append(header::SET_COOKIE, value);
        }
        self
    }

    /// The CORS headers for this request's origin (on errors too, or the browser hides them).
    pub fn cors(mut self, cors: &Cors, origin: &OriginCheck) -> Self {
        cors.decorate(self.0.headers_mut(), origin);
        self
    }

    fn retry_after_if_unavailable(self, code: ErrorCode) -> Self {
        match code {
            ErrorCode::TemporarilyUnavailable
            | ErrorCode::OAuth(crate::openid_provider::OAuthErrorCode::TemporarilyUnavailable) => {
                self.value(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS))
            }
            _ => self,
        }
    }

    pub fn status(&self) -> u16 {
        self.0.status().as_u16()
    }

    pub fn into_response(self) -> Response<Body> {
        self.0
    }

    /// The bare token as the body (`application/jwt`, not cached), for a page that hands the
    /// response text as is to its widget (Dynamics 365's `getAuthenticationToken`).
    pub fn jwt(token: &str) -> Self {
        Self::new(StatusCode::OK, Body::Text(token.to_string()))
            .header(header::CONTENT_TYPE, "application/jwt")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache")
    }
}

impl From<Reply> for Response<Body> {
    fn from(reply: Reply) -> Self {
        reply.0
    }
}

/// One invocation of an HTTP function: `handle`'s work runs inside the invocation's span (API
/// Gateway's, Lambda's and X-Ray's ids), its metric record gets the request's counters and is
/// emitted, and its reply is the answer. Every HTTP function's `function_handler` is this call.
pub async fn serve<'r>(
    function: &'static str,
    request: &'r Request,
    handle: impl Future<Output = (Reply, RequestMetrics<'r>)>,
) -> Result<Response<Body>, lambda_http::Error> {
    let span = invocation_span(request, function);
    let ((reply, mut record), counters) = metrics::measure(handle.instrument(span)).await;
    record.counters = counters;
    record.emit();
    Ok(reply.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_reply_names_no_location_cookie_or_body() {
        let reply = Reply::redirect(
            "https://chat.example.com/cb?code=SECRETCODE&state=STATEVALUE",
            ["sid=COOKIEVALUE; HttpOnly"],
        );
        let printed = format!("{reply:?}");
        for secret in ["SECRETCODE", "STATEVALUE", "COOKIEVALUE", "chat.example.com"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("302"), "{printed}");
    }

    #[test]
    fn unavailable_errors_say_when_to_retry_and_others_do_not() {
        let page = Reply::error_page(&ApiError::unavailable(), "t").into_response();
        assert_eq!(
            (page.status().as_u16(), &page.headers()[header::RETRY_AFTER]),
            (503, &HeaderValue::from(5u32))
        );
        let oauth = ApiError::from(crate::openid_provider::OAuthError::unavailable());
        assert_eq!(Reply::error(&oauth).into_response().headers()[header::RETRY_AFTER], "5");
        let control = Reply::error(&ApiError::server_error()).into_response();
        assert_eq!(control.status().as_u16(), 500);
        assert!(
            !control.headers().contains_key(header::RETRY_AFTER),
            "control: a 500 is not retried"
        );
    }
}
