//! The one HTTP client every call to an identity provider uses (discovery, JWKS, token,
//! userinfo): no redirects, a timeout, and response bodies capped, so a slow or hostile provider
//! costs a bounded time and memory.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The most a provider's answer may weigh (discovery, JWKS, token, userinfo).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// HTTP failures of a provider call.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out")]
    Timeout,
    #[error("the response exceeds {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("transport: {0}")]
    Transport(String),
}

impl From<reqwest::Error> for FetchError {
    fn from(error: reqwest::Error) -> Self {
        // Without the URL: it may carry a query the provider considers private.
        if error.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Transport(error.without_url().to_string())
        }
    }
}

/// A client with these timeouts that follows no redirects.
pub fn client(timeout: Duration, connect_timeout: Duration) -> Result<reqwest::Client, FetchError> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The body of `response`, refused once it exceeds [`MAX_RESPONSE_BYTES`].
pub async fn capped_body(mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub type FetchFuture = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, FetchError>> + Send>>;

/// The `openidconnect` crate's HTTP client interface over `client`.
pub fn oidc_fetcher(client: reqwest::Client) -> impl Fn(openidconnect::HttpRequest) -> FetchFuture + Send + Sync {
    move |request: openidconnect::HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            let mut builder = client.request(parts.method, url).body(body);
            for (name, value) in &parts.headers {
                builder = builder.header(name, value);
            }
            let response = builder.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = capped_body(response).await?;
            let mut built = http::Response::new(body);
            *built.status_mut() = status;
            *built.headers_mut() = headers;
            Ok(built)
        })
    }
}
