//! Structured JSON logs: one line per event, ids and outcomes only.
//!
//! What may be logged is decided at each call site (ids, profile, `kid`, secret version, outcome,
//! error code); these helpers only fix the format, the same in Lambda, the local run and tests.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

/// Installs the JSON subscriber on stdout (Lambda sends stdout to CloudWatch). `RUST_LOG`
/// overrides the default `info` level: a level, and `target=level` directives, comma-separated
/// (the template's `LogLevel` allows exactly these; an unreadable value means `info`).
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
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let json = tracing_subscriber::fmt::format()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true);
    tracing_subscriber::fmt()
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(EmfOrJson(json))
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .finish()
        .with(filter)
}

/// The filter `RUST_LOG` asks for, metric records always passing.
///
/// `Targets`, not `EnvFilter`: the same directives without span and field filters, which nothing
/// here uses, and without the regex engine they link (about 0.3 MB of every binary).
fn log_filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
        .with_target(crate::metrics::EMF_TARGET, LevelFilter::INFO)
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

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn rust_log_directives_select_levels_by_target_and_metrics_always_pass() {
        let emf = crate::metrics::EMF_TARGET;
        for (rust_log, target, level, enabled) in [
            (None, "mint_token", Level::INFO, true),
            (None, "mint_token", Level::DEBUG, false),
            (Some("info"), "whoscalling::adapters", Level::INFO, true),
            (Some("warn"), "whoscalling::adapters", Level::INFO, false),
            (Some("warn"), "whoscalling::adapters", Level::WARN, true),
            (Some("warn"), emf, Level::INFO, true),
            (Some("error"), emf, Level::INFO, true),
            (Some("warn,mint_token=debug"), "mint_token", Level::DEBUG, true),
            (Some("warn,mint_token=debug"), "mint_token::deps", Level::DEBUG, true),
            (Some("warn,mint_token=debug"), "whoscalling", Level::INFO, false),
            (Some("off"), "mint_token", Level::ERROR, false),
            (Some("off"), emf, Level::INFO, true),
            // Not a directive list, or empty: the default.
            (Some("mint_token=loud"), "mint_token", Level::INFO, true),
            (Some("mint_token=loud"), "mint_token", Level::DEBUG, false),
            (Some(""), "mint_token", Level::INFO, true),
        ] {
            assert_eq!(
                log_filter(rust_log).would_enable(target, &level),
                enabled,
                "RUST_LOG={rust_log:?}: {target} at {level}"
            );
        }
    }
}
