//! The OpenID provider's flows, sequenced once: the authorization endpoint (with the upstream
//! login it may send the visitor through and resume from), the page-code endpoint, the token
//! endpoint and userinfo. The HTTP function only decodes a request, calls one of these and
//! renders the answer; errors stay this crate's own (`OAuthError`, `IdentityError`), mapped to the
//! wire by the HTTP layer.

use serde_json::{Map, Value, json};

use super::login::AuthorizeLogin;
use super::{Channel, ClientId, OAuthError, OAuthErrorCode, Params, ProviderService, TokenResponse, TrustedRedirect};
use crate::identity::{Credentials, IdentityError, IdentityVerifier};
use crate::values::IdentitySource;

/// The provider service with what its flows need besides: the verifier of the visitor's
/// identity and the upstream login a visitor without one is sent to (`None`: `login_required`).
pub struct OpenIdProvider {
    pub service: ProviderService,
    identity: IdentityVerifier,
    login: Option<AuthorizeLogin>,
}

/// A decoded authorization request.
pub struct AuthorizeInput<'a> {
    /// The parameters form-encoded, as received (the query, or a POST's body).
    pub form: &'a str,
    /// A GET with no query at all: with a login configured, the return from that login.
    pub bare_get: bool,
    /// The `Cookie` header (the pending request's cookie when resuming).
    pub cookies: Option<&'a str>,
    /// The visitor's credentials as presented (verified only once the request is sound).
    pub credentials: Result<Credentials<'a>, IdentityError>,
}

/// What the authorization endpoint answers.
pub enum Authorized {
    /// An error that must be shown to the visitor, never redirected (the target is not trusted).
    Page(OAuthError),
    /// A redirect: to the client with `code` or `error` (`error` says which, for the log), or to
    /// the upstream login.
    Redirect {
        location: String,
        error: Option<OAuthErrorCode>,
    },
}

/// The authorization endpoint's answer and the cookies to set with it, whichever it is.
pub struct Authorization<'p> {
    pub answer: Authorized,
    pub set_cookies: Vec<String>,
    /// The client, when it is a registered one (for logs).
    pub client: Option<&'p ClientId>,
}

impl std::fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Locations carry codes and state, cookies sealed requests: kinds and counts only.
        let answer = match &self.answer {
            Authorized::Page(error) => format!("Page({})", error.code.as_str()),
            Authorized::Redirect { error, .. } => format!("Redirect(error: {:?})", error.map(OAuthErrorCode::as_str)),
        };
        f.debug_struct("Authorization")
            .field("answer", &answer)
            .field("set_cookies", &format_args!("[{} redacted]", self.set_cookies.len()))
            .field("client", &self.client)
            .finish()
    }
}

/// Why the page-code endpoint refused.
#[derive(Debug)]
pub enum PageCodeError {
    /// The visitor's credentials did not verify.
    Identity(IdentityError),
    /// A session cookie on a request that is not a browser's CORS request.
    SessionWithoutOrigin,
    OAuth(OAuthError),
}

impl From<OAuthError> for PageCodeError {
    fn from(error: OAuthError) -> Self {
        PageCodeError::OAuth(error)
    }
}

/// A code for page JavaScript (`callback({ssoKey, redirect_uri})` for LivePerson).
pub struct PageCode {
    code: String,
    redirect_uri: String,
    expires_in: u64,
}

impl PageCode {
    pub fn body(&self) -> Value {
        json!({"ssoKey": self.code, "redirect_uri": self.redirect_uri, "expires_in": self.expires_in})
    }
}

impl std::fmt::Debug for PageCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCode")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Where an authorization with a checked request goes next.
enum Next {
    Code(super::IssuedCode),
    Login(super::login::LoginRedirect),
}

/// The longest `state` echoed back on an error redirect.
const MAX_ECHOED_STATE: usize = 1024;

impl OpenIdProvider {
    pub fn new(service: ProviderService, identity: IdentityVerifier, login: Option<AuthorizeLogin>) -> Self {
        Self {
            service,
            identity,
            login,
        }
    }

    /// `GET|POST /oauth2/authorize`. Until the client and redirect URI are trusted, errors are a
    /// page; after that they go back to the client as the protocol says. A bare GET with a login
    /// configured is the return from that login: the request waiting in the browser's cookie
    /// resumes, checked again in full, and the cookie is cleared whatever the answer.
    pub async fn authorize(&self, input: AuthorizeInput<'_>) -> Authorization<'_> {
        let resuming = self.login.as_ref().filter(|_| input.bare_get);
        let mut authorization = self.authorize_request(input, resuming).await;
        if let Some(login) = resuming {
            authorization.set_cookies.push(login.clear_cookie());
        }
        authorization
    }

    async fn authorize_request(
        &self,
        input: AuthorizeInput<'_>,
        resuming: Option<&AuthorizeLogin>,
    ) -> Authorization<'_> {
        let page = |error, client| Authorization {
            answer: Authorized::Page(error),
            set_cookies: Vec::new(),
            client,
        };
        let (params, sent_to_login_at) = match resuming {
            Some(login) => match login.resume_pending(input.cookies).await {
                Ok(resumed) => (Ok(resumed.params), Some(resumed.sent_to_login_at)),
                Err(error) => (Err(error), None),
            },
            // Re-parse the raw form: the decoded map would hide repeated parameters' order and count.
            None => (Params::from_form(input.form.as_bytes()), None),
        };
        let params = match params {
            Ok(params) => params,
            Err(error) => return page(error, None),
        };
        let client = self.service.registered_client(params.get("client_id"));
        let target = match self.service.trusted_redirect(&params, Channel::Redirect) {
            Ok(target) => target,
            Err(error) => return page(error, client),
        };
        let result = self
            .authorize_trusted(&target, &params, input, resuming, sent_to_login_at)
            .await;
        let state = params.get("state").filter(|s| s.len() <= MAX_ECHOED_STATE);
        let (answer, set_cookies) = match result {
            Ok(Next::Code(issued)) => (
                Authorized::Redirect {
                    location: self.service.redirect_location(&target, Ok(&issued), state),
                    error: None,
                },
                Vec::new(),
            ),
            Ok(Next::Login(login)) => (
                Authorized::Redirect {
                    location: login.location,
                    error: None,
                },
                vec![login.set_cookie],
            ),
            Err(error) => {
                let location = self.service.redirect_location(&target, Err(&error), state);
                (
                    Authorized::Redirect {
                        location,
                        error: Some(error.code),
                    },
                    Vec::new(),
                )
            }
        };
        Authorization {
            answer,
            set_cookies,
            client,
        }
    }

