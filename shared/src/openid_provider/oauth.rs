//! OAuth 2.0 wire rules: error codes (RFC 6749 4.1.2.1, 5.2; RFC 6750 3.1; OIDC Core 3.1.2.6),
//! parameters (each at most once, RFC 6749 3.1/3.2), client authentication (RFC 6749 2.3.1) and
//! PKCE (RFC 7636).

use std::borrow::Cow;
use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

use crate::secrets::SecretString;

/// The OAuth / OpenID error codes we answer with. Their statuses are the HTTP layer's
/// (`http::ErrorCode::OAuth`), which renders them as JSON, a redirect's `error=` or a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedResponseType,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    TemporarilyUnavailable,
    ServerError,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::AccountSelectionRequired => "account_selection_required",
            OAuthErrorCode::RequestNotSupported => "request_not_supported",
            OAuthErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::ServerError => "server_error",
        }
    }
}

/// An OAuth error. Descriptions are fixed texts or name parameters; they never quote a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
    pub fn invalid_client() -> Self {
        Self::new(OAuthErrorCode::InvalidClient, "client authentication failed")
    }
    pub fn unavailable() -> Self {
        Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; retry shortly",
        )
    }
    pub fn server_error() -> Self {
        Self::new(
            OAuthErrorCode::ServerError,
            "the service could not complete the request",
        )
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code.as_str(), "error_description": self.description})
    }
}

/// Most parameters a request may carry, and the longest value we read.
const MAX_PARAMETERS: usize = 32;
const MAX_VALUE_BYTES: usize = 2048;

/// Request parameters with each name at most once. Empty values count as omitted (RFC 6749 3.1).
#[derive(Default)]
pub struct Params(BTreeMap<String, String>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values include codes, secrets and verifiers: names only.
        f.debug_tuple("Params")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Params {
    /// From (name, value) pairs, refusing repeats, too many parameters and oversized values.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>) -> Result<Self, OAuthError> {
        let mut map = BTreeMap::new();
        for (count, (name, value)) in pairs.into_iter().enumerate() {
            if count >= MAX_PARAMETERS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if name.len() > 64 || value.len() > MAX_VALUE_BYTES {
                return Err(OAuthError::invalid_request("a parameter is too long"));
            }
            if map.insert(name.to_string(), value.to_string()).is_some() {
                return Err(OAuthError::invalid_request(match known_name(&name) {
                    Some(name) => format!("the `{name}` parameter is repeated"),
                    None => "a parameter is repeated".to_string(),
                }));
            }
        }
        map.retain(|_, value| !value.is_empty());
        Ok(Self(map))
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn from_form(body: &[u8]) -> Result<Self, OAuthError> {
        Self::from_pairs(form_urlencoded::parse(body))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the `{name}` parameter is required")))
    }
}

/// Parameter names we may quote back (never a caller-chosen string).
fn known_name(name: &str) -> Option<&'static str> {
    [
        "grant_type",
        "code",
        "redirect_uri",
        "client_id",
        "client_secret",
        "code_verifier",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "request",
        "request_uri",
        "prompt",
        "max_age",
        "access_token",
    ]
    .into_iter()
    .find(|known| *known == name)
}

/// Client credentials as presented.
pub struct PresentedClient {
    pub client_id: String,
    pub secret: SecretString,
    /// HTTP Basic (the 401 then carries `WWW-Authenticate: Basic`).
    pub basic: bool,
}

impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedClient")
            .field("client_id", &self.client_id)
            .field("basic", &self.basic)
            .finish_non_exhaustive()
    }
}

