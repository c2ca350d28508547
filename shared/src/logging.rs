//! Structured JSON logs: one line per event, ids and outcomes only.
//!
//! What may be logged is decided at each call site (ids, profile, `kid`, secret version, outcome,
//! error code); these helpers only fix the format, the same in Lambda, the local run and tests.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber on stdout (Lambda sends stdout to CloudWatch). `RUST_LOG`
/// overrides the default `info` level.
pub fn init_json_logging() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_subscriber(std::io::stdout).try_init();
}

/// The subscriber, writing to `writer` (tests capture logs with it).
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + tracing_subscriber::util::SubscriberInitExt
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true)
        .with_writer(writer)
        .finish()
}
