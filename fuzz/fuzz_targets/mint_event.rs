//! Any request the HTTP API could hand `mint-token` (method, path, Origin, Authorization,
//! Content-Type, query and body from the fuzzer's bytes, split at NULs): the real handler always
//! answers, never panics and never answers 500 (no secret-store outage here).
//!
//! The request is built directly rather than through lambda_http's event decoder: that decoder
//! panics on some events API Gateway never sends (a Host that is not a valid URL host, a body
//! marked base64 that is not); tests/tests/upgrade_detector_lambda_http.rs keeps those inputs.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use libfuzzer_sys::fuzz_target;
use whoscalling::adapters::InMemorySecretStore;
use whoscalling::{ServiceConfig, SystemClock};

fn state() -> &'static (tokio::runtime::Runtime, mint_token::Deps) {
    static STATE: OnceLock<(tokio::runtime::Runtime, mint_token::Deps)> = OnceLock::new();
    STATE.get_or_init(|| {
        let config = ServiceConfig::from_json(
            "fuzz",
            r#"{"allowed_origins": ["https://www.example.com"],
                "identity": {"sources": ["api_gateway_authorizer", "bearer_token"], "issuer": "https://idp.example.com",
                             "audiences": ["web"], "algorithms": ["RS256"], "leeway_seconds": 30,
                             "jwks_uri": "https://127.0.0.1:9/jwks", "http_timeout_seconds": 1},
                "profiles": {"connect": {"platform": "amazon-connect", "widget_id": "w", "security_key_secret": "k",
                "token_lifetime_seconds": 500, "attributes": {"firstName": {"claim": "given_name"},
                "nationalId": {"claim": "nin", "mask": "national_id"}}, "customer_id": {"claim": "sub"}}}}"#,
        )
        .expect("config");
        let secrets = Arc::new(InMemorySecretStore::with(
            "k",
            "c2FtcGxlLWNvbm5lY3Qtd2lkZ2V0LXNlY3VyaXR5LWtleQ",
        ));
        let deps = mint_token::Deps::from_config(&config, secrets, Arc::new(SystemClock)).expect("deps");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        (runtime, deps)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let method = ["GET", "POST", "OPTIONS", "PUT", "DELETE"][next().len() % 5];
    let path = next();
    let (origin, authorization, content_type, query, body) = (next(), next(), next(), next(), next());
    let uri = format!("/token/{}{}{}", path, if query.is_empty() { "" } else { "?" }, query);
    let mut builder = lambda_http::http::Request::builder().method(method).uri(uri.as_str());
    for (name, value) in [
        ("origin", &origin),
        ("authorization", &authorization),
        ("content-type", &content_type),
    ] {
        if !value.is_empty() {
            builder = builder.header(name, value.as_str());
        }
    }
    let Ok(request) = builder.body(if body.is_empty() { Body::Empty } else { Body::Text(body) }) else {
        return;
    };
    let query_map: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let request = request
        .with_request_context(RequestContext::ApiGatewayV2(ApiGatewayV2httpRequestContext::default()))
        .with_path_parameters(HashMap::from([("profile".to_string(), path)]))
        .with_query_string_parameters(query_map);
    let (runtime, deps) = state();
    let response = runtime
        .block_on(mint_token::function_handler(deps, request))
        .expect("the handler answers");
    assert_ne!(response.status().as_u16(), 500, "a caller's input must not cause a 500");
});
