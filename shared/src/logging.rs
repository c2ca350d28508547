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

/// Log capture for this crate's unit tests: one process-wide subscriber writing to a buffer of
/// the calling thread. A scoped subscriber per test (`with_default`) is not enough: a callsite
/// first reached by a parallel test with no subscriber can cache "never enabled" while the scoped
/// one is being set up, and the capturing test then misses the line.
#[cfg(test)]
pub(crate) fn capture_logs<R>(run: impl FnOnce() -> R) -> (R, String) {
    use std::cell::RefCell;
    use std::sync::OnceLock;
    use tracing_subscriber::util::SubscriberInitExt;

    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    struct ThreadBuffer;
    impl std::io::Write for ThreadBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            BUFFER.with(|buffer| buffer.borrow_mut().extend_from_slice(bytes));
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = json_subscriber(|| ThreadBuffer).try_init();
    });
    BUFFER.with(|buffer| buffer.borrow_mut().clear());
    let result = run();
    let text = BUFFER.with(|buffer| String::from_utf8_lossy(&buffer.borrow()).into_owned());
    (result, text)
}
