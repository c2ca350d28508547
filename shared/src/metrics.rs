//! CloudWatch metrics: one Embedded Metric Format (EMF) record per request, written as a log line.
//!
//! Lambda sends stdout to CloudWatch Logs, which turns any line that is a JSON object with an
//! `_aws` member into metrics (no API call, no agent, nothing on the request path but one line).
//! The record goes through the same `tracing` subscriber as every log line (target
//! [`EMF_TARGET`], written verbatim by the `logging` subscriber), so the local run and the tests see it
//! exactly where they see the logs.
//!
//! Dimensions are bounded on purpose (each distinct value is a new CloudWatch metric, billed):
//! the function name, a *configured* profile name (callers pass `None` for anything the request
//! made up) and an error code from a fixed list. No value comes from the visitor: the record holds
//! names, codes, counts and the request ids, never claims, tokens or addresses.
//!
//! Counters that happen deep in the shared crate (a Secrets Manager call, a JWKS refetch, an
//! upstream failure, a pasted key not in place) are counted through the hooks below, which add to
//! the request being measured ([`measure`]) and do nothing outside one.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::cell::Cell;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// The CloudWatch namespace of every metric unless [`NAMESPACE_VARIABLE`] names another (the
/// template's alarms and dashboard read this one).
pub const NAMESPACE: &str = "whoscalling";

/// The environment variable naming another namespace, e.g. `whoscalling/<stack>` so that two
/// stacks in one account keep their metrics apart (the template's alarms and dashboard must then
/// read the same one; the template does not set it while the configuration fills Lambda's 4 KB of
/// environment).
pub const NAMESPACE_VARIABLE: &str = "WHOSCALLING_METRICS_NAMESPACE";

/// The namespace, read once. Not security-relevant, so a missing or malformed value falls back to
/// [`NAMESPACE`] rather than stopping the function (CloudWatch allows 1-255 characters of letters,
/// digits and `.-_/#:`; anything else would void every record).
pub fn namespace() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        valid_namespace(std::env::var(NAMESPACE_VARIABLE).ok()).unwrap_or_else(|| NAMESPACE.to_string())
    })
}

fn valid_namespace(value: Option<String>) -> Option<String> {
    value.filter(|name| {
        (1..=255).contains(&name.len())
            && !name.starts_with(':')
            && !name.starts_with("AWS/")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_/#:".contains(&b))
    })
}

/// The `tracing` target whose events the `logging` subscriber writes verbatim (the EMF line itself).
pub const EMF_TARGET: &str = "whoscalling_emf";

/// What one request counted on its way (see the hooks).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Secrets Manager API calls (`GetSecretValue`, `DescribeSecret`): the cache could not answer
    /// alone (first read in a container, or the TTL passed).
    pub secret_cache_misses: u32,
    /// Fetches of the visitor identity provider's JWKS (first use, age, or an unknown `kid`).
    pub jwks_refetches: u32,
    /// Failed calls to a provider we depend on (the visitor identity provider's JWKS, the
    /// upstream login provider): transport errors, timeouts, unusable answers.
    pub upstream_failures: u32,
    /// A request failed because a key an operator must paste is not in place: the Connect widget
    /// key still holds the deployment placeholder, or a pinned (pasted-key) signing key is
    /// missing from the key set.
    pub pasted_key_missing: u32,
}

tokio::task_local! {
    static CURRENT: Cell<Counters>;
}

fn count(add: impl FnOnce(&mut Counters)) {
    let _ = CURRENT.try_with(|cell| {
        let mut counters = cell.get();
        add(&mut counters);
        cell.set(counters);
    });
}

/// Hook: the secret cache called Secrets Manager (the adapter's call counter calls it).
pub fn secret_cache_miss() {
    count(|c| c.secret_cache_misses = c.secret_cache_misses.saturating_add(1));
}

/// Hook: the identity provider's JWKS was fetched again.
pub fn jwks_refetch() {
    count(|c| c.jwks_refetches = c.jwks_refetches.saturating_add(1));
}

/// Hook: a call to a provider we depend on failed.
pub fn upstream_failure() {
    count(|c| c.upstream_failures = c.upstream_failures.saturating_add(1));
}

/// Hook: a key an operator must paste is not in place (placeholder Connect key, missing pin).
pub fn pasted_key_missing() {
    count(|c| c.pasted_key_missing = c.pasted_key_missing.saturating_add(1));
}

/// Runs `request` with fresh counters and returns what the hooks counted during it. Hooks called
/// from a task `request` spawns are not counted (none of ours spawns on the request path).
pub async fn measure<F: Future>(request: F) -> (F::Output, Counters) {
    CURRENT
        .scope(Cell::new(Counters::default()), async {
            let output = request.await;
            (output, CURRENT.with(Cell::get))
        })
        .await
}