    /// A trusted target: the request's own checks, then the visitor (a code, or a login first).
    async fn authorize_trusted(
        &self,
        target: &TrustedRedirect,
        params: &Params,
        input: AuthorizeInput<'_>,
        resuming: Option<&AuthorizeLogin>,
        sent_to_login_at: Option<u64>,
    ) -> Result<Next, OAuthError> {
        let checked = self.service.check_request(target.clone(), params, Channel::Redirect)?;
        // A resumed request never starts a second login, and `prompt=none` forbids any.
        let login = self
            .login
            .as_ref()
            .filter(|_| resuming.is_none() && !checked.prompt.none);
        let visitor = match input.credentials {
            Ok(credentials) => self.identity.verify(credentials).await,
            Err(error) => Err(error),
        };
        match visitor {
            Ok(identity) => match self.service.check_login(&checked, &identity, sent_to_login_at) {
                Ok(()) => self.service.issue_code(&checked, identity).await.map(Next::Code),
                // `prompt=login`, `select_account` or an exceeded `max_age`: a fresh login cures it.
                Err(error)
                    if matches!(
                        error.code,
                        OAuthErrorCode::LoginRequired | OAuthErrorCode::AccountSelectionRequired
                    ) =>
                {
                    match login {
                        Some(login) => login.start(input.form, true).await.map(Next::Login),
                        None => Err(error),
                    }
                }
                Err(error) => Err(error),
            },
            // An identity provider outage is ours (`temporarily_unavailable`), never a login.
            Err(error) if error.is_transient() => Err(OAuthError::unavailable()),
            Err(_) => match login {
                Some(login) => login.start(input.form, false).await.map(Next::Login),
                None => Err(OAuthError::new(
                    OAuthErrorCode::LoginRequired,
                    "the visitor has no valid login",
                )),
            },
        }
    }

    /// `POST /oauth2/code`: a code for page JavaScript. `browser` says the request carried an
    /// allowed `Origin` (the ambient session cookie counts only then, as at `/token`).
    pub async fn page_code(
        &self,
        params: &Params,
        credentials: Result<Credentials<'_>, IdentityError>,
        browser: bool,
    ) -> Result<PageCode, PageCodeError> {
        let verified = match credentials {
            Ok(credentials) => self.identity.verify_with_source(credentials).await,
            Err(error) => Err(error),
        };
        let identity = match verified.map_err(PageCodeError::Identity)? {
            // The authorization endpoint is a top-level navigation, which carries no Origin on GET;
            // it answers with a redirect to a registered redirect_uri, never a readable body.
            (_, IdentitySource::Session) if !browser => return Err(PageCodeError::SessionWithoutOrigin),
            (identity, _) => identity,
        };
        let target = self.service.trusted_redirect(params, Channel::PageScript)?;
        let checked = self.service.check_request(target, params, Channel::PageScript)?;
        let issued = self.service.issue_code(&checked, identity).await?;
        Ok(PageCode {
            code: issued.code,
            redirect_uri: checked.target.redirect_uri,
            expires_in: issued.expires_in,
        })
    }

    /// `POST /oauth2/token` (RFC 6749 4.1.3): `authorization` is the raw `Authorization` header.
    pub async fn token(&self, authorization: Option<&[u8]>, params: &Params) -> Result<TokenResponse, OAuthError> {
        self.service.exchange(authorization, params).await
    }

    /// `GET|POST /oauth2/userinfo`: the grant's claims for a valid access token.
    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, OAuthError> {
        self.service.userinfo(access_token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_flow_answers_names_no_code_location_or_cookie() {
        let authorization = Authorization {
            answer: Authorized::Redirect {
                location: "https://chat.example.com/cb?code=SECRETCODE&state=STATEVALUE".into(),
                error: None,
            },
            set_cookies: vec!["whoscalling_authorize=SEALEDREQUEST".into()],
            client: None,
        };
        let page_code = PageCode {
            code: "SECRETCODE".into(),
            redirect_uri: "https://chat.example.com/cb".into(),
            expires_in: 60,
        };
        for printed in [format!("{authorization:?}"), format!("{page_code:?}")] {
            for secret in ["SECRETCODE", "STATEVALUE", "SEALEDREQUEST", "chat.example.com"] {
                assert!(!printed.contains(secret), "{printed}");
            }
        }
    }
}