/// Client authentication from `Authorization: Basic` (`client_secret_basic`) or the form body
/// (`client_secret_post`); using both at once is refused (RFC 6749 2.3).
pub fn presented_client(authorization: Option<&[u8]>, params: &Params) -> Result<PresentedClient, OAuthError> {
    let form_secret = params.get("client_secret");
    match authorization {
        Some(header) => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let (client_id, secret) = parse_basic(header).ok_or_else(|| {
                OAuthError::new(
                    OAuthErrorCode::InvalidClient,
                    "the Authorization header is not valid HTTP Basic",
                )
            })?;
            if params.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "`client_id` differs from the authenticated client",
                ));
            }
            Ok(PresentedClient {
                client_id,
                secret,
                basic: true,
            })
        }
        None => match (params.get("client_id"), form_secret) {
            (Some(client_id), Some(secret)) => Ok(PresentedClient {
                client_id: client_id.to_string(),
                secret: SecretString::new(secret.to_string()),
                basic: false,
            }),
            _ => Err(OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "client authentication is required",
            )),
        },
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1 form-encodes both).
fn parse_basic(header: &[u8]) -> Option<(String, SecretString)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = zeroize::Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let decoded = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let id = decode(id)?;
    let secret = SecretString::new(decode(secret)?);
    (!id.is_empty()).then_some((id, secret))
}

/// RFC 7636 4.1: 43-128 characters of `[A-Za-z0-9-._~]` (verifiers and S256 challenges alike).
pub fn valid_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// OIDC Core 3.1.3.6: the left half of SHA-256 of the access token, base64url (RS256/ES256).
pub fn at_hash(access_token: &str) -> String {
    let hash = digest(&SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_omitted() {
        let error = Params::from_form(b"code=a&code=b").unwrap_err();
        assert_eq!(error.code, OAuthErrorCode::InvalidRequest);
        assert!(error.description.contains("`code`"));
        let error = Params::from_form(b"x%3Cscript%3E=a&x%3Cscript%3E=b").unwrap_err();
        assert_eq!(
            error.description, "a parameter is repeated",
            "caller-chosen names are not echoed"
        );
        let params = Params::from_form(b"code=&state=s").unwrap();
        assert_eq!((params.get("code"), params.get("state")), (None, Some("s")));
        assert!(Params::from_form(format!("code={}", "a".repeat(2049)).as_bytes()).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("p{i}=v")).collect();
        assert!(Params::from_form(many.join("&").as_bytes()).is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // openid-client and RFC 6749 2.3.1 encode; a plain secret decodes to itself.
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        let (id, secret) = parse_basic(header.as_bytes()).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("my client", "s:cret x"));
        let plain = format!("basic {}", STANDARD.encode("liveperson:abcDEF123"));
        assert_eq!(parse_basic(plain.as_bytes()).unwrap().1.expose(), "abcDEF123");
        for bad in [
            "Bearer abc",
            "Basic !!!",
            "Basic",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            assert!(parse_basic(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn client_authentication_methods_are_exclusive() {
        let header = format!("Basic {}", STANDARD.encode("puzzel:secret"));
        let both = Params::from_form(b"client_id=puzzel&client_secret=secret").unwrap();
        assert_eq!(
            presented_client(Some(header.as_bytes()), &both).unwrap_err().code,
            OAuthErrorCode::InvalidRequest
        );
        let other = Params::from_form(b"client_id=genesys").unwrap();
        assert_eq!(
            presented_client(Some(header.as_bytes()), &other).unwrap_err().code,
            OAuthErrorCode::InvalidRequest
        );
        let none = Params::from_form(b"client_id=puzzel").unwrap();
        assert_eq!(
            presented_client(None, &none).unwrap_err().code,
            OAuthErrorCode::InvalidClient
        );
        let post = presented_client(None, &both).unwrap();
        assert!(!post.basic && post.client_id == "puzzel" && post.secret.expose() == "secret");
        assert!(!format!("{post:?}").contains("secret\""));
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(valid_pkce_value(verifier));
        assert!(
            !valid_pkce_value("short") && !valid_pkce_value(&"a".repeat(129)) && !valid_pkce_value(&"a+".repeat(30))
        );
    }

    #[test]
    fn at_hash_matches_oidc_example() {
        // OpenID Connect Core, Appendix A.3 (id_token token): access token and its at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
