//! Upgrade detector for lambda_http (not coverage of our code): inputs the fuzzer found that make
//! lambda_http's event decoder (upstream, before our handler) panic instead of returning an
//! error. API Gateway never produces them (it validates the Host and base64-encodes bodies
//! itself), so they are not reachable in a deployment; they are kept here so an upgrade that
//! fixes or changes the decoder is noticed, and so our handler is known never to see them.

use whoscalling_tests::workspace_root;

fn decode(text: &str) -> Result<lambda_http::Request, String> {
    let text = text.to_string();
    std::panic::catch_unwind(move || lambda_http::request::from_str(&text).map_err(|e| e.to_string()))
        .unwrap_or_else(|_| Err("the decoder panicked".to_string()))
}

#[test]
fn upgrade_detector_lambda_http_decoder_refuses_malformed_events() {
    let host =
        std::fs::read_to_string(workspace_root().join("tests/fixtures/upstream-decoder-panic-host.json")).unwrap();
    assert!(decode(&host).is_err(), "a Host that is not a URL host");
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events/mint-token/valid-authorizer-post.json")).unwrap(),
    )
    .unwrap();
    event["isBase64Encoded"] = serde_json::json!(true);
    event["body"] = serde_json::json!("not base64 !!!");
    assert!(decode(&event.to_string()).is_err(), "a body marked base64 that is not");
    // The control: the sample event itself decodes.
    event["isBase64Encoded"] = serde_json::json!(false);
    event["body"] = serde_json::json!("{}");
    assert!(decode(&event.to_string()).is_ok());
}
