//! Decoding the OpenID provider's requests at the HTTP edge: an authorization request's form
//! (query or POST body), form and JSON bodies as [`Params`], the client's `Authorization`
//! header, and the access token at userinfo (RFC 6750 2.1 and 2.2, never 2.3). Refusals are
//! `invalid_request` as the protocol asks; the flows themselves are the provider's.

use std::borrow::Cow;

use lambda_http::Request;
use lambda_http::http::Method;
use lambda_http::http::header;
use serde_json::Value;

use super::error::{ApiError, ErrorCode};
use super::{body, content_type_is, credentials};
use crate::identity::Credentials;
use crate::openid_provider::{OAuthError, Params};

const FORM: &str = "application/x-www-form-urlencoded";

/// The body, at most `max_bytes` of it.
fn bounded_body(request: &Request, max_bytes: usize) -> Result<&[u8], OAuthError> {
    let body = body(request).ok_or_else(|| OAuthError::invalid_request("unreadable request body"))?;
    if body.len() > max_bytes {
        return Err(OAuthError::invalid_request(format!(
            "the request body exceeds {max_bytes} bytes"
        )));
    }
    Ok(body)
}

/// The OpenID provider's endpoints, by the path's ending (a stage prefix may come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRoute {
    Discovery,
    Authorize,
    PageCode,
    Token,
    UserInfo,
}

impl ProviderRoute {
    pub fn of(path: &str) -> Option<Self> {
        [
            ("/.well-known/openid-configuration", ProviderRoute::Discovery),
            ("/oauth2/authorize", ProviderRoute::Authorize),
            ("/oauth2/code", ProviderRoute::PageCode),
            ("/oauth2/token", ProviderRoute::Token),
            ("/oauth2/userinfo", ProviderRoute::UserInfo),
        ]
        .into_iter()
        .find_map(|(suffix, route)| path.ends_with(suffix).then_some(route))
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderRoute::Discovery => "discovery",
            ProviderRoute::Authorize => "authorize",
            ProviderRoute::PageCode => "code",
            ProviderRoute::Token => "token",
            ProviderRoute::UserInfo => "userinfo",
        }
    }

    pub fn allows(self, method: &Method) -> bool {
        match self {
            ProviderRoute::Discovery => method == Method::GET,
            ProviderRoute::Authorize => method == Method::GET || method == Method::POST,
            ProviderRoute::PageCode => method == Method::POST || method == Method::OPTIONS,
            ProviderRoute::Token => method == Method::POST,
            ProviderRoute::UserInfo => method == Method::GET || method == Method::POST,
        }
    }

    pub fn allow_header(self) -> &'static str {
        match self {
            ProviderRoute::Discovery => "GET",
            ProviderRoute::Authorize => "GET, POST",
            ProviderRoute::PageCode => "POST, OPTIONS",
            ProviderRoute::Token => "POST",
            ProviderRoute::UserInfo => "GET, POST",
        }
    }
}

/// An authorization request's parameters, form-encoded as received: the query of a GET, or
/// (OIDC Core 3.1.2.1) the form body of a POST. They are taken from one place only: a POST with
/// a query string as well is ambiguous.
pub fn authorize_form(request: &Request, max_bytes: usize) -> Result<&str, OAuthError> {
    let query = request.uri().query().unwrap_or("");
    if request.method() != Method::POST {
        return Ok(query);
    }
    let body = bounded_body(request, max_bytes)?;
    if !content_type_is(request, FORM) {
        return Err(OAuthError::invalid_request(
            "send the authorization request as an application/x-www-form-urlencoded body",
        ));
    }
    if !query.is_empty() {
        return Err(OAuthError::invalid_request(
            "send the parameters in the body or the query string, not both",
        ));
    }
    std::str::from_utf8(body).map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))
}

/// The token endpoint's form body (parameters in a query string would end up in access logs).
pub fn form_params(request: &Request, max_bytes: usize) -> Result<Params, OAuthError> {
    let body = bounded_body(request, max_bytes)?;
    if !content_type_is(request, FORM) {
        return Err(OAuthError::invalid_request(
            "send an application/x-www-form-urlencoded body",
        ));
    }
    if request.uri().query().is_some_and(|q| !q.is_empty()) {
        return Err(OAuthError::invalid_request(
            "send the parameters in the body, not the query string",
        ));
    }
    Params::from_form(body)
}

