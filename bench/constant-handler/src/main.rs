//! Cold-start baseline: a `lambda_http` handler that answers a constant, built with the same
//! release profile as the functions, so `scripts/coldstart` can tell the runtime's share of a
//! cold start (process, tokio, the Runtime API client, event decoding) from ours.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: Request| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"data":"constant"}"#))
            .map_err(Error::from)
    }))
    .await
}
