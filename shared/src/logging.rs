//! Structured JSON logs: one line per event, ids and outcomes only.
//!
//! What may be logged is decided at each call site (ids, profile, `kid`, secret version, outcome,
//! error code); these helpers only fix the format, the same in Lambda, the local run and tests.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Installs the JSON subscriber on stdout (Lambda sends stdout to CloudWatch). `RUST_LOG`
/// overrides the default `info` level.
pub fn init_json_logging() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_subscriber(std::io::stdout).try_init();
}

/// The subscriber, writing to `writer` (tests capture logs with it). Events of
/// [`crate::metrics::EMF_TARGET`] are written as their `emf` field alone, so CloudWatch sees the
/// metric record at the root of the line; they pass whatever `RUST_LOG` says (metrics are not
/// chatter). The current span's fields (Lambda's request id and the X-Ray trace id, see
/// the HTTP layer's `invocation_span`) go with every line.
pub fn json_subscriber<W>(
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + tracing_subscriber::util::SubscriberInitExt
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(directive) = format!("{}=info", crate::metrics::EMF_TARGET).parse() {
        filter = filter.add_directive(directive);
    }
    let json = tracing_subscriber::fmt::format()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true);
    tracing_subscriber::fmt()
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(EmfOrJson(json))
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// The JSON log format, except for metric records (see [`json_subscriber`]).
struct EmfOrJson<F>(F);

impl<S, N, F> FormatEvent<S, N> for EmfOrJson<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        if event.metadata().target() == crate::metrics::EMF_TARGET {
            struct Line(Option<String>);
            impl tracing::field::Visit for Line {
                fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                    if field.name() == "emf" {
                        self.0 = Some(value.to_string());
                    }
                }
                fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
            }
            let mut line = Line(None);
            event.record(&mut line);
            if let Some(line) = line.0 {
                return writeln!(writer, "{line}");
            }
        }
        self.0.format_event(context, writer, event)
    }
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