/// One request's record.
#[derive(Debug, Clone, Default)]
pub struct RequestMetrics<'a> {
    /// The function (`mint-token`, ...), a dimension.
    pub function: &'static str,
    /// A configured profile name (never one taken from the request unchecked), a dimension.
    pub profile: Option<&'a str>,
    /// The error code answered (`invalid_token`, ...), a dimension: codes are a fixed list.
    pub error: Option<&'static str>,
    /// Tokens minted by this request (0 or 1), counted per profile.
    pub tokens_minted: u32,
    pub counters: Counters,
    /// API Gateway's request id, Lambda's request id and the X-Ray trace id: properties (searchable
    /// in Logs Insights), not dimensions.
    pub api_request_id: Option<&'a str>,
    pub lambda_request_id: Option<&'a str>,
    pub trace_id: Option<&'a str>,
}

impl RequestMetrics<'_> {
    /// The EMF line at `timestamp_ms` (milliseconds since the epoch). Each metric directive names
    /// only dimensions this record has values for: CloudWatch drops a record whose directive names
    /// a dimension missing from the root.
    ///
    /// Serialized from borrowed, typed fields in one pass: building it as a `serde_json::Value`
    /// first (a map per object, a string per key) cost as much as the rest of a warm request.
    pub fn emf_line(&self, timestamp_ms: u64) -> String {
        let namespace = namespace();
        let mut directives = Vec::with_capacity(3);
        directives.push(Directive {
            namespace,
            dimensions: [&["function"]],
            metrics: FUNCTION_METRICS,
        });
        if self.profile.is_some() {
            directives.push(Directive {
                namespace,
                dimensions: [&["function", "profile"]],
                metrics: PROFILE_METRICS,
            });
        }
        if self.error.is_some() {
            directives.push(Directive {
                namespace,
                dimensions: [&["function", "error"]],
                metrics: ERROR_METRICS,
            });
        }
        let record = EmfRecord {
            function: self.function,
            secret_cache_misses: self.counters.secret_cache_misses,
            jwks_refetches: self.counters.jwks_refetches,
            upstream_failures: self.counters.upstream_failures,
            pasted_key_missing: self.counters.pasted_key_missing,
            profile: self.profile,
            tokens_minted: self.profile.map(|_| self.tokens_minted),
            error: self.error,
            refusals: self.error.map(|_| 1),
            api_request_id: self.api_request_id,
            lambda_request_id: self.lambda_request_id,
            trace_id: self.trace_id,
            aws: Aws {
                timestamp: timestamp_ms,
                cloud_watch_metrics: &directives,
            },
        };
        // Only strings, integers and fixed names: serializing cannot fail.
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// The EMF document at `timestamp_ms`, parsed back from [`Self::emf_line`] (for tests).
    pub fn to_emf(&self, timestamp_ms: u64) -> Value {
        serde_json::from_str(&self.emf_line(timestamp_ms)).unwrap_or_default()
    }

    /// Writes the record as one log line (see the module documentation).
    pub fn emit(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let line = self.emf_line(u64::try_from(now).unwrap_or(u64::MAX));
        tracing::info!(target: EMF_TARGET, emf = line.as_str());
    }
}

/// A metric of a directive; every one is a count.
#[derive(Serialize)]
struct Metric {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Unit")]
    unit: &'static str,
}

const fn count_of(name: &'static str) -> Metric {
    Metric { name, unit: "Count" }
}

const FUNCTION_METRICS: &[Metric] = &[
    count_of("SecretCacheMisses"),
    count_of("JwksRefetches"),
    count_of("UpstreamFailures"),
    count_of("PastedKeyMissing"),
];
const PROFILE_METRICS: &[Metric] = &[count_of("TokensMinted")];
const ERROR_METRICS: &[Metric] = &[count_of("Refusals")];

#[derive(Serialize)]
struct Directive<'a> {
    #[serde(rename = "Namespace")]
    namespace: &'a str,
    #[serde(rename = "Dimensions")]
    dimensions: [&'static [&'static str]; 1],
    #[serde(rename = "Metrics")]
    metrics: &'static [Metric],
}

#[derive(Serialize)]
struct Aws<'a> {
    #[serde(rename = "Timestamp")]
    timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    cloud_watch_metrics: &'a [Directive<'a>],
}

