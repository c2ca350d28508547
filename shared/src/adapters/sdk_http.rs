//! The AWS SDK's HTTP client: the functions' one hyper/rustls stack (see `http_client`), so the
//! SDK links neither its own TLS set-up nor HTTP/2, and reads the trust roots the way we do.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::http_client::{FetchError, https_connector};

/// The SDK client every AWS client of the process shares: one connection pool per timeout
/// setting (in practice one), built on the SDK's first request.
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient::default())
}

/// The timeouts a connector is built for: connect, and read (to the response's head).
type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default)]
struct SdkHttpClient {
    /// Connectors by timeouts: the SDK asks per operation and expects the client to cache them,
    /// or every request would open a new pool.
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for SdkHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key: Timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(known, _)| *known == key) {
            return connector.clone();
        }
        let connector = match https_connector(key.0) {
            Ok(https) => SharedHttpConnector::new(Connector {
                client: Client::builder(TokioExecutor::new())
                    // Idle connections are closed on hyper's default schedule (the timer is
                    // what enforces it); Lambda freezes a container between requests.
                    .pool_timer(TokioTimer::new())
                    .build(https),
                read_timeout: key.1,
            }),
            // No trust roots: every request fails with the reason (the SDK's error names it).
            Err(error) => SharedHttpConnector::new(Unusable(Arc::new(error))),
        };
        connectors.push((key, connector.clone()));
        connector
    }
}

#[derive(Debug, Clone)]
struct Connector {
    client: Client<HttpsConnector<TcpConnector>, SdkBody>,
    /// From sending the request to the response's head.
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into()))),
        };
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => response.await,
            }
            .map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// Sorts hyper's errors as the SDK's retry strategy expects (as the SDK's own client does):
/// connection failures and closed connections are I/O (retried), a truncated answer is
/// transient, a hyper timeout is a timeout, the rest is not retried.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let hyper_error = source_of::<hyper::Error>(&error);
    let kind: fn(Box<dyn Error + Send + Sync>) -> ConnectorError = match hyper_error {
        Some(hyper_error) if hyper_error.is_timeout() => ConnectorError::timeout,
        Some(hyper_error) if hyper_error.is_user() => ConnectorError::user,
        Some(hyper_error) if hyper_error.is_incomplete_message() => {
            |error| ConnectorError::other(error, Some(ErrorKind::TransientError))
        }
        Some(hyper_error) if hyper_error.is_closed() || hyper_error.is_canceled() => ConnectorError::io,
        _ if error.is_connect() || source_of::<std::io::Error>(&error).is_some() => ConnectorError::io,
        _ => |error| ConnectorError::other(error, None),
    };
    kind(error.into())
}

fn source_of<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |&error| error.source()).find_map(|error| error.downcast_ref::<E>())
}

/// The connector when no TLS configuration could be built.
#[derive(Debug)]
struct Unusable(Arc<FetchError>);

impl HttpConnector for Unusable {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        let reason = self.0.to_string();
        HttpConnectorFuture::ready(Err(ConnectorError::other(reason.into(), None)))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback server that reads a request, waits `delay`, then writes `reply` and closes.
    async fn serve(delay: Duration, reply: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    tokio::time::sleep(delay).await;
                    let _ = socket.write_all(reply).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        url
    }

    fn connector(read_timeout: Option<Duration>) -> Connector {
        Connector {
            client: Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .build(https_connector(Some(Duration::from_millis(500))).unwrap()),
            read_timeout,
        }
    }

    async fn call(connector: &Connector, url: &str) -> Result<HttpResponse, ConnectorError> {
        connector.call(HttpRequest::get(url).unwrap()).await
    }

    #[tokio::test]
    async fn an_answer_arrives_with_its_status_headers_and_body() {
        let url = serve(
            Duration::ZERO,
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await;
        let response = call(&connector(None), &url).await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(
            response.headers().get("content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(response.body().bytes(), None, "a streaming body, read by the SDK");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"{}");
    }

    #[tokio::test]
    async fn failures_are_classified_as_the_sdk_retry_strategy_expects() {
        // Nothing listening: an I/O error (retried by the SDK).
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refused = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let error = call(&connector(None), &refused).await.unwrap_err();
        assert!(error.is_io(), "{error:?}");
        // The server closes without answering (as a stale pooled connection does): transient,
        // so retried.
        let hang_up = serve(Duration::ZERO, b"").await;
        let error = call(&connector(None), &hang_up).await.unwrap_err();
        assert_eq!(error.as_other(), Some(ErrorKind::TransientError), "{error:?}");
        // No head within the read timeout: a timeout.
        let slow = serve(Duration::from_secs(5), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let error = call(&connector(Some(Duration::from_millis(200))), &slow)
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        // Control: a prompt answer within the same timeout.
        let prompt = serve(Duration::ZERO, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let response = call(&connector(Some(Duration::from_millis(200))), &prompt)
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    #[tokio::test]
    async fn https_speaks_tls_with_the_system_roots() {
        // A plain-HTTP server behind an https URL: the handshake fails, so TLS is really spoken.
        let url = serve(Duration::ZERO, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let error = call(&connector(None), &url.replace("http://", "https://"))
            .await
            .unwrap_err();
        assert!(!error.is_user() && !error.is_timeout(), "{error:?}");
    }
}