/// The code endpoint's JSON object of string members, as parameters.
pub fn json_params(request: &Request, max_bytes: usize) -> Result<Params, ApiError> {
    let body = bounded_body(request, max_bytes)?;
    if !content_type_is(request, "application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send an application/json object",
        ));
    }
    let invalid = || {
        ApiError::from(OAuthError::invalid_request(
            "the body must be a JSON object of string members",
        ))
    };
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid());
    };
    let mut pairs = Vec::with_capacity(members.len());
    for (name, value) in members {
        let Value::String(value) = value else {
            return Err(invalid());
        };
        pairs.push((Cow::Owned(name), Cow::Owned(value)));
    }
    Ok(Params::from_pairs(pairs)?)
}

/// The raw `Authorization` header for client authentication (at most one).
pub fn client_authorization(request: &Request) -> Result<Option<&[u8]>, OAuthError> {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.as_bytes())),
        _ => Err(OAuthError::invalid_request("send one Authorization header")),
    }
}

/// The access token at userinfo: `Authorization: Bearer` (RFC 6750 2.1) or, on a POST,
/// `access_token` in a form body (2.2; pyoidc's default). Never in the query string (2.3: it
/// ends up in access logs), and never two ways at once. `Ok(None)`: no token at all.
pub fn access_token(request: &Request, max_bytes: usize) -> Result<Option<String>, OAuthError> {
    // From the raw URI too: API Gateway's decoded parameters are not there for every caller.
    let query = request.uri().query().unwrap_or("");
    if form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token") {
        return Err(OAuthError::invalid_request(
            "send the access token as `Authorization: Bearer` or in a form body, never in the URL",
        ));
    }
    let Ok(Credentials { bearer, .. }) = credentials(request) else {
        return Err(OAuthError::invalid_request(
            "send the access token once, as `Authorization: Bearer` or in a form body",
        ));
    };
    match (bearer, form_token(request, max_bytes)?) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the access token one way, not two")),
        (Some(token), None) => Ok(Some(token.to_string())),
        (None, body) => Ok(body),
    }
}

/// RFC 6750 2.2: `access_token` in a form-encoded POST body. Other bodies carry no token.
fn form_token(request: &Request, max_bytes: usize) -> Result<Option<String>, OAuthError> {
    if request.method() != Method::POST || !content_type_is(request, FORM) {
        return Ok(None);
    }
    let params = Params::from_form(bounded_body(request, max_bytes)?)?;
    Ok(params.get("access_token").map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: [ProviderRoute; 5] = [
        ProviderRoute::Discovery,
        ProviderRoute::Authorize,
        ProviderRoute::PageCode,
        ProviderRoute::Token,
        ProviderRoute::UserInfo,
    ];

    #[test]
    fn each_route_is_found_behind_a_stage_prefix_and_nothing_else_is() {
        for (path, route) in [
            ("/.well-known/openid-configuration", ProviderRoute::Discovery),
            ("/prod/oauth2/authorize", ProviderRoute::Authorize),
            ("/oauth2/code", ProviderRoute::PageCode),
            ("/v1/oauth2/token", ProviderRoute::Token),
            ("/oauth2/userinfo", ProviderRoute::UserInfo),
        ] {
            assert_eq!(ProviderRoute::of(path), Some(route), "{path}");
        }
        for path in ["/", "/oauth2", "/oauth2/token/", "/oauth2/tokens", "/token/connect"] {
            assert_eq!(ProviderRoute::of(path), None, "{path}");
        }
    }

    #[test]
    fn the_allow_header_lists_exactly_the_methods_a_route_takes() {
        let methods = [
            Method::GET,
            Method::POST,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::HEAD,
        ];
        for route in ROUTES {
            let listed: Vec<&str> = route.allow_header().split(", ").collect();
            for method in &methods {
                assert_eq!(
                    route.allows(method),
                    listed.contains(&method.as_str()),
                    "{} {method}",
                    route.name()
                );
            }
        }
    }
}