/// The record's root: dimensions, metric values and properties, then `_aws`.
#[derive(Serialize)]
struct EmfRecord<'a> {
    function: &'a str,
    #[serde(rename = "SecretCacheMisses")]
    secret_cache_misses: u32,
    #[serde(rename = "JwksRefetches")]
    jwks_refetches: u32,
    #[serde(rename = "UpstreamFailures")]
    upstream_failures: u32,
    #[serde(rename = "PastedKeyMissing")]
    pasted_key_missing: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(rename = "TokensMinted", skip_serializing_if = "Option::is_none")]
    tokens_minted: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(rename = "Refusals", skip_serializing_if = "Option::is_none")]
    refusals: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lambda_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a document against the EMF specification's required shape, and returns the metric
    /// names with the dimension set each is published under.
    fn check_spec(document: &Value) -> Vec<(String, Vec<String>)> {
        let root = document.as_object().expect("an object");
        let aws = root["_aws"].as_object().expect("_aws is an object");
        assert!(aws["Timestamp"].is_u64(), "Timestamp is a number of milliseconds");
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics is an array");
        assert!(!directives.is_empty());
        let mut published = Vec::new();
        for directive in directives {
            assert_eq!(directive["Namespace"], namespace());
            let sets = directive["Dimensions"]
                .as_array()
                .expect("Dimensions is an array of arrays");
            assert!(!sets.is_empty());
            for set in sets {
                let set = set.as_array().expect("a dimension set is an array");
                assert!(!set.is_empty() && set.len() <= 30, "1 to 30 dimensions per set");
                for name in set {
                    let name = name.as_str().expect("dimension names are strings");
                    // "Dimension values MUST be strings" and must be present at the root.
                    assert!(
                        root.get(name).is_some_and(Value::is_string),
                        "dimension `{name}` has a string value at the root"
                    );
                }
            }
            for metric in directive["Metrics"].as_array().expect("Metrics is an array") {
                let name = metric["Name"].as_str().expect("a metric has a Name");
                assert_eq!(metric["Unit"], "Count");
                assert!(
                    root.get(name).is_some_and(Value::is_number),
                    "metric `{name}` has a number at the root"
                );
                let dims = sets[0]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect();
                published.push((name.to_string(), dims));
            }
        }
        published
    }

    fn names(published: &[(String, Vec<String>)]) -> Vec<&str> {
        published.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn a_minted_token_is_counted_per_profile_and_the_record_follows_the_spec() {
        let record = RequestMetrics {
            function: "mint-token",
            profile: Some("connect"),
            tokens_minted: 1,
            counters: Counters {
                secret_cache_misses: 2,
                ..Counters::default()
            },
            api_request_id: Some("abc="),
            lambda_request_id: Some("0b1c-lambda"),
            trace_id: Some("Root=1-5e1b4151-abcdef"),
            ..RequestMetrics::default()
        };
        let document = record.to_emf(1_700_000_000_123);
        let published = check_spec(&document);
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_123u64);
        assert!(published.contains(&("TokensMinted".into(), vec!["function".into(), "profile".into()])));
        assert!(published.contains(&("SecretCacheMisses".into(), vec!["function".into()])));
        assert!(!names(&published).contains(&"Refusals"), "no refusal on a success");
        assert_eq!(document["TokensMinted"], 1);
        assert_eq!(document["SecretCacheMisses"], 2);
        assert_eq!(document["profile"], "connect");
        assert_eq!(document["lambda_request_id"], "0b1c-lambda");
        assert_eq!(document["trace_id"], "Root=1-5e1b4151-abcdef");
    }

    #[test]
    fn a_refusal_is_counted_per_error_code_without_a_profile_dimension() {
        let record = RequestMetrics {
            function: "mint-token",
            error: Some("unknown_profile"),
            ..RequestMetrics::default()
        };
        let document = record.to_emf(1);
        let published = check_spec(&document);
        assert!(published.contains(&("Refusals".into(), vec!["function".into(), "error".into()])));
        assert!(
            !names(&published).contains(&"TokensMinted"),
            "no profile, so no per-profile metric"
        );
        assert!(
            document.get("profile").is_none(),
            "a dimension without a value would void the record"
        );
        assert_eq!(document["error"], "unknown_profile");
        assert!(document.get("lambda_request_id").is_none());
    }

    #[test]
    fn the_namespace_falls_back_unless_cloudwatch_would_accept_it() {
        assert_eq!(
            valid_namespace(Some("whoscalling/prod-chat".into())).as_deref(),
            Some("whoscalling/prod-chat")
        );
        for bad in ["", "AWS/Lambda", "with space", "quote\"", ":leading"] {
            assert_eq!(valid_namespace(Some(bad.into())), None, "{bad}");
        }
        assert_eq!(valid_namespace(None), None);
    }

    #[tokio::test]
    async fn hooks_count_inside_a_measured_request_only() {
        secret_cache_miss(); // outside: ignored, no panic
        let ((), counters) = measure(async {
            secret_cache_miss();
            secret_cache_miss();
            jwks_refetch();
            upstream_failure();
            pasted_key_missing();
        })
        .await;
        assert_eq!(
            counters,
            Counters {
                secret_cache_misses: 2,
                jwks_refetches: 1,
                upstream_failures: 1,
                pasted_key_missing: 1
            }
        );
        let ((), again) = measure(async {}).await;
        assert_eq!(again, Counters::default(), "each request starts from zero");
    }

    #[test]
    fn the_record_is_one_line_that_goes_through_the_log_subscriber_verbatim() {
        let record = RequestMetrics {
            function: "publish-keys",
            ..RequestMetrics::default()
        };
        let ((), text) = crate::logging::capture_logs(|| record.emit());
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("\"_aws\"")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let document: Value = serde_json::from_str(lines[0]).expect("the line is the EMF document itself");
        check_spec(&document);
        assert_eq!(document["function"], "publish-keys");
        assert!(
            document.get("level").is_none() && document.get("emf").is_none(),
            "not wrapped in a log event: {}",
            lines[0]
        );
    }
}
