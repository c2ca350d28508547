//! The one HTTP client every call to an identity provider uses (discovery, JWKS, token,
//! userinfo): no redirects, a timeout, and response bodies capped, so a slow or hostile provider
//! costs a bounded time and memory.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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

/// The client: hyper over rustls (aws-lc-rs, the system's trust roots), the HTTP/TLS stack the
/// AWS SDK's clients use too (see `sdk_http`), so the functions carry one. Cheap to clone (one
/// connection pool).
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The whole exchange: connect, send, and the last byte of the body.
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The TLS client configuration every connection of the process shares: rustls over aws-lc-rs
/// with the system's trust roots (see [`super::trust_roots`]), TLS 1.2 and 1.3, HTTP/1.1.
pub fn tls_config() -> Result<rustls::ClientConfig, FetchError> {
    let roots = super::trust_roots::system_roots()
        .map_err(|error| FetchError::Transport(format!("no trust roots: {error}")))?;
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| FetchError::Transport(format!("TLS configuration: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(config)
}

/// An HTTPS (and, for loopback endpoints, HTTP) connector over [`tls_config`] that gives up
/// connecting after `connect_timeout`.
pub fn https_connector(connect_timeout: Option<Duration>) -> Result<HttpsConnector<HttpConnector>, FetchError> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(connect_timeout);
    connector.enforce_http(false);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config()?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector))
}

/// A client with these timeouts that follows no redirects (hyper never does). HTTP as well as
/// HTTPS: the configuration allows plain HTTP for loopback issuers only.
pub fn client(timeout: Duration, connect_timeout: Duration) -> Result<HttpClient, FetchError> {
    Ok(HttpClient {
        inner: Client::builder(TokioExecutor::new()).build(https_connector(Some(connect_timeout))?),
        timeout,
    })
}

impl HttpClient {
    /// `GET url`, answered within the timeout with a body of at most [`MAX_RESPONSE_BYTES`].
    pub async fn get(&self, url: &url::Url) -> Result<http::Response<Vec<u8>>, FetchError> {
        let request = http::Request::get(url.as_str())
            .body(Vec::new())
            .map_err(|_| FetchError::Transport("invalid URL".into()))?;
        self.send(request).await
    }

    /// Sends `request`; the answer (status, headers and the whole body, capped) arrives within the
    /// timeout or not at all.
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, FetchError> {
        let exchange = async {
            let response = self
                .inner
                .request(request.map(|body| Full::new(Bytes::from(body))))
                .await
                .map_err(|error| transport(&error))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<LengthLimitError>() {
                        FetchError::TooLarge
                    } else {
                        transport(error.as_ref())
                    }
                })?;
            Ok(http::Response::from_parts(parts, body.to_bytes().to_vec()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}

/// The error and its causes, without the URL (hyper's errors carry none; a query may be private).
fn transport(error: &(dyn std::error::Error + 'static)) -> FetchError {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    FetchError::Transport(message)
}

pub type FetchFuture = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, FetchError>> + Send>>;

/// The `openidconnect` crate's HTTP client interface over `client`.
pub fn oidc_fetcher(client: HttpClient) -> impl Fn(openidconnect::HttpRequest) -> FetchFuture + Send + Sync {
    move |request: openidconnect::HttpRequest| {
        let client = client.clone();
        Box::pin(async move { client.send(request).await })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback server that answers every connection with `answer(request number)` (raw bytes)
    /// after `delay`; counts the connections.
    async fn serve(
        delay: Duration,
        answer: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
    ) -> (url::Url, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let reply = answer(n);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    tokio::time::sleep(delay).await;
                    let _ = socket.write_all(&reply).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (url, count)
    }

    fn ok_with_body(length: usize) -> Vec<u8> {
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        reply.extend(std::iter::repeat_n(b'a', length));
        reply
    }

    fn test_client() -> HttpClient {
        client(Duration::from_millis(500), Duration::from_millis(500)).unwrap()
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused_and_one_at_the_cap_is_read() {
        let (url, _) = serve(Duration::ZERO, |n| ok_with_body(MAX_RESPONSE_BYTES + n)).await;
        let client = test_client();
        let at_cap = client.get(&url).await.unwrap();
        assert_eq!(at_cap.body().len(), MAX_RESPONSE_BYTES);
        for _ in 0..2 {
            assert!(matches!(client.get(&url).await, Err(FetchError::TooLarge)));
        }
        // Without a Content-Length (read until close) the cap holds too.
        let (url, _) = serve(Duration::ZERO, |_| {
            let mut reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            reply.extend(std::iter::repeat_n(b'a', MAX_RESPONSE_BYTES + 1));
            reply
        })
        .await;
        assert!(matches!(client.get(&url).await, Err(FetchError::TooLarge)));
    }

    #[tokio::test]
    async fn a_slow_answer_is_a_timeout_and_a_prompt_one_is_not() {
        let (slow, _) = serve(Duration::from_secs(5), |_| ok_with_body(2)).await;
        assert!(matches!(test_client().get(&slow).await, Err(FetchError::Timeout)));
        let (prompt, _) = serve(Duration::ZERO, |_| ok_with_body(2)).await;
        assert_eq!(test_client().get(&prompt).await.unwrap().body(), b"aa");
    }

    #[tokio::test]
    async fn redirects_are_answers_never_followed() {
        let (url, connections) = serve(Duration::ZERO, |_| {
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec()
        })
        .await;
        let response = test_client().get(&url).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::FOUND);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn https_is_tls_and_errors_do_not_carry_the_url() {
        // A plain-HTTP server behind an https URL: the TLS handshake fails (so TLS is really
        // spoken), and the error says so without the URL or its query.
        let (url, _) = serve(Duration::ZERO, |_| ok_with_body(2)).await;
        let mut https = url.clone();
        https.set_scheme("https").unwrap();
        https.set_query(Some("private=visitor-data"));
        match test_client().get(&https).await {
            Err(FetchError::Transport(message)) => {
                assert!(
                    !message.contains("visitor-data") && !message.contains("127.0.0.1"),
                    "{message}"
                );
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
        // Control: the same server over http answers.
        assert_eq!(test_client().get(&url).await.unwrap().status(), http::StatusCode::OK);
    }
}
